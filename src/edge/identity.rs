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
pub struct NotBearer;

impl fmt::Display for NotBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the authorization metadata is not `Bearer <token>`")
    }
}

/// The token of an `authorization: Bearer <token>` value (scheme case-insensitive, RFC 6750
/// §2.1), or `NotBearer` for anything else (another scheme, no token, not text).
pub fn bearer_token(value: &[u8]) -> Result<&str, NotBearer> {
    let value = std::str::from_utf8(value).map_err(|_| NotBearer)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(NotBearer);
    }
    Ok(token)
}

/// The identities of a client certificate: its SAN DNS names and URIs (SPIFFE IDs), or, when
/// it has neither, its subject CNs. Empty when the certificate cannot be parsed (it was
/// verified by rustls already, so that does not happen with a real handshake).
pub fn cert_identities(leaf: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => ids.push((*d).to_owned()),
                GeneralName::URI(u) => ids.push((*u).to_owned()),
                _ => {}
            }
        }
    }
    if ids.is_empty() {
        ids.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_owned),
        );
    }
    ids
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
