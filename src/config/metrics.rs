//! The metrics endpoint.

use std::net::SocketAddr;

use clap::Args;

use super::ConfigError;

/// The metrics flags.
#[derive(Clone, Debug, Args)]
pub struct MetricsArgs {
    /// Address of a plain-HTTP endpoint serving `GET /metrics` in the Prometheus text format
    /// (e.g. `0.0.0.0:9090`; port 0 picks a free port). Unset: no metrics are recorded.
    #[arg(long, env = "STREAMGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The checked metrics settings.
#[derive(Clone, Debug, Default)]
pub struct MetricsSettings {
    /// Where `/metrics` is served; `None` = metrics off.
    pub listen: Option<SocketAddr>,
}

impl MetricsArgs {
    pub(super) fn settings(&self) -> Result<MetricsSettings, ConfigError> {
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
        let on = Config::from_args(["streamgate", "--metrics-listen", "0.0.0.0:9090"])
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(on.metrics.listen, Some("0.0.0.0:9090".parse().unwrap()));
        assert!(Config::from_args(["streamgate", "--metrics-listen", "nowhere"]).is_err());
    }
}
