//! Helpers for the edge tests: certificates made on the spot (rcgen), a server built with
//! the edge flags that keeps its reloader and decision counters, TLS channels, bearer
//! metadata, and the outcome of a call that should fail at the transport.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use sha2::{Digest, Sha256};
use streamgate::Decisions;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status};

use super::TestServer;

/// A certificate authority made for one test.
pub struct Ca {
    /// The CA certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
#[derive(Clone)]
pub struct CertKey {
    /// Certificate, PEM.
    pub cert: String,
    /// Private key, PEM.
    pub key: String,
}

impl Ca {
    /// A fresh self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> CertKey {
        self.leaf(
            vec![
                SanType::DnsName("localhost".try_into().expect("ia5")),
                SanType::IpAddress("127.0.0.1".parse().expect("ip")),
            ],
            None,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with these SANs (a `://` makes a URI, an IP address an IP SAN,
    /// anything else a DNS name) and, if given, this CN.
    pub fn client(&self, sans: &[&str], cn: Option<&str>) -> CertKey {
        let sans = sans
            .iter()
            .map(|s| {
                if let Ok(ip) = s.parse() {
                    return SanType::IpAddress(ip);
                }
                let ia5 = (*s).try_into().expect("ia5 SAN");
                if s.contains("://") {
                    SanType::URI(ia5)
                } else {
                    SanType::DnsName(ia5)
                }
            })
            .collect();
        self.leaf(sans, cn, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(
        &self,
        sans: Vec<SanType>,
        cn: Option<&str>,
        usage: ExtendedKeyUsagePurpose,
    ) -> CertKey {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf params");
        params.subject_alt_names = sans;
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        CertKey {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A temporary directory for PEM and policy files.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// An empty directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `name` (replacing it) and returns its path as a string for a flag.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        // Write then rename, as a deployment tool would, so a reload never reads half a file.
        let tmp = self.path(&format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).expect("write test file");
        std::fs::rename(&tmp, &path).expect("rename test file");
        path.to_str().expect("utf-8 path").to_owned()
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

/// The hex SHA-256 of a token, as `tokens_sha256` lists it.
pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TestServer {
    /// The decision counters (the server has a policy).
    pub fn decisions(&self) -> &Decisions {
        self.decisions.as_deref().expect("the server has a policy")
    }

    /// A plaintext channel (the server must not speak TLS).
    pub async fn plain_channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect in plaintext")
    }

    /// A TLS channel trusting `ca_pem`, presenting `client` if given.
    pub async fn tls_channel(
        &self,
        ca_pem: &str,
        client: Option<&CertKey>,
    ) -> Result<Channel, tonic::transport::Error> {
        tls_channel(self.addr, ca_pem, client).await
    }
}

/// A TLS channel to `addr` (server name `localhost`) trusting `ca_pem`, presenting
/// `client` if given.
pub async fn tls_channel(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<&CertKey>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert, &c.key));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

/// `msg` with `authorization: Bearer <token>`.
pub fn bearer<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    req
}

/// Asserts that a call failed below gRPC (the handshake or the connection was refused):
/// the client's transport error, never a status the server chose.
pub fn assert_transport_failure<T: std::fmt::Debug>(what: &str, res: Result<T, Status>) {
    let status = res.expect_err(&format!("{what}: the call must fail"));
    assert!(
        matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Internal
        ),
        "{what}: expected a transport failure, got {status:?}"
    );
}
