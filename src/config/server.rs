//! Listening, connection and stream limits, logging and shutdown.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::windows::{DEFAULT_STREAM_WINDOW_BYTES, FlowWindows};
use super::{ConfigError, at_least_one};

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

    /// Connections served at once; a connection accepted beyond it is closed at once (the
    /// client sees the connection end and may retry), so a flood of idle connections cannot
    /// exhaust file descriptors or memory. Keep it below the process's open-file limit.
    #[arg(long, env = "STREAMGATE_MAX_CONNECTIONS", default_value_t = 1_000)]
    pub max_connections: usize,

    /// Streams one HTTP/2 connection may have open at once, advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS; a stream opened beyond it is refused with
    /// REFUSED_STREAM (clients queue or retry it).
    #[arg(
        long,
        env = "STREAMGATE_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 256
    )]
    pub max_streams_per_connection: u32,

    /// Unread bytes one stream may send ahead of the server (HTTP/2's initial stream window).
    /// The connection window follows from it and --max-streams-per-connection, so a client
    /// sending small messages at full speed is slowed by flow control, never cut off by the
    /// HTTP/2 small-frame protection (docs/sensor.md, "Full-speed streams").
    #[arg(
        long,
        env = "STREAMGATE_STREAM_WINDOW_BYTES",
        default_value_t = DEFAULT_STREAM_WINDOW_BYTES
    )]
    pub stream_window_bytes: u32,
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
    /// Connections served at once.
    pub max_connections: NonZeroUsize,
    /// Concurrent streams per HTTP/2 connection.
    pub max_streams_per_connection: NonZeroU32,
    /// The HTTP/2 receive windows, sized for `max_streams_per_connection`.
    pub windows: FlowWindows,
}

impl ServerArgs {
    pub(super) fn settings(&self) -> Result<ServerSettings, ConfigError> {
        let max_streams_per_connection = NonZeroU32::new(at_least_one(
            "max-streams-per-connection",
            self.max_streams_per_connection,
        )?)
        .expect("checked non-zero");
        Ok(ServerSettings {
            listen: self.listen,
            log_format: self.log_format,
            shutdown_grace: self.shutdown_grace.max(Duration::from_millis(1)),
            max_connections: NonZeroUsize::new(at_least_one(
                "max-connections",
                self.max_connections,
            )?)
            .expect("checked non-zero"),
            max_streams_per_connection,
            windows: FlowWindows::for_streams(
                max_streams_per_connection,
                self.stream_window_bytes,
            )?,
        })
    }
}
