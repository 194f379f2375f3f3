//! The server's settings: one clap struct, every flag with an environment twin, validated
//! once at start-up so that nothing past this point re-checks them.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Every setting of the `streamgate` server. Durations take humantime spellings (`500ms`, `10s`).
#[derive(Clone, Debug, Parser)]
#[command(
    name = "streamgate",
    version,
    about = "gRPC gateway for pooled HTTP fetches, lazy pagination, distributed locks and sensor feeds"
)]
pub struct Config {
    /// Address gRPC listens on; port 0 picks a free port.
    #[arg(long, env = "STREAMGATE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Redis for locks shared by every server naming it: redis:// or rediss:// (one server),
    /// redis+cluster://H:P,H:P (Redis Cluster seeds), redis+sentinel://H:P,H:P/MASTER (Sentinel);
    /// unset = locks live in this process.
    #[arg(long, env = "STREAMGATE_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Let Fetch and ListPages reach loopback, private, link-local and unique-local addresses.
    #[arg(
        long,
        env = "STREAMGATE_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false
    )]
    pub allow_private_networks: bool,

    /// Log format (the level comes from RUST_LOG, default `info`).
    #[arg(long, env = "STREAMGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long open streams get to finish after SIGINT/SIGTERM before they are ended.
    #[arg(long, env = "STREAMGATE_SHUTDOWN_GRACE", value_parser = humantime::parse_duration, default_value = "5s")]
    pub shutdown_grace: Duration,

    // ---- Fetch / ListPages ----
    /// Upstream HTTP requests in flight at once across all calls (queued calls wait, bounded
    /// by their deadline).
    #[arg(long, env = "STREAMGATE_FETCH_MAX_CONCURRENCY", default_value_t = 64)]
    pub fetch_max_concurrency: usize,

    /// Upstream HTTP requests in flight at once to one host.
    #[arg(long, env = "STREAMGATE_FETCH_MAX_PER_HOST", default_value_t = 32)]
    pub fetch_max_per_host: usize,

    /// Longest a call may wait in the concurrency queue before RESOURCE_EXHAUSTED.
    #[arg(long, env = "STREAMGATE_FETCH_QUEUE_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub fetch_queue_timeout: Duration,

    /// TCP/TLS connect timeout for upstream hosts.
    #[arg(long, env = "STREAMGATE_FETCH_CONNECT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "5s")]
    pub fetch_connect_timeout: Duration,

    /// Whole-request timeout when the request names none.
    #[arg(long, env = "STREAMGATE_FETCH_TIMEOUT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub fetch_timeout: Duration,

    /// Longest whole-request timeout a request may ask for.
    #[arg(long, env = "STREAMGATE_FETCH_MAX_TIMEOUT", value_parser = humantime::parse_duration, default_value = "5m")]
    pub fetch_max_timeout: Duration,

    /// Response body cap when the request names none (bytes).
    #[arg(long, env = "STREAMGATE_FETCH_DEFAULT_BODY_BYTES", default_value_t = 1 << 20)]
    pub fetch_default_body_bytes: u64,

    /// Largest response body cap a request may ask for (bytes).
    #[arg(long, env = "STREAMGATE_FETCH_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    pub fetch_max_body_bytes: u64,

    /// Largest request body a Fetch may send (bytes).
    #[arg(long, env = "STREAMGATE_FETCH_MAX_REQUEST_BYTES", default_value_t = 4 << 20)]
    pub fetch_max_request_bytes: usize,

    /// Redirects followed per request (each target passes the guard first).
    #[arg(long, env = "STREAMGATE_FETCH_MAX_REDIRECTS", default_value_t = 5)]
    pub fetch_max_redirects: usize,

    /// Largest `prefetch` a ListPages call may ask for.
    #[arg(long, env = "STREAMGATE_PAGES_MAX_PREFETCH", default_value_t = 8)]
    pub pages_max_prefetch: u32,

    /// Attempts per page on 429/502/503/504 and connection errors (first try included).
    #[arg(long, env = "STREAMGATE_PAGES_MAX_ATTEMPTS", default_value_t = 4)]
    pub pages_max_attempts: u32,

    /// First retry backoff; doubles per attempt, with jitter.
    #[arg(long, env = "STREAMGATE_PAGES_RETRY_BASE", value_parser = humantime::parse_duration, default_value = "100ms")]
    pub pages_retry_base: Duration,

    /// Longest single retry wait, `Retry-After` included.
    #[arg(long, env = "STREAMGATE_PAGES_RETRY_MAX", value_parser = humantime::parse_duration, default_value = "10s")]
    pub pages_retry_max: Duration,

    /// Secret that signs ListPages resume tokens, so replicas sharing it accept each other's
    /// tokens; unset = a random key per process.
    #[arg(long, env = "STREAMGATE_PAGE_TOKEN_KEY", hide_env_values = true)]
    pub page_token_key: Option<String>,

    // ---- Locks ----
    /// Prefix of every Redis key streamgate writes.
    #[arg(
        long,
        env = "STREAMGATE_LOCK_KEY_PREFIX",
        default_value = "streamgate:lock:"
    )]
    pub lock_key_prefix: String,

    /// Connections in the Redis pool.
    #[arg(long, env = "STREAMGATE_REDIS_POOL_SIZE", default_value_t = 32)]
    pub redis_pool_size: u32,

    /// Longest wait for a Redis connection or command before UNAVAILABLE.
    #[arg(long, env = "STREAMGATE_REDIS_TIMEOUT", value_parser = humantime::parse_duration, default_value = "2s")]
    pub redis_timeout: Duration,

    /// Lease when a request names none.
    #[arg(long, env = "STREAMGATE_LOCK_DEFAULT_TTL", value_parser = humantime::parse_duration, default_value = "10s")]
    pub lock_default_ttl: Duration,

    /// Shortest lease a request may ask for.
    #[arg(long, env = "STREAMGATE_LOCK_MIN_TTL", value_parser = humantime::parse_duration, default_value = "10ms")]
    pub lock_min_ttl: Duration,

    /// Longest lease a request may ask for.
    #[arg(long, env = "STREAMGATE_LOCK_MAX_TTL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub lock_max_ttl: Duration,

    /// Longest wait_timeout a request may ask for.
    #[arg(long, env = "STREAMGATE_LOCK_MAX_WAIT", value_parser = humantime::parse_duration, default_value = "1h")]
    pub lock_max_wait: Duration,

    /// Upper bound on the time a waiter sleeps between re-checks when a wake-up
    /// notification is lost.
    #[arg(long, env = "STREAMGATE_LOCK_RECHECK", value_parser = humantime::parse_duration, default_value = "1s")]
    pub lock_recheck: Duration,

    /// Waiters queued on one lock name at once; a caller beyond it gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "STREAMGATE_LOCK_MAX_WAITERS", default_value_t = 10_000)]
    pub lock_max_waiters: usize,

    // ---- SensorFeed ----
    /// Distinct sensors one SensorFeed stream may report.
    #[arg(long, env = "STREAMGATE_SENSOR_MAX_SENSORS", default_value_t = 10_000)]
    pub sensor_max_sensors: usize,

    /// Largest gRPC message accepted on SensorFeed (bytes).
    #[arg(long, env = "STREAMGATE_SENSOR_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub sensor_max_message_bytes: usize,

    /// How far in the future a reading's timestamp may be.
    #[arg(long, env = "STREAMGATE_SENSOR_MAX_FUTURE_SKEW", value_parser = humantime::parse_duration, default_value = "5s")]
    pub sensor_max_future_skew: Duration,

    /// Requests a SensorFeed stream reads per poll, and so the responses it holds before it
    /// stops reading (the client's sends then stall under HTTP/2 flow control).
    #[arg(long, env = "STREAMGATE_SENSOR_BUFFER", default_value_t = 64)]
    pub sensor_buffer: usize,

    /// Longest window (count) a FeedConfig may ask for.
    #[arg(long, env = "STREAMGATE_SENSOR_MAX_WINDOW", default_value_t = 10_000)]
    pub sensor_max_window: u32,
}

impl Config {
    /// Parses a command line (the first item is the program name), for tests and benches.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args)
    }

    /// The embedded defaults with `--listen 127.0.0.1:0 --allow-private-networks`, the usual
    /// starting point of an in-process test server.
    pub fn for_tests() -> Self {
        Self::try_parse_from([
            "streamgate",
            "--listen",
            "127.0.0.1:0",
            "--allow-private-networks",
        ])
        .expect("the built-in test arguments parse")
    }

    /// Checks the values clap cannot check alone; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        fn positive(name: &str, v: usize) -> Result<(), String> {
            if v == 0 {
                Err(format!("--{name} must be at least 1"))
            } else {
                Ok(())
            }
        }
        fn nonzero(name: &str, d: Duration) -> Result<(), String> {
            if d.is_zero() {
                Err(format!("--{name} must be longer than 0"))
            } else {
                Ok(())
            }
        }
        positive("fetch-max-concurrency", self.fetch_max_concurrency)?;
        positive("fetch-max-per-host", self.fetch_max_per_host)?;
        positive("fetch-max-request-bytes", self.fetch_max_request_bytes)?;
        positive("sensor-max-sensors", self.sensor_max_sensors)?;
        positive("sensor-max-message-bytes", self.sensor_max_message_bytes)?;
        positive("sensor-buffer", self.sensor_buffer)?;
        positive("pages-max-prefetch", self.pages_max_prefetch as usize)?;
        positive("pages-max-attempts", self.pages_max_attempts as usize)?;
        positive("redis-pool-size", self.redis_pool_size as usize)?;
        positive("lock-max-waiters", self.lock_max_waiters)?;
        nonzero("fetch-connect-timeout", self.fetch_connect_timeout)?;
        nonzero("fetch-timeout", self.fetch_timeout)?;
        nonzero("fetch-max-timeout", self.fetch_max_timeout)?;
        nonzero("redis-timeout", self.redis_timeout)?;
        nonzero("lock-min-ttl", self.lock_min_ttl)?;
        nonzero("lock-recheck", self.lock_recheck)?;
        if self.fetch_default_body_bytes == 0 {
            return Err("--fetch-default-body-bytes must be at least 1".into());
        }
        if self.fetch_default_body_bytes > self.fetch_max_body_bytes {
            return Err(format!(
                "--fetch-default-body-bytes ({}) must not exceed --fetch-max-body-bytes ({})",
                self.fetch_default_body_bytes, self.fetch_max_body_bytes
            ));
        }
        if self.fetch_timeout > self.fetch_max_timeout {
            return Err("--fetch-timeout must not exceed --fetch-max-timeout".into());
        }
        if self.lock_min_ttl > self.lock_max_ttl {
            return Err("--lock-min-ttl must not exceed --lock-max-ttl".into());
        }
        if self.lock_default_ttl < self.lock_min_ttl || self.lock_default_ttl > self.lock_max_ttl {
            return Err(
                "--lock-default-ttl must lie between --lock-min-ttl and --lock-max-ttl".into(),
            );
        }
        if let Some(url) = &self.redis_url {
            crate::lock::redis::validate_url(url)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::from_args(["streamgate"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert!(c.redis_url.is_none());
        assert!(!c.allow_private_networks);
        assert_eq!(c.fetch_max_concurrency, 64);
        c.validate().unwrap();
    }

    #[test]
    fn zero_concurrency_is_refused_naming_the_flag() {
        let c = Config::from_args(["streamgate", "--fetch-max-concurrency", "0"]).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .contains("--fetch-max-concurrency")
        );
    }

    #[test]
    fn default_body_cap_above_max_is_refused() {
        let c = Config::from_args([
            "streamgate",
            "--fetch-default-body-bytes",
            "100",
            "--fetch-max-body-bytes",
            "10",
        ])
        .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .contains("--fetch-default-body-bytes")
        );
    }

    #[test]
    fn non_redis_url_is_refused() {
        let c = Config::from_args(["streamgate", "--redis-url", "http://x"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--redis-url"));
    }
}
