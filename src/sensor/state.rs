//! One sensor's state on a stream, and the steps a reading or a passed deadline takes through
//! it: the window, the return from silence, the warn/crit level, the responses. The
//! [`Processor`](super::Processor) decides which sensor and which settings; these steps only
//! move one sensor on.

use std::time::Instant;

use super::deadlines::Queue;
use super::levels::{label, level_of, next_severity, transition};
use super::settings::ProcessingSettings;
use super::types::{Alert, AlertState, Now, Processed, Severity, WindowStats};
use super::validate::Valid;
use super::window::{Bounds, Window};

/// One sensor's state on a stream.
#[derive(Debug)]
pub(super) struct Sensor {
    pub(super) id: String,
    /// Its own settings; `None` while it follows the stream's defaults (it never had a config
    /// naming it).
    pub(super) own: Option<ProcessingSettings>,
    pub(super) severity: Option<Severity>,
    pub(super) silent: bool,
    pub(super) last_temp: f64,
    pub(super) last_seen: Option<Instant>,
    pub(super) window: Window,
    /// Its key in [`Deadlines`](super::deadlines::Deadlines) while armed.
    pub(super) armed: Option<Instant>,
}

impl Sensor {
    /// Which deadline set it sits in while armed.
    pub(super) fn queue(&self) -> Queue {
        if self.own.is_some() {
            Queue::Own
        } else {
            Queue::Follower
        }
    }
}

/// Adds the reading to the sensor's window when one is configured; the stats including it.
pub(super) fn record_window(
    sensor: &mut Sensor,
    valid: &Valid,
    settings: &ProcessingSettings,
    max_window: u32,
) -> Option<WindowStats> {
    settings.has_window().then(|| {
        sensor
            .window
            .push(valid.at, valid.temp_c, bounds(settings, max_window))
    })
}

/// The RESOLVED alert of a sensor reporting again after it was declared silent.
pub(super) fn resume(
    sensor: &mut Sensor,
    valid: &Valid,
    now: Now,
    settings: &ProcessingSettings,
    window: Option<WindowStats>,
) -> Option<Alert> {
    if !std::mem::take(&mut sensor.silent) {
        return None;
    }
    let quiet = sensor
        .last_seen
        .map(|seen| now.mono.saturating_duration_since(seen));
    Some(Alert {
        sensor_id: sensor.id.clone(),
        state: AlertState::Resolved,
        severity: None,
        temp_c: valid.temp_c,
        threshold: settings.warn_level(),
        at: valid.at,
        message: format!(
            "sensor {} reporting again after {quiet:?} silent",
            sensor.id
        ),
        window,
    })
}

/// Moves the sensor's warn/crit state on; the alert when it changed.
pub(super) fn change_level(
    sensor: &mut Sensor,
    valid: &Valid,
    settings: &ProcessingSettings,
    window: Option<WindowStats>,
) -> Option<Alert> {
    let temp_c = valid.temp_c;
    let before = sensor.severity;
    sensor.severity = next_severity(before, temp_c, settings);
    let (state, severity) = transition(before, sensor.severity)?;
    let level = level_of(severity, settings);
    let message = match state {
        AlertState::Firing => format!(
            "sensor {}: {temp_c} °C is above the {} level {level} °C",
            sensor.id,
            label(severity)
        ),
        _ => format!(
            "sensor {}: {temp_c} °C is back at or below {} °C; {} resolved",
            sensor.id,
            level - settings.hysteresis,
            label(severity)
        ),
    };
    Some(Alert {
        sensor_id: sensor.id.clone(),
        state,
        severity: Some(severity),
        temp_c,
        threshold: level,
        at: valid.at,
        message,
        window,
    })
}

/// The SILENT alert of a sensor whose missing-data deadline passed.
pub(super) fn silence(sensor: &Sensor, settings: &ProcessingSettings, now: Now) -> Alert {
    let timeout = settings.missing_timeout.unwrap_or_default();
    Alert {
        sensor_id: sensor.id.clone(),
        state: AlertState::Silent,
        severity: sensor.severity,
        temp_c: sensor.last_temp,
        threshold: sensor
            .severity
            .map_or(settings.warn_level(), |s| level_of(s, settings)),
        at: now.wall,
        message: format!("sensor {}: no reading for {timeout:?}", sensor.id),
        window: sensor.window.stats().filter(|_| settings.has_window()),
    }
}

/// The response to an accepted reading.
pub(super) fn processed(
    valid: Valid,
    settings: &ProcessingSettings,
    window: Option<WindowStats>,
) -> Processed {
    let Valid {
        sensor_id,
        temp_c,
        humidity,
        at,
    } = valid;
    Processed {
        sensor_id,
        temp_c,
        temp_f: temp_c * 9.0 / 5.0 + 32.0,
        humidity,
        alert: temp_c > settings.threshold,
        timestamp: at,
        window,
    }
}

/// The window bounds `settings` ask for, capped by the server's limit.
pub(super) fn bounds(settings: &ProcessingSettings, max_window: u32) -> Bounds {
    let count = settings.window_count.unwrap_or(max_window).min(max_window);
    Bounds {
        count: count as usize,
        span: settings.window_duration,
    }
}
