//! OTLP trace export: where spans go, how many are kept, which calls are sampled.
//!
//! The flags win; unset, the standard OpenTelemetry variables are read
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_SERVICE_NAME`, and `OTEL_RESOURCE_ATTRIBUTES` for
//! `service.name`), so a deployment configured the way every OpenTelemetry SDK is configured
//! needs nothing streamgate-specific. Neither set: export is off.

use std::num::NonZeroUsize;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{ConfigError, at_least_one, longer_than_zero};

/// Spans waiting for export at most; the OpenTelemetry SDKs' default
/// (`OTEL_BSP_MAX_QUEUE_SIZE`). At a few hundred bytes a span, about 1 MB held while the
/// collector is away; spans beyond it are dropped and counted, never waited for.
pub(super) const DEFAULT_OTLP_MAX_QUEUE_SPANS: NonZeroUsize = NonZeroUsize::new(2048).unwrap();
/// How long one export request may take; the OTLP exporter specification's default
/// (`OTEL_EXPORTER_OTLP_TIMEOUT`). A collector slower than this counts as down for that batch.
pub(super) const DEFAULT_OTLP_EXPORT_TIMEOUT: &str = "10s";
/// How long a span may wait for a batch to fill before it is sent anyway; the SDKs' default
/// (`OTEL_BSP_SCHEDULE_DELAY`), which trades a few seconds' delay for fewer, larger requests.
pub(super) const DEFAULT_OTLP_BATCH_DELAY: &str = "5s";
/// The service name spans are reported under unless `OTEL_SERVICE_NAME` or
/// `OTEL_RESOURCE_ATTRIBUTES` says otherwise.
pub(super) const DEFAULT_SERVICE_NAME: &str = "streamgate";

/// The OTLP wire format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (a collector's port 4317).
    #[default]
    Grpc,
    /// OTLP over HTTP with binary protobuf bodies (port 4318, path `/v1/traces`).
    HttpProtobuf,
}

/// The trace export flags.
#[derive(Clone, Debug, Args)]
pub struct TraceArgs {
    /// OTLP endpoint spans are exported to (e.g. `http://otel-collector:4317`; for
    /// `http-protobuf` the base URL, `/v1/traces` is appended). Unset: `OTEL_EXPORTER_OTLP_ENDPOINT`;
    /// neither: no spans are exported.
    #[arg(long, env = "STREAMGATE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// OTLP wire format. Unset: `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`), else
    /// `grpc`.
    #[arg(long, env = "STREAMGATE_OTLP_PROTOCOL", value_enum)]
    pub otlp_protocol: Option<OtlpProtocol>,

    /// Fraction (0 to 1) of calls without a sampled caller that start a sampled trace; a
    /// caller's sampling decision (its `traceparent` flags) is always followed. Unset:
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, else 1 (every call).
    #[arg(long, env = "STREAMGATE_OTLP_SAMPLE_RATIO")]
    pub otlp_sample_ratio: Option<f64>,

    /// Finished spans kept for export at most; while the collector is down or slow, spans
    /// beyond it are dropped and counted (`streamgate_trace_spans_dropped_total`).
    #[arg(long, env = "STREAMGATE_OTLP_MAX_QUEUE_SPANS", default_value_t = DEFAULT_OTLP_MAX_QUEUE_SPANS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub otlp_max_queue_spans: NonZeroUsize,

    /// Time one export request gets before its spans are counted as dropped.
    #[arg(long, env = "STREAMGATE_OTLP_EXPORT_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_OTLP_EXPORT_TIMEOUT)]
    pub otlp_export_timeout: Duration,

    /// Longest a finished span waits before its batch is sent (a batch of 512 goes at once).
    #[arg(long, env = "STREAMGATE_OTLP_BATCH_DELAY", value_parser = longer_than_zero, default_value = DEFAULT_OTLP_BATCH_DELAY)]
    pub otlp_batch_delay: Duration,
}

/// Which calls are traced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Follow the caller's sampled flag when it sent a `traceparent`.
    pub parent_based: bool,
    /// Fraction of the other calls (roots) sampled, 0 to 1.
    pub root_ratio: f64,
}

/// The checked export settings; `None` in [`super::Settings`] when export is off.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSettings {
    /// The OTLP endpoint (for HTTP, the full `/v1/traces` URL).
    pub endpoint: String,
    /// gRPC or HTTP.
    pub protocol: OtlpProtocol,
    /// Which calls are traced.
    pub sampling: Sampling,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Spans queued for export at most.
    pub max_queue_spans: NonZeroUsize,
    /// Time one export request gets.
    pub export_timeout: Duration,
    /// Longest wait before a partial batch is sent.
    pub batch_delay: Duration,
}

impl TraceArgs {
    pub(super) fn settings(&self) -> Result<Option<TraceSettings>, ConfigError> {
        self.settings_with_env(|name| std::env::var(name).ok())
    }

    /// [`Self::settings`] reading the OpenTelemetry variables through `env` (tests pass a
    /// table instead of touching the process environment).
    fn settings_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TraceSettings>, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let Some(endpoint) = self
            .otlp_endpoint
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        else {
            return Ok(None);
        };
        let protocol = match (self.otlp_protocol, env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            (Some(p), _) => p,
            (None, None) => OtlpProtocol::Grpc,
            (None, Some(v)) => match v.trim() {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                other => {
                    return Err(ConfigError(format!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL: {other:?} is not supported (grpc or http/protobuf)"
                    )));
                }
            },
        };
        let endpoint = endpoint_url(&endpoint, protocol)?;
        let sampling = match self.otlp_sample_ratio {
            Some(r) => Sampling {
                parent_based: true,
                root_ratio: ratio("--otlp-sample-ratio", r)?,
            },
            None => sampler_from_env(
                env("OTEL_TRACES_SAMPLER").as_deref(),
                env("OTEL_TRACES_SAMPLER_ARG").as_deref(),
            )?,
        };
        let service_name = env("OTEL_SERVICE_NAME")
            .or_else(|| {
                env("OTEL_RESOURCE_ATTRIBUTES").and_then(|attrs| {
                    attrs.split(',').find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        (k.trim() == "service.name").then(|| v.trim().to_owned())
                    })
                })
            })
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        Ok(Some(TraceSettings {
            endpoint,
            protocol,
            sampling,
            service_name,
            max_queue_spans: self.otlp_max_queue_spans,
            export_timeout: self.otlp_export_timeout,
            batch_delay: self.otlp_batch_delay,
        }))
    }
}

/// An `http(s)://` URL; for OTLP/HTTP the signal path `/v1/traces` is appended to the base,
/// as the OTLP exporter specification does with `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn endpoint_url(raw: &str, protocol: OtlpProtocol) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ConfigError(format!("--otlp-endpoint: {raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError(format!(
            "--otlp-endpoint: {raw:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(match protocol {
        OtlpProtocol::Grpc => url.as_str().trim_end_matches('/').to_owned(),
        OtlpProtocol::HttpProtobuf if url.path().ends_with("/v1/traces") => url.to_string(),
        OtlpProtocol::HttpProtobuf => {
            format!("{}/v1/traces", url.as_str().trim_end_matches('/'))
        }
    })
}

fn ratio(name: &str, r: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(ConfigError(format!("{name}: {r} is not between 0 and 1")))
    }
}

/// The OpenTelemetry SDK environment variables' samplers (the specification's names; the
/// default is `parentbased_always_on`).
fn sampler_from_env(sampler: Option<&str>, arg: Option<&str>) -> Result<Sampling, ConfigError> {
    let arg_ratio = || -> Result<f64, ConfigError> {
        match arg {
            None => Ok(1.0),
            Some(a) => {
                let r = a.trim().parse::<f64>().map_err(|_| {
                    ConfigError(format!("OTEL_TRACES_SAMPLER_ARG: {a:?} is not a number"))
                })?;
                ratio("OTEL_TRACES_SAMPLER_ARG", r)
            }
        }
    };
    let (parent_based, root_ratio) = match sampler.map(str::trim) {
        None | Some("parentbased_always_on") => (true, 1.0),
        Some("parentbased_always_off") => (true, 0.0),
        Some("parentbased_traceidratio") => (true, arg_ratio()?),
        Some("always_on") => (false, 1.0),
        Some("always_off") => (false, 0.0),
        Some("traceidratio") => (false, arg_ratio()?),
        Some(other) => {
            return Err(ConfigError(format!(
                "OTEL_TRACES_SAMPLER: {other:?} is not supported (always_on, always_off, \
                 traceidratio, or their parentbased_ forms)"
            )));
        }
    };
    Ok(Sampling {
        parent_based,
        root_ratio,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::Config;

    fn trace(args: &[&str], env: &[(&str, &str)]) -> Result<Option<TraceSettings>, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut argv = vec!["streamgate"];
        argv.extend_from_slice(args);
        Config::from_args(argv)
            .unwrap()
            .trace
            .settings_with_env(|k| env.get(k).cloned())
    }

    #[test]
    fn export_is_off_without_an_endpoint() {
        assert_eq!(trace(&[], &[]).unwrap(), None);
        assert_eq!(
            trace(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]).unwrap(),
            None
        );
    }

    #[test]
    fn the_flag_wins_over_the_standard_variables() {
        let t = trace(
            &["--otlp-endpoint", "http://127.0.0.1:4317"],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4317")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.endpoint, "http://127.0.0.1:4317");
        assert_eq!(t.protocol, OtlpProtocol::Grpc);
        assert_eq!(t.service_name, "streamgate");
        assert_eq!(
            t.sampling,
            Sampling {
                parent_based: true,
                root_ratio: 1.0
            }
        );
        assert_eq!(t.max_queue_spans, DEFAULT_OTLP_MAX_QUEUE_SPANS);
    }

    #[test]
    fn the_standard_variables_configure_export() {
        let t = trace(
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,service.name=gw",
                ),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(t.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(t.sampling.root_ratio, 0.01);
        assert!(t.sampling.parent_based);
        assert_eq!(t.service_name, "gw");
        let named = trace(
            &[
                "--otlp-endpoint",
                "http://c:4317",
                "--otlp-sample-ratio",
                "0.5",
            ],
            &[
                ("OTEL_SERVICE_NAME", "edge-gw"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(named.service_name, "edge-gw");
        assert_eq!(named.sampling.root_ratio, 0.5);
    }

    #[test]
    fn bad_values_name_what_is_wrong() {
        let err = |args: &[&str], env: &[(&str, &str)]| trace(args, env).unwrap_err().0;
        assert!(err(&["--otlp-endpoint", "collector:4317"], &[]).contains("--otlp-endpoint"));
        assert!(
            err(
                &[
                    "--otlp-endpoint",
                    "http://c:4317",
                    "--otlp-sample-ratio",
                    "2"
                ],
                &[]
            )
            .contains("--otlp-sample-ratio")
        );
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")];
        assert!(
            err(&[], &[on[0], ("OTEL_TRACES_SAMPLER", "jaeger_remote")])
                .contains("OTEL_TRACES_SAMPLER")
        );
        assert!(
            err(&[], &[on[0], ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL")
        );
        let zero = Config::from_args(["streamgate", "--otlp-max-queue-spans", "0"])
            .unwrap_err()
            .to_string();
        assert!(zero.contains("--otlp-max-queue-spans"), "{zero}");
    }
}
