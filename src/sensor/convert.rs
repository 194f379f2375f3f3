//! Protobuf ↔ domain conversions for SensorService; the only place that knows both shapes.

use std::time::SystemTime;

use crate::proto;

use super::types::{
    Alert, AlertState, ConfigRejected, ConfigUpdate, Output, Processed, Reading, RejectCode,
    Rejected, Severity, Span, Stamp, WindowStats,
};

/// A request's reading as the domain sees it.
pub(super) fn reading(r: proto::SensorReading) -> Reading {
    Reading {
        sensor_id: r.sensor_id,
        temperature: r.temperature,
        humidity: r.humidity,
        timestamp: match r.timestamp {
            None => Stamp::Unset,
            Some(ts) => SystemTime::try_from(ts).map_or(Stamp::Invalid, Stamp::At),
        },
    }
}

/// A request's config as the domain sees it.
pub(super) fn config(c: proto::FeedConfig) -> ConfigUpdate {
    let span = |d: prost_types::Duration| Span {
        seconds: d.seconds,
        nanos: d.nanos,
    };
    ConfigUpdate {
        sensor_id: c.sensor_id,
        threshold: c.threshold,
        warn: c.warn,
        crit: c.crit,
        hysteresis: c.hysteresis,
        window_count: c.window_count,
        window_duration: c.window_duration.map(span),
        missing_timeout: c.missing_timeout.map(span),
    }
}

/// A domain output as the response message.
pub(super) fn response(out: Output) -> proto::SensorFeedResponse {
    use proto::sensor_feed_response::Msg;
    let msg = match out {
        Output::Reading(r) => Msg::Reading(processed(r)),
        Output::Alert(a) => Msg::Alert(alert(a)),
        Output::Rejected(r) => Msg::Rejected(rejected(r)),
        Output::ConfigRejected(r) => Msg::ConfigRejected(config_rejected(r)),
    };
    proto::SensorFeedResponse { msg: Some(msg) }
}

fn window(w: WindowStats) -> proto::WindowStats {
    proto::WindowStats {
        count: w.count,
        min_c: w.min_c,
        max_c: w.max_c,
        mean_c: w.mean_c,
    }
}

fn processed(r: Processed) -> proto::ProcessedReading {
    proto::ProcessedReading {
        sensor_id: r.sensor_id,
        temp_c: r.temp_c,
        temp_f: r.temp_f,
        humidity: r.humidity,
        alert: r.alert,
        timestamp: Some(r.timestamp.into()),
        window: r.window.map(window),
    }
}

fn alert(a: Alert) -> proto::Alert {
    let state = match a.state {
        AlertState::Firing => proto::AlertState::Firing,
        AlertState::Resolved => proto::AlertState::Resolved,
        AlertState::Silent => proto::AlertState::Silent,
    };
    let severity = match a.severity {
        None => proto::Severity::Unspecified,
        Some(Severity::Warn) => proto::Severity::Warn,
        Some(Severity::Crit) => proto::Severity::Crit,
    };
    proto::Alert {
        sensor_id: a.sensor_id,
        state: state as i32,
        severity: severity as i32,
        temp_c: a.temp_c,
        threshold: a.threshold,
        at: Some(a.at.into()),
        message: a.message,
        window: a.window.map(window),
    }
}

fn rejected(r: Rejected) -> proto::ReadingRejected {
    let code = match r.code {
        RejectCode::EmptySensorId => proto::RejectCode::EmptySensorId,
        RejectCode::NotFinite => proto::RejectCode::NotFinite,
        RejectCode::OutOfRange => proto::RejectCode::OutOfRange,
        RejectCode::FutureTimestamp => proto::RejectCode::FutureTimestamp,
        RejectCode::SensorIdTooLong => proto::RejectCode::SensorIdTooLong,
        // The wire has no code of its own for it yet (adding one means regenerating every
        // client); the reason names the flag.
        RejectCode::OverLimit => proto::RejectCode::Unspecified,
    };
    proto::ReadingRejected {
        sensor_id: r.sensor_id,
        reason: r.reason,
        code: code as i32,
    }
}

fn config_rejected(r: ConfigRejected) -> proto::ConfigRejected {
    proto::ConfigRejected {
        sensor_id: r.sensor_id,
        reason: r.reason,
    }
}
