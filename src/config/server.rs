//! Listening, logging and shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::ConfigError;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The server-wide flags.
#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    /// Address gRPC listens on; port 0 picks a free port.
    #[arg(long, env = "STREAMGATE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Log format (the level comes from RUST_LOG, default `info`).
    #[arg(long, env = "STREAMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long unary calls in flight get to finish after SIGINT/SIGTERM (open streams are
    /// ended at once with UNAVAILABLE).
    #[arg(long, env = "STREAMGATE_SHUTDOWN_GRACE", value_parser = humantime::parse_duration, default_value = "5s")]
    pub shutdown_grace: Duration,
}

/// The checked server-wide settings.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Where gRPC listens.
    pub listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Time unary calls get after a stop signal; at least 1 ms, so a zero grace still lets
    /// the server's own shutdown bookkeeping run.
    pub shutdown_grace: Duration,
}

impl ServerArgs {
    pub(super) fn settings(&self) -> Result<ServerSettings, ConfigError> {
        Ok(ServerSettings {
            listen: self.listen,
            log_format: self.log_format,
            shutdown_grace: self.shutdown_grace.max(Duration::from_millis(1)),
        })
    }
}
