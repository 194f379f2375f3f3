//! Logging and trace export.
//!
//! Logs: `RUST_LOG` picks the level (default `info`), `--log-format` the shape, stderr the
//! destination. Traces: with an OTLP endpoint (`--otlp-endpoint` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), the server's own spans (target `streamgate*`: one SERVER
//! span per call, a CLIENT span per upstream HTTP request, a span per Redis script call, one
//! span per SensorFeed stream) go through `tracing-opentelemetry` to the OpenTelemetry SDK and
//! out over OTLP. Export never holds up a call: finished spans go into a bounded queue
//! ([`export`]), and whatever does not fit or cannot be sent is dropped and counted.
//!
//! The subscriber is process-wide (tracing has one global dispatcher), so export is set up
//! once per process, by `main`; every server in the process whose settings name an endpoint
//! then creates spans ([`crate::server`]), the others create none.

mod export;
mod http;
pub(crate) mod sampling;
pub(crate) mod semconv;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter as _};
use tracing::Metadata;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::{LogFormat, OtlpProtocol, Sampling, TraceSettings};

pub use export::{ExportStats, export_stats};

/// Installs the global subscriber writing logs to stderr, without trace export. Safe to call
/// more than once (later calls are ignored), which in-process tests rely on.
pub fn init(format: LogFormat) {
    let _ = Registry::default().with(log_layer(format)).try_init();
}

/// Installs the global subscriber with logs and OTLP export of spans (see the module doc).
/// Needs a tokio runtime (the exporter's connection and the export task live on it). The
/// returned handle flushes what is queued when the server stops.
pub fn init_with_export(
    format: LogFormat,
    settings: &TraceSettings,
) -> Result<TraceExport, ExportError> {
    let mut exporter = build_exporter(settings)?;
    let resource = resource(&settings.service_name);
    exporter.set_resource(&resource);
    let (processor, worker) = export::BoundedBatch::start(exporter, settings);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler(settings.sampling))
        .with_id_generator(sampling::PresampledIds::default())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("streamgate");
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Source locations and thread names are noise next to the semantic attributes, and
        // cost an allocation per span.
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        // Busy/idle times would cost two clock reads per poll of every call's future.
        .with_tracked_inactivity(false)
        // Attaching the span's OpenTelemetry context on every enter (every poll of the
        // call's future and body) serves code that reads `Context::current()`; streamgate
        // reads its spans' contexts through `tracing` (semconv), and a child span's parent
        // is then the enclosing exported `tracing` span.
        .with_context_activation(false)
        // Nothing below INFO goes to this layer (its spans are INFO, its events WARN and
        // up): with the hint, the libraries' TRACE and DEBUG call sites (h2 and hyper hit
        // them on every frame) stop at the global level check instead of an interest lookup.
        .with_filter(FilterFn::new(own_telemetry).with_max_level_hint(tracing::Level::INFO));
    Registry::default()
        .with(log_layer(format))
        .with(spans)
        .try_init()
        .map_err(|e| ExportError(format!("a global subscriber is already installed: {e}")))?;
    // Only once the pipeline is the process's: calls are then sampled before their spans.
    sampling::install(sampler(settings.sampling));
    tracing::info!(
        endpoint = %settings.endpoint,
        protocol = ?settings.protocol,
        root_ratio = settings.sampling.root_ratio,
        "exporting traces over OTLP"
    );
    Ok(TraceExport { provider, worker })
}

/// Export running; [`TraceExport::shutdown`] sends what is queued.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
    worker: export::Worker,
}

impl TraceExport {
    /// Sends the spans still queued (waiting at most `within`), then stops the export task.
    pub async fn shutdown(self, within: Duration) {
        self.worker.flush_and_stop(within).await;
        // The processor's own shutdown only signals the (already stopped) task.
        let _ = self.provider.shutdown();
    }
}

/// Trace export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("trace export: {0}")]
pub struct ExportError(String);

/// The log layer: `RUST_LOG` (default `info`) filters only this layer, so spans the export
/// needs are not lost to a quiet log level.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: log files and shippers get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
    }
}

/// What goes to the span layer: the spans made for export (those of `semconv`, which all
/// name their `otel.kind`), and streamgate's events of level WARN and up (they become span
/// events). Spans of the libraries underneath (h2, hyper, tonic, reqwest) stay out: the
/// exporter itself runs on them, and exporting its own requests would feed back into the
/// queue. So does the log-only `call` span of a server that does not export.
fn own_telemetry(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("streamgate")
        && if meta.is_span() {
            meta.fields().field("otel.kind").is_some()
        } else {
            *meta.level() <= tracing::Level::WARN
        }
}

fn build_exporter(
    settings: &TraceSettings,
) -> Result<opentelemetry_otlp::SpanExporter, ExportError> {
    let built = match settings.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(settings.export_timeout)
            .build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(http::ReqwestClient::new(settings.export_timeout))
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(settings.export_timeout)
            .build(),
    };
    built.map_err(|e| ExportError(format!("{}: {e}", settings.endpoint)))
}

/// `service.name`, `service.version`, `service.instance.id` (a fresh UUID per process, as
/// the semantic conventions recommend), plus whatever `OTEL_RESOURCE_ATTRIBUTES` adds.
fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .build()
}

fn sampler(s: Sampling) -> Sampler {
    let root = if s.root_ratio >= 1.0 {
        Sampler::AlwaysOn
    } else if s.root_ratio <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(s.root_ratio)
    };
    if s.parent_based {
        Sampler::ParentBased(Box::new(root))
    } else {
        root
    }
}
