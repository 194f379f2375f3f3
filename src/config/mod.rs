//! The server's settings: one clap struct per service, flattened into [`Config`] (every flag
//! with an environment twin), converted once at start-up by [`Config::settings`] into typed
//! [`Settings`] whose values are known to be in range. Each service is handed only its own
//! part; nothing past the conversion re-checks a value.

mod edge;
mod fetch;
mod lock;
mod metrics;
mod sensor;
mod server;
pub(crate) mod topology;
mod trace;
mod web;
mod windows;

use std::time::Duration;

use clap::Parser;

pub(crate) use edge::{EdgeArgs, EdgeSettings};
pub(crate) use fetch::{CacheSettings, FetchArgs, FetchSettings, PagesArgs};
pub(crate) use lock::{LockArgs, LockSettings, RedisSettings};
pub(crate) use metrics::{MetricsArgs, MetricsSettings};
pub(crate) use sensor::{DEFAULT_SENSOR_MAX_STREAMS, SensorArgs, SensorSettings};
pub use server::LogFormat;
pub(crate) use server::{ServerArgs, ServerSettings};
pub(crate) use trace::{OtlpProtocol, Sampling, TraceArgs, TraceSettings};
pub(crate) use web::{AllowedOrigins, WebArgs, WebSettings};

/// Every setting of the `streamgate` server. Durations take humantime spellings (`500ms`, `10s`).
#[derive(Clone, Debug, Parser)]
#[command(
    name = "streamgate",
    version,
    about = "gRPC gateway for pooled HTTP fetches, lazy pagination, distributed locks and sensor feeds"
)]
pub struct Config {
    /// Listening, logging, shutdown.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Fetch (and the HTTP client ListPages shares).
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// ListPages.
    #[command(flatten)]
    pub pages: PagesArgs,
    /// Locks and their Redis.
    #[command(flatten)]
    pub lock: LockArgs,
    /// SensorFeed.
    #[command(flatten)]
    pub sensor: SensorArgs,
    /// Browsers: gRPC-Web's cross-origin permission.
    #[command(flatten)]
    pub web: WebArgs,
    /// The metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// TLS, callers and policy.
    #[command(flatten)]
    pub edge: EdgeArgs,
    /// OTLP trace export.
    #[command(flatten)]
    pub trace: TraceArgs,
}

/// The checked settings, one part per service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listening, logging, shutdown.
    pub server: ServerSettings,
    /// FetchService (Fetch and ListPages).
    pub fetch: FetchSettings,
    /// LockService.
    pub lock: LockSettings,
    /// SensorService.
    pub sensor: SensorSettings,
    /// Browsers (gRPC-Web, CORS).
    pub web: WebSettings,
    /// The metrics endpoint.
    pub metrics: MetricsSettings,
    /// TLS, callers and policy.
    pub edge: EdgeSettings,
    /// OTLP trace export; `None` = off.
    pub trace: Option<TraceSettings>,
}

/// A setting out of range; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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

    /// Checks the values clap cannot check alone and converts them into typed settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let server = self.server.settings()?;
        Ok(Settings {
            edge: self.edge.settings(server.listen)?,
            server,
            fetch: self.fetch.settings(&self.pages)?,
            lock: self.lock.settings()?,
            sensor: self.sensor.settings()?,
            web: self.web.settings()?,
            metrics: self.metrics.settings()?,
            trace: self.trace.settings()?,
        })
    }
}

/// The value parser of a count that must be at least 1: it parses straight into the count's
/// `NonZero` type, so clap's error names the flag and nothing after parsing re-checks or
/// unwraps it.
fn at_least_one<N: std::str::FromStr>(raw: &str) -> Result<N, String> {
    raw.parse::<N>()
        .map_err(|_| match raw.trim().parse::<u128>() {
            Ok(0) => "must be at least 1".to_owned(),
            Ok(_) => "is too large".to_owned(),
            Err(_) => "is not a whole number".to_owned(),
        })
}

/// The value parser of a duration that must be longer than zero (humantime spellings).
fn longer_than_zero(raw: &str) -> Result<Duration, String> {
    match humantime::parse_duration(raw) {
        Ok(d) if d.is_zero() => Err("must be longer than 0".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(args: &[&str]) -> String {
        let mut all = vec!["streamgate"];
        all.extend_from_slice(args);
        // A value out of range alone is clap's error; one out of range with another flag is
        // the settings' error. Either must name the flag.
        match Config::from_args(all) {
            Err(e) => e.to_string(),
            Ok(c) => c.settings().expect_err("the settings are refused").0,
        }
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::from_args(["streamgate"]).unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:50051");
        assert!(s.lock.redis.is_none());
        assert!(!s.fetch.allow_private_networks);
        assert_eq!(s.fetch.max_concurrency.get(), 64);
    }

    #[test]
    fn zero_concurrency_is_refused_naming_the_flag() {
        assert!(error_of(&["--fetch-max-concurrency", "0"]).contains("--fetch-max-concurrency"));
    }

    #[test]
    fn default_body_cap_above_max_is_refused() {
        let e = error_of(&[
            "--fetch-default-body-bytes",
            "100",
            "--fetch-max-body-bytes",
            "10",
        ]);
        assert!(e.contains("--fetch-default-body-bytes"), "{e}");
    }

    #[test]
    fn non_redis_url_is_refused() {
        assert!(error_of(&["--redis-url", "http://x"]).contains("--redis-url"));
    }

    #[test]
    fn every_zero_count_and_duration_is_refused_naming_its_flag() {
        for flag in [
            "fetch-max-per-host",
            "fetch-max-queue",
            "fetch-max-request-bytes",
            "pages-max-prefetch",
            "pages-max-attempts",
            "redis-pool-size",
            "lock-max-waiters",
            "sensor-max-sensors",
            "sensor-max-streams",
            "sensor-max-message-bytes",
            "sensor-buffer",
            "sensor-max-window",
            "sensor-max-samples",
            "max-connections",
            "max-streams-per-connection",
            "control-max-message-bytes",
            "max-partial-message-bytes-per-connection",
            "max-partial-message-bytes",
        ] {
            let e = error_of(&[&format!("--{flag}"), "0"]);
            assert!(e.contains(&format!("--{flag}")), "{flag}: {e}");
        }
        for flag in [
            "fetch-connect-timeout",
            "fetch-timeout",
            "redis-timeout",
            "lock-min-ttl",
            "lock-recheck",
            "handshake-timeout",
            "idle-timeout",
            "keepalive-interval",
            "keepalive-timeout",
        ] {
            let e = error_of(&[&format!("--{flag}"), "0s"]);
            assert!(e.contains(&format!("--{flag}")), "{flag}: {e}");
        }
    }

    #[test]
    fn protected_mode_refuses_a_public_address_without_a_policy() {
        for listen in ["0.0.0.0:50051", "[::]:0", "192.0.2.10:50051"] {
            let e = error_of(&["--listen", listen]);
            assert!(
                e.contains("--policy") && e.contains("--allow-anonymous"),
                "{e}"
            );
        }
        for listen in [
            "127.0.0.1:0",
            "127.8.9.10:1",
            "[::1]:0",
            "[::ffff:127.0.0.1]:0",
        ] {
            Config::from_args(["streamgate", "--listen", listen])
                .unwrap()
                .settings()
                .unwrap_or_else(|e| panic!("{listen}: {e}"));
        }
        Config::from_args(["streamgate", "--listen", "0.0.0.0:0", "--allow-anonymous"])
            .unwrap()
            .settings()
            .expect("--allow-anonymous lifts protected mode");
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let e = error_of(&["--tls-cert", "/nonexistent.pem"]);
        assert!(e.contains("--tls-cert") && e.contains("--tls-key"), "{e}");
        let e = error_of(&["--tls-key", "/nonexistent.pem"]);
        assert!(e.contains("--tls-cert") && e.contains("--tls-key"), "{e}");
        let e = error_of(&["--tls-client-ca", "/nonexistent.pem"]);
        assert!(e.contains("--tls-client-ca"), "{e}");
        let e = error_of(&[
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.pem",
        ]);
        assert!(e.contains("--tls-cert /nonexistent.pem"), "{e}");
    }

    #[test]
    fn an_unreadable_policy_is_refused_naming_the_flag() {
        let e = error_of(&["--policy", "/nonexistent.toml"]);
        assert!(
            e.starts_with("--policy ") && e.contains("/nonexistent.toml"),
            "{e}"
        );
    }

    #[test]
    fn a_message_cap_above_what_the_server_can_hold_is_refused() {
        let e = error_of(&["--fetch-max-request-bytes", "5000000000"]);
        assert!(e.contains("--fetch-max-request-bytes"), "{e}");
    }
}
