//! The export queue: finished spans go into a bounded channel and one task sends them in
//! batches, one request at a time. A full queue drops the span (the caller never waits); a
//! failed or timed-out request drops its batch. Both are counted in [`ExportStats`]
//! (exported as `streamgate_trace_spans_dropped_total`), and the log says so once when an
//! outage starts and once when export works again, never per span.
//!
//! The SDK's own batch processor bounds its queue too, but keeps its drop count to itself
//! (it reports it at shutdown), so it cannot feed a metric or an outage log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::TraceSettings;

/// Spans per export request at most: the SDKs' default (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`),
/// well under a collector's default 4 MiB gRPC message limit.
const MAX_BATCH_SPANS: usize = 512;

/// The process's export figures (one pipeline per process, like the subscriber).
#[derive(Debug, Default)]
pub struct ExportStats {
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_export_failed: AtomicU64,
}

impl ExportStats {
    /// Spans the collector accepted.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because the queue was full (the collector slower than the traffic).
    pub fn dropped_queue_full(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed)
    }

    /// Spans dropped because their export request failed or timed out.
    pub fn dropped_export_failed(&self) -> u64 {
        self.dropped_export_failed.load(Ordering::Relaxed)
    }
}

static STATS: ExportStats = ExportStats {
    exported: AtomicU64::new(0),
    dropped_queue_full: AtomicU64::new(0),
    dropped_export_failed: AtomicU64::new(0),
};

/// The figures of this process's span export (all zero while export is off).
pub fn export_stats() -> &'static ExportStats {
    &STATS
}

/// The span processor: hands finished, sampled spans to the export task without waiting.
#[derive(Debug)]
pub(super) struct BoundedBatch {
    queue: mpsc::Sender<SpanData>,
    stop: CancellationToken,
}

/// The export task's owner: stopping it (or dropping it) ends the task.
#[derive(Debug)]
pub(super) struct Worker {
    flush: mpsc::Sender<oneshot::Sender<()>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl BoundedBatch {
    /// The processor and the task that exports what it queues (spawned on the current
    /// tokio runtime).
    pub(super) fn start<E>(exporter: E, settings: &TraceSettings) -> (Self, Worker)
    where
        E: SpanExporter + 'static,
    {
        let (queue, spans) = mpsc::channel(settings.max_queue_spans.get());
        // One flush at a time is all shutdown needs.
        let (flush, flushes) = mpsc::channel(1);
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            Exporting {
                exporter,
                endpoint: settings.endpoint.clone(),
                timeout: settings.export_timeout,
                delay: settings.batch_delay,
                failing: false,
                dropped_at_outage_start: 0,
            }
            .run(spans, flushes, stop.clone()),
        );
        (
            Self {
                queue,
                stop: stop.clone(),
            },
            Worker { flush, stop, task },
        )
    }
}

impl SpanProcessor for BoundedBatch {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.try_send(span).is_err() {
            // Full, or the task has stopped: either way the span is not exported. Logging
            // is left to the task (this runs inside the tracing subscriber's span close).
            STATS.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Flushing means waiting for the network, which this synchronous hook must not do
        // on a runtime thread; `TraceExport::shutdown` flushes asynchronously.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.stop.cancel();
        Ok(())
    }
}

impl Worker {
    /// Exports what is queued (at most `within`), then ends the task.
    pub(super) async fn flush_and_stop(mut self, within: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.flush.send(done).await.is_ok() {
            let _ = tokio::time::timeout(within, flushed).await;
        }
        self.stop.cancel();
        let _ = tokio::time::timeout(within, &mut self.task).await;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The export task's state.
struct Exporting<E> {
    exporter: E,
    endpoint: String,
    timeout: Duration,
    delay: Duration,
    /// Whether the last request failed (an outage episode is under way).
    failing: bool,
    /// Total drops when the episode began, so its end can say how many it cost.
    dropped_at_outage_start: u64,
}

impl<E: SpanExporter> Exporting<E> {
    async fn run(
        mut self,
        mut spans: mpsc::Receiver<SpanData>,
        mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH_SPANS);
        let mut seen_queue_drops = STATS.dropped_queue_full();
        loop {
            // The first span of a batch starts its clock: it waits at most `delay`.
            let first = tokio::select! {
                s = spans.recv() => s,
                Some(done) = flushes.recv() => {
                    self.drain(&mut spans, &mut batch).await;
                    let _ = done.send(());
                    continue;
                }
                _ = stop.cancelled() => return,
            };
            let Some(first) = first else { return };
            batch.push(first);
            let due = tokio::time::Instant::now() + self.delay;
            while batch.len() < MAX_BATCH_SPANS {
                tokio::select! {
                    s = spans.recv() => match s {
                        Some(s) => batch.push(s),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(due) => break,
                    _ = stop.cancelled() => break,
                }
            }
            let queue_drops = STATS.dropped_queue_full();
            if queue_drops > seen_queue_drops {
                self.outage_begins(&format!(
                    "the export queue is full ({} spans dropped)",
                    queue_drops - seen_queue_drops
                ));
                seen_queue_drops = queue_drops;
            }
            self.send(std::mem::take(&mut batch)).await;
        }
    }

    /// Sends everything queued now, in batches.
    async fn drain(&mut self, spans: &mut mpsc::Receiver<SpanData>, batch: &mut Vec<SpanData>) {
        while let Ok(s) = spans.try_recv() {
            batch.push(s);
            if batch.len() == MAX_BATCH_SPANS {
                self.send(std::mem::take(batch)).await;
            }
        }
        if !batch.is_empty() {
            self.send(std::mem::take(batch)).await;
        }
    }

    async fn send(&mut self, batch: Vec<SpanData>) {
        let n = batch.len() as u64;
        let outcome = match tokio::time::timeout(self.timeout, self.exporter.export(batch)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        match outcome {
            Ok(()) => {
                STATS.exported.fetch_add(n, Ordering::Relaxed);
                if std::mem::replace(&mut self.failing, false) {
                    let dropped = total_dropped() - self.dropped_at_outage_start;
                    tracing::info!(
                        endpoint = %self.endpoint,
                        dropped,
                        "trace export recovered; {dropped} spans were dropped meanwhile"
                    );
                }
            }
            Err(reason) => {
                STATS.dropped_export_failed.fetch_add(n, Ordering::Relaxed);
                self.outage_begins(&reason);
            }
        }
    }

    /// Logs the first failure of an episode; the rest of it is only counted.
    fn outage_begins(&mut self, reason: &str) {
        if !std::mem::replace(&mut self.failing, true) {
            self.dropped_at_outage_start = total_dropped();
            tracing::warn!(
                endpoint = %self.endpoint,
                "trace export failing ({reason}); spans are dropped and counted in \
                 streamgate_trace_spans_dropped_total until it recovers"
            );
        }
    }
}

fn total_dropped() -> u64 {
    STATS.dropped_queue_full() + STATS.dropped_export_failed()
}
