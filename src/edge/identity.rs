//! What a call presents to prove who it is: a bearer token in the `authorization` metadata
//! and/or the client certificate the TLS handshake verified. The token is kept only as long
//! as the lookup needs it and never printed ([`Credentials`] has no `Debug` that shows it).

use std::fmt;

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// A call's credentials, borrowed from its request.
pub struct Credentials<'a> {
    /// The `authorization` metadata, if any (`Bearer <token>` expected).
    pub authorization: Option<&'a [u8]>,
    /// The verified client certificate chain, leaf first, if the connection has one.
    pub peer_certs: Option<&'a [CertificateDer<'static>]>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .field("peer_certs", &self.peer_certs.map(<[_]>::len))
            .finish()
    }
}

/// Why an `authorization` value is not a bearer token (the value itself is never echoed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotBearer;

impl fmt::Display for NotBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the authorization metadata is not `Bearer <token>`")
    }
}

/// The token of an `authorization: Bearer <token>` value (scheme case-insensitive, RFC 6750
/// §2.1), or `NotBearer` for anything else (another scheme, no token, not text).
pub(crate) fn bearer_token(value: &[u8]) -> Result<&str, NotBearer> {
    let value = std::str::from_utf8(value).map_err(|_| NotBearer)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(NotBearer);
    }
    Ok(token)
}

/// One identity a client certificate proves, by where it was found. DNS names and CNs
/// compare case-insensitively (DNS is case-insensitive); URIs (SPIFFE IDs) compare exactly, as
/// the SPIFFE spec asks: `spiffe://corp/Billing` and `spiffe://corp/billing` are two
/// workloads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CertIdentity {
    /// A SAN DNS name.
    Dns(String),
    /// A SAN URI.
    Uri(String),
    /// A subject CN (only from a certificate with no SAN extension at all).
    Cn(String),
}

impl CertIdentity {
    /// The text as the certificate has it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Dns(s) | Self::Uri(s) | Self::Cn(s) => s,
        }
    }
}

/// The identities of a client certificate: its SAN DNS names and URIs (SPIFFE IDs), or, only
/// when it has no SAN extension at all, its subject CNs (RFC 6125 §6.4.4: a certificate that
/// carries SANs is identified by them; falling back to the CN when the SANs hold only, say,
/// an IP address would let a CA-issued CN stand in for a name nobody vetted). Empty when the
/// certificate cannot be parsed (rustls verified it already, so that does not happen with a
/// real handshake) or its SAN extension is malformed.
pub(crate) fn cert_identities(leaf: &CertificateDer<'_>) -> Vec<CertIdentity> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return Vec::new();
    };
    match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(d) => Some(CertIdentity::Dns((*d).to_owned())),
                GeneralName::URI(u) => Some(CertIdentity::Uri((*u).to_owned())),
                _ => None,
            })
            .collect(),
        Ok(None) => cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(|cn| CertIdentity::Cn(cn.to_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The identities for a log line or a refusal: each quoted (escaped), by kind.
pub(crate) fn describe(ids: &[CertIdentity]) -> String {
    if ids.is_empty() {
        return "(none: no SAN DNS name or URI, and a CN counts only without SANs)".to_owned();
    }
    let parts: Vec<String> = ids
        .iter()
        .map(|id| match id {
            CertIdentity::Dns(s) => format!("DNS:{s:?}"),
            CertIdentity::Uri(s) => format!("URI:{s:?}"),
            CertIdentity::Cn(s) => format!("CN:{s:?}"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer_token(b"Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token(b"bearer  abc "), Ok("abc"));
        assert_eq!(bearer_token(b"Basic abc"), Err(NotBearer));
        assert_eq!(bearer_token(b"Bearer"), Err(NotBearer));
        assert_eq!(bearer_token(b"Bearer "), Err(NotBearer));
        assert_eq!(bearer_token(&[0xff, 0xfe]), Err(NotBearer));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = Credentials {
            authorization: Some(b"Bearer s3cret"),
            peer_certs: None,
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn garbage_is_no_identity() {
        assert!(cert_identities(&CertificateDer::from(vec![1, 2, 3])).is_empty());
    }
}
