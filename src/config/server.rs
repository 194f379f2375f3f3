//! Listening, connection and stream limits, logging and shutdown.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::windows::{DEFAULT_STREAM_WINDOW_BYTES, FlowWindows};
use super::{ConfigError, at_least_one, longer_than_zero};

/// Loopback and gRPC's customary port: nothing is exposed until the operator says so.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// Five seconds for open calls to finish, well inside Kubernetes' 30 s termination grace.
pub(super) const DEFAULT_SHUTDOWN_GRACE: &str = "5s";

/// A thousand connections, inside the usual 1,024 descriptor limit with room for upstream and
/// Redis sockets.
pub(super) const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(1_000).unwrap();

/// 256 concurrent streams per connection: above what one client multiplexes in practice,
/// bounding one peer's share.
pub(super) const DEFAULT_MAX_STREAMS_PER_CONNECTION: NonZeroU32 = NonZeroU32::new(256).unwrap();

/// `--handshake-timeout`: Envoy's edge guidance allows 10 s for a new connection's first
/// request headers, long enough for a TLS handshake over a slow mobile link, short enough that
/// silent sockets cannot hold every slot of `--max-connections`.
pub(super) const DEFAULT_HANDSHAKE_TIMEOUT: &str = "10s";

/// `--idle-timeout`: nginx's `keepalive_timeout` order of magnitude (Envoy's edge guidance
/// uses 1 h for HTTP/2 but 5 min keeps idle descriptors turning over); a client with calls
/// every few minutes keeps its connection, a forgotten one frees its slot.
pub(super) const DEFAULT_IDLE_TIMEOUT: &str = "5m";

/// `--keepalive-interval`: one HTTP/2 PING a minute on a quiet connection costs nothing and
/// finds a peer that vanished (cable pulled, NAT entry dropped) within a minute and a half,
/// instead of the kernel's 2-hour TCP keepalive.
pub(super) const DEFAULT_KEEPALIVE_INTERVAL: &str = "1m";

/// `--keepalive-timeout`: grpc-go's default wait for the PING's answer.
pub(super) const DEFAULT_KEEPALIVE_TIMEOUT: &str = "20s";

/// `--control-max-message-bytes`: the largest valid LockService, health or reflection request
/// is a 256-byte lock name, an owner and a few numbers, or a symbol name: well under 1 KiB.
/// 64 KiB leaves room for growth while a half-sent message can make the server hold 64 times
/// less than tonic's 4 MiB default.
pub(super) const DEFAULT_CONTROL_MAX_MESSAGE_BYTES: NonZeroUsize =
    NonZeroUsize::new(64 * 1024).unwrap();

/// `--max-partial-message-bytes-per-connection`: four Fetch requests of the default 4 MiB
/// limit arriving at once on one connection (Envoy's per-connection buffer limit plays the
/// same part, at 1 MiB for its edge guidance, but our messages are buffered whole).
pub(super) const DEFAULT_MAX_PARTIAL_MESSAGE_BYTES_PER_CONNECTION: NonZeroUsize =
    NonZeroUsize::new(16 << 20).unwrap();

/// `--max-partial-message-bytes`: the server-wide ceiling on the same, what the server can
/// afford to hold for callers still sending (sized for a 1 GiB container next to the
/// per-stream buffers of the services).
pub(super) const DEFAULT_MAX_PARTIAL_MESSAGE_BYTES: NonZeroUsize =
    NonZeroUsize::new(256 << 20).unwrap();

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
    #[arg(long, env = "STREAMGATE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Log format (the level comes from RUST_LOG, default `info`).
    #[arg(long, env = "STREAMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long unary calls in flight get to finish after SIGINT/SIGTERM (open streams are
    /// ended at once with UNAVAILABLE).
    #[arg(long, env = "STREAMGATE_SHUTDOWN_GRACE", value_parser = humantime::parse_duration, default_value = DEFAULT_SHUTDOWN_GRACE)]
    pub shutdown_grace: Duration,

    /// Connections served at once; a connection accepted beyond it is closed at once (the
    /// client sees the connection end and may retry), so a flood of idle connections cannot
    /// exhaust file descriptors or memory. Keep it below the process's open-file limit.
    #[arg(long, env = "STREAMGATE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_connections: NonZeroUsize,

    /// Streams one HTTP/2 connection may have open at once, advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS; a stream opened beyond it is refused with
    /// REFUSED_STREAM (clients queue or retry it).
    #[arg(
        long,
        env = "STREAMGATE_MAX_STREAMS_PER_CONNECTION",
        default_value_t = DEFAULT_MAX_STREAMS_PER_CONNECTION,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub max_streams_per_connection: NonZeroU32,

    /// How long a new connection gets from accept until its TLS handshake (if any) is done and
    /// its first request's headers have arrived, on HTTP/2 and HTTP/1.1; a connection still
    /// silent or half-way then is closed. `--tls-handshake-timeout` is an older name of it.
    #[arg(
        long,
        env = "STREAMGATE_HANDSHAKE_TIMEOUT",
        value_parser = longer_than_zero,
        default_value = DEFAULT_HANDSHAKE_TIMEOUT
    )]
    pub handshake_timeout: Duration,

    /// The older name of `--handshake-timeout`, flag and env twin both kept working for the
    /// deployments that set them; when given it is the one used.
    #[arg(
        long,
        env = "STREAMGATE_TLS_HANDSHAKE_TIMEOUT",
        value_parser = longer_than_zero,
        hide = true
    )]
    pub tls_handshake_timeout: Option<Duration>,

    /// How long a connection may stay without an open stream (call) before it is closed:
    /// HTTP/2 connections get a GOAWAY first, so their clients reconnect without failing a
    /// call. Also, once --max-connections is reached, the connection idle longest is closed to
    /// make room for a new one.
    #[arg(long, env = "STREAMGATE_IDLE_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_IDLE_TIMEOUT)]
    pub idle_timeout: Duration,

    /// Interval of the HTTP/2 PINGs sent on a connection that has been quiet that long, so a
    /// peer that vanished frees its slot.
    #[arg(long, env = "STREAMGATE_KEEPALIVE_INTERVAL", value_parser = longer_than_zero, default_value = DEFAULT_KEEPALIVE_INTERVAL)]
    pub keepalive_interval: Duration,

    /// How long a keepalive PING may go unanswered before the connection is closed.
    #[arg(long, env = "STREAMGATE_KEEPALIVE_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_KEEPALIVE_TIMEOUT)]
    pub keepalive_timeout: Duration,

    /// Largest request message LockService, health and reflection accept, in bytes; a larger
    /// one fails with RESOURCE_EXHAUSTED, naming the flag, before it is buffered. (Fetch follows
    /// --fetch-max-request-bytes, SensorFeed --sensor-max-message-bytes.)
    #[arg(long, env = "STREAMGATE_CONTROL_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_CONTROL_MAX_MESSAGE_BYTES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub control_max_message_bytes: NonZeroUsize,

    /// Bytes of request messages received in part (announced but not complete) one
    /// connection may have the server hold, over all its streams; a frame past it fails its
    /// call with RESOURCE_EXHAUSTED.
    #[arg(long, env = "STREAMGATE_MAX_PARTIAL_MESSAGE_BYTES_PER_CONNECTION", default_value_t = DEFAULT_MAX_PARTIAL_MESSAGE_BYTES_PER_CONNECTION,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_partial_message_bytes_per_connection: NonZeroUsize,

    /// The same, over every connection of the server.
    #[arg(long, env = "STREAMGATE_MAX_PARTIAL_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_PARTIAL_MESSAGE_BYTES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_partial_message_bytes: NonZeroUsize,

    /// Unread bytes one stream may send ahead of the server (HTTP/2's initial stream window).
    /// The connection window follows from it and --max-streams-per-connection, so a client
    /// sending small messages at full speed is slowed by flow control, never cut off by the
    /// HTTP/2 small-frame protection (docs/sensor.md, "Full-speed streams").
    #[arg(
        long,
        env = "STREAMGATE_STREAM_WINDOW_BYTES",
        default_value_t = DEFAULT_STREAM_WINDOW_BYTES,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub stream_window_bytes: NonZeroU32,
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
    /// Time from accept to the first request's headers (TLS handshake included).
    pub handshake_timeout: Duration,
    /// Time a connection may spend without an open stream.
    pub idle_timeout: Duration,
    /// Quiet time before an HTTP/2 keepalive PING.
    pub keepalive_interval: Duration,
    /// Time a keepalive PING may go unanswered.
    pub keepalive_timeout: Duration,
    /// Request message limit of LockService, health and reflection.
    pub control_max_message_bytes: NonZeroUsize,
    /// Bytes of messages received in part one connection may have held.
    pub max_partial_message_bytes_per_connection: NonZeroUsize,
    /// Bytes of messages received in part the whole server may hold.
    pub max_partial_message_bytes: NonZeroUsize,
    /// The HTTP/2 receive windows, sized for `max_streams_per_connection`.
    pub windows: FlowWindows,
}

impl ServerArgs {
    pub(super) fn settings(&self) -> Result<ServerSettings, ConfigError> {
        let max_streams_per_connection = self.max_streams_per_connection;
        Ok(ServerSettings {
            listen: self.listen,
            log_format: self.log_format,
            shutdown_grace: self.shutdown_grace.max(Duration::from_millis(1)),
            max_connections: self.max_connections,
            max_streams_per_connection,
            windows: FlowWindows::for_streams(
                max_streams_per_connection,
                self.stream_window_bytes,
            )?,
            handshake_timeout: self.tls_handshake_timeout.unwrap_or(self.handshake_timeout),
            idle_timeout: self.idle_timeout,
            keepalive_interval: self.keepalive_interval,
            keepalive_timeout: self.keepalive_timeout,
            control_max_message_bytes: self.control_max_message_bytes,
            max_partial_message_bytes_per_connection: self.max_partial_message_bytes_per_connection,
            max_partial_message_bytes: self.max_partial_message_bytes,
        })
    }
}
