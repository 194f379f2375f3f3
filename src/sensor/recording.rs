//! What a batch of processing produced, counted in the server's metrics under label values
//! from small fixed sets (never a sensor id).

use super::types::{AlertState, Output, RejectCode};
use crate::metrics::SensorMetrics;

/// Counts `outputs` (called before they are sent).
pub(super) fn record(metrics: &SensorMetrics, outputs: &[Output]) {
    let mut readings = 0;
    for out in outputs {
        match out {
            Output::Reading(_) => readings += 1,
            Output::Alert(a) => metrics.alert(state_name(a.state)),
            Output::Rejected(r) => metrics.rejected(reason_name(r.code)),
            Output::ConfigRejected(_) => metrics.config_rejected(),
        }
    }
    metrics.readings(readings);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sensor::{ALERT_STATES, REJECT_REASONS};

    #[test]
    fn every_label_value_is_one_the_metrics_export_from_the_start() {
        for s in [AlertState::Firing, AlertState::Resolved, AlertState::Silent] {
            assert!(ALERT_STATES.contains(&state_name(s)), "{s:?}");
        }
        for c in [
            RejectCode::EmptySensorId,
            RejectCode::NotFinite,
            RejectCode::OutOfRange,
            RejectCode::FutureTimestamp,
            RejectCode::SensorIdTooLong,
            RejectCode::OverLimit,
        ] {
            assert!(REJECT_REASONS.contains(&reason_name(c)), "{c:?}");
        }
    }
}
