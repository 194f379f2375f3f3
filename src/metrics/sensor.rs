//! SensorService's families: open streams, and what the processors produced.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::sensor::{AlertState, Output, RejectCode};

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
        for state in [AlertState::Firing, AlertState::Resolved, AlertState::Silent] {
            f.alerts.get_or_create_owned(&State {
                state: state_name(state),
            });
        }
        for code in [
            RejectCode::EmptySensorId,
            RejectCode::NotFinite,
            RejectCode::OutOfRange,
            RejectCode::FutureTimestamp,
            RejectCode::SensorIdTooLong,
        ] {
            f.rejected.get_or_create_owned(&Reason {
                reason: reason_name(code),
            });
        }
        f
    }
}

fn state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
        AlertState::Silent => "silent",
    }
}

fn reason_name(code: RejectCode) -> &'static str {
    match code {
        RejectCode::EmptySensorId => "empty_sensor_id",
        RejectCode::NotFinite => "not_finite",
        RejectCode::OutOfRange => "out_of_range",
        RejectCode::FutureTimestamp => "future_timestamp",
        RejectCode::SensorIdTooLong => "sensor_id_too_long",
        RejectCode::OverLimit => "over_limit",
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

    /// Counts what one batch of processing produced (called before the outputs are sent).
    pub fn record(&self, outputs: &[Output]) {
        let Some(f) = self.families() else { return };
        // Readings dominate: one add per batch rather than one per reading.
        let mut readings = 0;
        for out in outputs {
            match out {
                Output::Reading(_) => readings += 1,
                Output::Alert(a) => {
                    f.alerts
                        .get_or_create(&State {
                            state: state_name(a.state),
                        })
                        .inc();
                }
                Output::Rejected(r) => {
                    f.rejected
                        .get_or_create(&Reason {
                            reason: reason_name(r.code),
                        })
                        .inc();
                }
                Output::ConfigRejected(_) => {
                    f.configs_rejected.inc();
                }
            }
        }
        if readings > 0 {
            f.readings.inc_by(readings);
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
