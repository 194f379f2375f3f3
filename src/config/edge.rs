//! The edge: TLS, mutual TLS, the caller policy, protected mode. The files are read here,
//! once, so a server with unusable TLS material or policy never starts (exit 2); a reload
//! re-reads the same paths.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::ConfigError;
use crate::edge::{Policy, TlsFiles};

/// The edge flags.
#[derive(Clone, Debug, Args)]
pub struct EdgeArgs {
    /// PEM certificate chain (leaf first) the port serves TLS with; needs --tls-key. Unset:
    /// plaintext. SIGHUP re-reads it.
    #[arg(long, env = "STREAMGATE_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert. SIGHUP re-reads it.
    #[arg(long, env = "STREAMGATE_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate(s) for mutual TLS: a client without a certificate chaining to one
    /// of them fails the handshake. Needs --tls-cert. SIGHUP re-reads it.
    #[arg(long, env = "STREAMGATE_TLS_CLIENT_CA", value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,

    /// Caller policy (TOML): principals by bearer-token hash or client-certificate identity
    /// and what each may do. SIGHUP reloads it. Unset: every caller may do everything.
    #[arg(long, env = "STREAMGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Lets the server listen on a non-loopback address without --policy (protected mode
    /// refuses to start otherwise).
    #[arg(long, env = "STREAMGATE_ALLOW_ANONYMOUS", default_value_t = false)]
    pub allow_anonymous: bool,
}

/// The checked edge settings, with the material already loaded.
#[derive(Clone, Debug, Default)]
pub struct EdgeSettings {
    /// TLS, when --tls-cert and --tls-key are given.
    pub tls: Option<TlsSettings>,
    /// The caller policy, when --policy is given.
    pub policy: Option<PolicySettings>,
}

/// TLS files and the config loaded from them.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The files (re-read on reload).
    pub files: TlsFiles,
    /// The config loaded at start-up.
    pub config: Arc<rustls::ServerConfig>,
}

/// The policy file and the policy read from it.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// The file (re-read on reload).
    pub path: PathBuf,
    /// The policy read at start-up.
    pub policy: Arc<Policy>,
}

impl EdgeArgs {
    pub(super) fn settings(&self, listen: SocketAddr) -> Result<EdgeSettings, ConfigError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => {
                if self.tls_client_ca.is_some() {
                    return Err(ConfigError(
                        "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)"
                            .into(),
                    ));
                }
                None
            }
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                };
                let config = files.load().map_err(|e| ConfigError(e.0))?;
                Some(TlsSettings { files, config })
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError(
                    "--tls-cert and --tls-key go together: give both or neither".into(),
                ));
            }
        };
        let policy = match &self.policy {
            None => None,
            Some(path) => Some(PolicySettings {
                path: path.clone(),
                policy: Arc::new(
                    Policy::load(path, None)
                        .map_err(|e| ConfigError(format!("--policy {}", e.0)))?,
                ),
            }),
        };
        if policy.is_none() && !self.allow_anonymous && !is_loopback(listen) {
            return Err(ConfigError(format!(
                "protected mode: refusing to listen on {listen}, which is not a loopback address, \
                 without --policy: anyone who reaches the port could fetch through it and take \
                 any lock. Give --policy FILE, or --allow-anonymous to serve every caller anyway"
            )));
        }
        Ok(EdgeSettings { tls, policy })
    }
}

/// 127.0.0.0/8, ::1, and ::ffff:127.x.y.z.
pub(super) fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}
