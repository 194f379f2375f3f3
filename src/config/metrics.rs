//! The metrics endpoint.

use std::net::SocketAddr;

use clap::Args;

use super::ConfigError;
use super::edge::is_loopback;

/// The metrics flags.
#[derive(Clone, Debug, Args)]
pub struct MetricsArgs {
    /// Address of a plain-HTTP endpoint serving `GET /metrics` in the Prometheus text format
    /// (e.g. `127.0.0.1:9090`; port 0 picks a free port; a non-loopback address needs
    /// --metrics-allow-public). Unset: no metrics are recorded.
    #[arg(long, env = "STREAMGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Lets --metrics-listen be a non-loopback address. The metrics name lock names, fetched
    /// hosts and callers and have no authentication, so protected mode refuses to start
    /// otherwise; prefer a loopback address behind a scraper-side proxy.
    #[arg(long, env = "STREAMGATE_METRICS_ALLOW_PUBLIC", default_value_t = false)]
    pub metrics_allow_public: bool,
}

/// The checked metrics settings.
#[derive(Clone, Debug, Default)]
pub struct MetricsSettings {
    /// Where `/metrics` is served; `None` = metrics off.
    pub listen: Option<SocketAddr>,
}

impl MetricsArgs {
    pub(super) fn settings(&self) -> Result<MetricsSettings, ConfigError> {
        if let Some(addr) = self.metrics_listen {
            if !self.metrics_allow_public && !is_loopback(addr) {
                return Err(ConfigError(format!(
                    "protected mode: refusing --metrics-listen {addr}, which is not a loopback \
                     address: the metrics name locks, hosts and callers to anyone who reaches \
                     the port. Listen on 127.0.0.1, or add --metrics-allow-public"
                )));
            }
        }
        Ok(MetricsSettings {
            listen: self.metrics_listen,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        let off = Config::from_args(["streamgate"])
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(off.metrics.listen, None);
        let on = Config::from_args(["streamgate", "--metrics-listen", "127.0.0.1:9090"])
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(on.metrics.listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert!(Config::from_args(["streamgate", "--metrics-listen", "nowhere"]).is_err());
    }

    #[test]
    fn protected_mode_refuses_public_metrics_unless_asked() {
        for listen in ["0.0.0.0:9090", "[::]:9090", "192.0.2.1:9090"] {
            let e = Config::from_args(["streamgate", "--metrics-listen", listen])
                .unwrap()
                .settings()
                .unwrap_err()
                .0;
            assert!(e.contains("--metrics-allow-public"), "{listen}: {e}");
            let on = Config::from_args([
                "streamgate",
                "--metrics-listen",
                listen,
                "--metrics-allow-public",
            ])
            .unwrap()
            .settings()
            .unwrap();
            assert_eq!(on.metrics.listen, Some(listen.parse().unwrap()));
        }
    }
}
