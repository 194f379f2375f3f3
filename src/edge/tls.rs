//! The server's TLS material (`--tls-cert`, `--tls-key`, `--tls-client-ca`) as a rustls
//! [`ServerConfig`] that a reload can replace: each new connection takes the config current
//! when it is accepted, connections already open keep the one they shook hands with
//! (Envoy's SDS rotation, without the control plane). TLS 1.2 and 1.3 only, ALPN `h2` and
//! `http/1.1` (gRPC-Web from HTTP/1.1-only browsers and proxies), the
//! ring provider (the one reqwest already links), client certificates required and verified
//! against the CA when one is given.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// Where the TLS material is read from (and re-read on reload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates client certificates must chain to (mutual TLS); `None`: no
    /// client certificate is asked for.
    pub client_ca: Option<PathBuf>,
}

/// TLS material that cannot be used; the message names the file and the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

impl TlsFiles {
    /// Reads and checks every file into a server config.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = read_certs(&self.cert, "--tls-cert")?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            TlsError(format!(
                "--tls-key {}: no usable PEM private key: {e}",
                self.key.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError(format!("TLS versions: {e}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca, "--tls-client-ca")? {
                    roots.add(cert).map_err(|e| {
                        TlsError(format!(
                            "--tls-client-ca {}: not a CA certificate: {e}",
                            ca.display()
                        ))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError(format!("--tls-client-ca {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            TlsError(format!(
                "--tls-cert {} with --tls-key {}: {e}",
                self.cert.display(),
                self.key.display()
            ))
        })?;
        // h2 first: rustls picks the server's first protocol the client also offers, so
        // native gRPC stays on HTTP/2; a client offering only http/1.1 (gRPC-Web through an
        // HTTP/1.1 proxy, `curl --http1.1`) still completes the handshake.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("{flag} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{flag} {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The current TLS config, replaced whole by [`TlsStore::reload`].
pub struct TlsStore {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl fmt::Debug for TlsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStore")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsStore {
    /// A store serving `initial` (already loaded from `files` by the config check).
    pub fn new(files: TlsFiles, initial: Arc<ServerConfig>) -> Self {
        Self {
            files,
            current: RwLock::new(initial),
        }
    }

    /// An acceptor with the current material, for one new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.read())
    }

    /// Re-reads every file; on any failure the current material stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = self.files.load()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn read(&self) -> Arc<ServerConfig> {
        // A poisoned lock still holds a whole Arc: the writer only ever swaps it.
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
