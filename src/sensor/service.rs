//! The tonic face of SensorService: the response stream is returned at once, so the response
//! headers go out before any reading (a tonic client awaits them before it starts sending),
//! and it does the stream's work itself as tonic polls it (see [`super::feed`]).

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::config::SensorSettings;
use crate::metrics::SensorMetrics;
use crate::proto::{SensorFeedRequest, SensorFeedResponse};
use crate::shutdown::Shutdown;
use crate::telemetry::semconv;

use super::feed::Feed;
use super::processor::{Processor, StreamLimits};
use super::validate::ReadingRules;

/// Longest sensor id accepted, in bytes. Ids are keys of per-stream state, so they are
/// bounded like everything else a client sends.
pub(crate) const MAX_SENSOR_ID_BYTES: usize = 256;

/// Live counters of the SensorFeed streams, shared with whoever asks (tests, metrics).
#[derive(Clone, Debug, Default)]
pub struct FeedMetrics {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    active: AtomicUsize,
    started: AtomicU64,
}

impl FeedMetrics {
    /// Streams open now (their response stream not yet ended or dropped).
    pub fn active_streams(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }

    /// Streams started since the server began.
    pub fn started_streams(&self) -> u64 {
        self.inner.started.load(Ordering::SeqCst)
    }

    fn track(&self) -> LiveStream {
        self.inner.active.fetch_add(1, Ordering::SeqCst);
        self.inner.started.fetch_add(1, Ordering::SeqCst);
        LiveStream(self.inner.clone())
    }
}

/// Counts a stream as live until dropped (also when the stream's work panics).
struct LiveStream(Arc<Counters>);

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `streamgate.v1.SensorService`.
pub(crate) struct SensorHandler {
    limits: StreamLimits,
    /// One permit per open stream (`--sensor-max-streams`).
    streams: Arc<tokio::sync::Semaphore>,
    max_streams: usize,
    buffer: NonZeroUsize,
    shutdown: Shutdown,
    metrics: FeedMetrics,
    /// The Prometheus families (off unless `--metrics-listen`).
    recorded: SensorMetrics,
}

impl SensorHandler {
    /// Takes the per-stream limits from the settings; records into `metrics`.
    pub(crate) fn new(
        settings: &SensorSettings,
        metrics: SensorMetrics,
        shutdown: Shutdown,
    ) -> Self {
        Self::with_limits(
            StreamLimits {
                max_sensors: settings.max_sensors.get(),
                max_window: settings.max_window.get(),
                max_samples: settings.max_samples.get(),
                rules: ReadingRules {
                    max_future_skew: settings.max_future_skew,
                    max_sensor_id_bytes: MAX_SENSOR_ID_BYTES,
                },
            },
            settings.buffer,
            shutdown,
        )
        .recording_into(metrics)
        .with_max_streams(settings.max_streams.get())
    }

    /// A handler with explicit limits and response buffer (requests taken per poll, and
    /// responses held, per stream).
    pub(crate) fn with_limits(
        limits: StreamLimits,
        buffer: NonZeroUsize,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            limits,
            streams: Arc::new(tokio::sync::Semaphore::new(
                crate::config::DEFAULT_SENSOR_MAX_STREAMS.get(),
            )),
            max_streams: crate::config::DEFAULT_SENSOR_MAX_STREAMS.get(),
            buffer,
            shutdown,
            metrics: FeedMetrics::default(),
            recorded: SensorMetrics::default(),
        }
    }

    /// The same handler, with at most `max` streams open at once.
    pub(crate) fn with_max_streams(mut self, max: usize) -> Self {
        self.streams = Arc::new(tokio::sync::Semaphore::new(max));
        self.max_streams = max;
        self
    }

    /// The same handler, recording its streams' outputs into `metrics`.
    pub(crate) fn recording_into(mut self, metrics: SensorMetrics) -> Self {
        self.recorded = metrics;
        self
    }

    /// The live counters of this handler's streams.
    pub(crate) fn metrics(&self) -> FeedMetrics {
        self.metrics.clone()
    }
}

type FeedStream = Pin<Box<dyn Stream<Item = Result<SensorFeedResponse, Status>> + Send>>;

#[tonic::async_trait]
impl crate::proto::sensor_service_server::SensorService for SensorHandler {
    type SensorFeedStream = FeedStream;

    async fn sensor_feed(
        &self,
        req: Request<Streaming<SensorFeedRequest>>,
    ) -> Result<Response<Self::SensorFeedStream>, Status> {
        if self.shutdown.is_triggered() {
            return Err(Shutdown::status());
        }
        let slot = self.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{} SensorFeed streams are already open on this server (--sensor-max-streams); \
                 retry later",
                self.max_streams
            ))
        })?;
        let feed = Feed::new(
            Processor::new(self.limits),
            req.into_inner(),
            self.buffer,
            self.shutdown.clone(),
            (self.metrics.track(), self.recorded.stream_opened()),
            self.recorded.clone(),
        );
        // The slot is held by the stream and freed when tonic drops it. One span per stream,
        // its totals recorded when it ends (a span per reading would cost more than the
        // reading).
        let mut tally = StreamTally::new(semconv::stream_span());
        let feed = tokio_stream::StreamExt::map(feed, move |item| {
            let _held = &slot;
            tally.count(&item);
            item
        });
        Ok(Response::new(Box::pin(feed)))
    }
}

/// A SensorFeed stream's response counts, recorded on its span when the stream is dropped.
struct StreamTally {
    span: tracing::Span,
    readings: u64,
    rejected: u64,
    alerts: u64,
    configs_rejected: u64,
}

impl StreamTally {
    fn new(span: tracing::Span) -> Self {
        Self {
            span,
            readings: 0,
            rejected: 0,
            alerts: 0,
            configs_rejected: 0,
        }
    }

    fn count(&mut self, item: &Result<SensorFeedResponse, Status>) {
        use crate::proto::sensor_feed_response::Msg;
        if self.span.is_none() {
            return;
        }
        match item.as_ref().ok().and_then(|r| r.msg.as_ref()) {
            Some(Msg::Reading(_)) => self.readings += 1,
            Some(Msg::Alert(_)) => self.alerts += 1,
            Some(Msg::Rejected(_)) => self.rejected += 1,
            Some(Msg::ConfigRejected(_)) => self.configs_rejected += 1,
            None => {}
        }
    }
}

impl Drop for StreamTally {
    fn drop(&mut self) {
        semconv::record_stream_counts(
            &self.span,
            self.readings,
            self.rejected,
            self.alerts,
            self.configs_rejected,
        );
    }
}
