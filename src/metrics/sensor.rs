//! SensorService's families: open streams, and what the processors produced.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `state` values of `streamgate_sensor_alerts_total`.
pub(crate) const ALERT_STATES: [&str; 3] = ["firing", "resolved", "silent"];

/// The `reason` values of `streamgate_sensor_rejected_readings_total`.
pub(crate) const REJECT_REASONS: [&str; 6] = [
    "empty_sensor_id",
    "not_finite",
    "out_of_range",
    "future_timestamp",
    "sensor_id_too_long",
    "over_limit",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug)]
pub(super) struct Families {
    streams: Gauge,
    readings: Counter,
    alerts: Family<State, Counter>,
    rejected: Family<Reason, Counter>,
    configs_rejected: Counter,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Self {
        let f = Self {
            streams: Gauge::default(),
            readings: Counter::default(),
            alerts: Family::default(),
            rejected: Family::default(),
            configs_rejected: Counter::default(),
        };
        r.register(
            "streamgate_sensor_streams",
            "SensorFeed streams open now",
            f.streams.clone(),
        );
        r.register(
            "streamgate_sensor_readings",
            "Readings accepted and processed",
            f.readings.clone(),
        );
        r.register(
            "streamgate_sensor_alerts",
            "Alert state changes sent, by new state (firing, resolved, silent)",
            f.alerts.clone(),
        );
        r.register(
            "streamgate_sensor_rejected_readings",
            "Readings refused in-band, by reason",
            f.rejected.clone(),
        );
        r.register(
            "streamgate_sensor_rejected_configs",
            "Config updates refused in-band (the previous config stays)",
            f.configs_rejected.clone(),
        );
        // The fixed label values exist from the start, at zero.
        for state in ALERT_STATES {
            f.alerts.get_or_create_owned(&State { state });
        }
        for reason in REJECT_REASONS {
            f.rejected.get_or_create_owned(&Reason { reason });
        }
        f
    }
}

/// SensorService's families (off when metrics are).
#[derive(Clone, Debug, Default)]
pub struct SensorMetrics {
    inner: Option<Arc<super::Families>>,
}

impl SensorMetrics {
    pub(super) fn new(inner: Option<Arc<super::Families>>) -> Self {
        Self { inner }
    }

    fn families(&self) -> Option<&Families> {
        self.inner.as_deref().map(|f| &f.sensor)
    }

    /// Counts a stream as open until the returned guard is dropped.
    pub fn stream_opened(&self) -> OpenStream {
        OpenStream(self.families().map(|f| {
            f.streams.inc();
            f.streams.clone()
        }))
    }

    /// Counts `n` processed readings (one add per batch: readings dominate).
    pub fn readings(&self, n: u64) {
        if let (Some(f), true) = (self.families(), n > 0) {
            f.readings.inc_by(n);
        }
    }

    /// Counts an alert sent; `state` is one of [`ALERT_STATES`].
    pub fn alert(&self, state: &'static str) {
        if let Some(f) = self.families() {
            f.alerts.get_or_create(&State { state }).inc();
        }
    }

    /// Counts a reading refused in-band; `reason` is one of [`REJECT_REASONS`].
    pub fn rejected(&self, reason: &'static str) {
        if let Some(f) = self.families() {
            f.rejected.get_or_create(&Reason { reason }).inc();
        }
    }

    /// Counts a config refused in-band.
    pub fn config_rejected(&self) {
        if let Some(f) = self.families() {
            f.configs_rejected.inc();
        }
    }
}

/// One stream in `streamgate_sensor_streams` while it lives.
#[derive(Debug)]
#[must_use = "the stream counts as open only while the guard lives"]
pub struct OpenStream(Option<Gauge>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}
