//! Trace export figures (`streamgate_trace_spans_exported_total`,
//! `streamgate_trace_spans_dropped_total{reason}`), read from the process's export pipeline
//! at each scrape. Export is set up once per process (the tracing subscriber is global), so
//! these are process-wide, like the `process_*` metrics; all zero while export is off.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::telemetry::export_stats;

/// Why a span was not exported.
const DROP_REASONS: [&str; 2] = ["queue_full", "export_failed"];

/// Reads the export statistics at every scrape.
#[derive(Debug)]
pub(super) struct TraceExportCollector;

impl Collector for TraceExportCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = export_stats();
        let exported = ConstCounter::new(stats.exported());
        exported.encode(encoder.encode_descriptor(
            "streamgate_trace_spans_exported",
            "Spans the OTLP collector accepted",
            None,
            exported.metric_type(),
        )?)?;
        // A family built per scrape: the two series exist from the start, at zero.
        let dropped = Family::<[(&'static str, &'static str); 1], Counter>::default();
        for (reason, n) in DROP_REASONS
            .into_iter()
            .zip([stats.dropped_queue_full(), stats.dropped_export_failed()])
        {
            dropped.get_or_create(&[("reason", reason)]).inc_by(n);
        }
        dropped.encode(encoder.encode_descriptor(
            "streamgate_trace_spans_dropped",
            "Spans not exported: the export queue was full (queue_full) or their export request failed or timed out (export_failed)",
            None,
            dropped.metric_type(),
        )?)?;
        Ok(())
    }
}
