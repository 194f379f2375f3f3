//! TLS settings and a bearer token (docs/clients.md, "TLS and tokens"): `https://` or any
//! explicit TLS setting turns TLS on, and the token is sent with every call as
//! `authorization: Bearer TOKEN` by an interceptor, only over TLS or to a loopback address.

use std::net::IpAddr;
use std::path::PathBuf;

use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::address::Address;
use crate::error::{Error, Result};

/// How a [`Client`](crate::Client) reaches the server: TLS material and a bearer token.
///
/// Every field is optional; the default is what an address alone says (plaintext, or TLS with
/// the system's roots for `https://`).
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// PEM file of the roots the server's certificate is checked against (unset: the
    /// system's). Turns TLS on.
    pub ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS; needs `key`. Turns TLS on.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Bearer token sent with every call as `authorization: Bearer TOKEN`. An empty token is
    /// no token (an empty `STREAMGATE_TOKEN` is how a shell unsets one).
    pub token: Option<String>,
}

/// The channel type every service client of a [`Client`](crate::Client) uses: the channel
/// behind the bearer-token interceptor.
pub type Transport = InterceptedService<Channel, Bearer>;

/// The interceptor adding `authorization: Bearer TOKEN` to every call (nothing without one).
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for Bearer {
    // The token is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(..)"
        } else {
            "Bearer(none)"
        })
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

fn invalid(message: String) -> Error {
    Error::new(Code::InvalidArgument, message)
}

#[cfg(feature = "tls")]
fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(format!("cannot read {what} {}: {e}", path.display())))
}

/// Whether the address's host is `localhost` or a loopback IP.
fn is_loopback(address: &Address) -> bool {
    let authority = &address.authority;
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or("", |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl ConnectOptions {
    /// Whether these options (with the address) mean TLS.
    pub(crate) fn tls(&self, address: &Address) -> bool {
        address.tls || self.ca.is_some() || self.cert.is_some()
    }

    /// The interceptor for the token; refuses a token that would travel in plaintext to a
    /// host other than loopback.
    pub(crate) fn bearer(&self, address: &Address) -> Result<Bearer> {
        let Some(token) = self.token.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(Bearer(None));
        };
        if token.chars().any(char::is_whitespace) {
            return Err(invalid("token must be without whitespace".into()));
        }
        if !self.tls(address) && !is_loopback(address) {
            return Err(invalid(format!(
                "a bearer token is sent only over TLS or to loopback, and {} is neither",
                address.authority
            )));
        }
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| invalid("token must be printable ASCII".into()))?;
        Ok(Bearer(Some(value)))
    }

    /// The TLS configuration, or `None` for plaintext.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_config(
        &self,
        address: &Address,
    ) -> Result<Option<tonic::transport::ClientTlsConfig>> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        if self.cert.is_some() != self.key.is_some() {
            return Err(invalid(
                "a client certificate needs both cert and key".into(),
            ));
        }
        if !self.tls(address) {
            return Ok(None);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(read(ca, "CA file")?)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            config = config.identity(Identity::from_pem(
                read(cert, "client certificate")?,
                read(key, "client key")?,
            ));
        }
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse;

    #[test]
    fn a_token_goes_in_plaintext_only_to_loopback() {
        let token = ConnectOptions {
            token: Some("t".into()),
            ..Default::default()
        };
        for ok in [
            "127.0.0.1:1",
            "localhost:1",
            "[::1]:1",
            "https://gate.example:443",
        ] {
            assert!(token.bearer(&parse(ok).unwrap()).is_ok(), "{ok}");
        }
        let err = token.bearer(&parse("10.0.0.1:1").unwrap()).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("only over TLS or to loopback"),
            "{err}"
        );
        let spaced = ConnectOptions {
            token: Some("a b".into()),
            ..Default::default()
        };
        assert!(spaced.bearer(&parse("127.0.0.1:1").unwrap()).is_err());
    }

    #[test]
    fn an_empty_token_is_no_token() {
        let empty = ConnectOptions {
            token: Some(String::new()),
            ..Default::default()
        };
        // Not refused even where a real token would be, and nothing is sent.
        let bearer = empty.bearer(&parse("10.0.0.1:1").unwrap()).unwrap();
        assert!(bearer.0.is_none());
    }
}
