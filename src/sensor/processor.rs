//! The pure per-stream processor: readings and configs in, processed readings, alerts and
//! in-band rejections out, time passed in. It knows nothing of tonic or tokio, so every rule
//! is unit-tested with hand-made clocks; the service only wires a stream to it.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::error::SensorError;
use super::levels::{label, level_of, next_severity, transition};
use super::settings::Settings;
use super::types::{
    Alert, AlertState, ConfigRejected, ConfigUpdate, Now, Output, Processed, Reading, Severity,
};
use super::validate::{ReadingRules, Valid, validate};
use super::window::{Bounds, Window};

/// The per-stream limits, from the server's config.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Distinct sensors one stream may name (readings or configs).
    pub max_sensors: usize,
    /// Longest window, in readings; also caps duration windows.
    pub max_window: u32,
    /// What every reading must satisfy.
    pub rules: ReadingRules,
}

/// One sensor's state on a stream.
#[derive(Debug)]
struct Sensor {
    id: String,
    settings: Settings,
    severity: Option<Severity>,
    silent: bool,
    last_temp: f64,
    last_seen: Option<Instant>,
    window: Window,
    deadline: Option<Instant>,
}

/// All state of one SensorFeed stream.
#[derive(Debug)]
pub struct Processor {
    limits: Limits,
    defaults: Settings,
    index: HashMap<String, usize>,
    sensors: Vec<Sensor>,
    /// Missing-data deadlines, earliest first; one entry per sensor at most, so the service
    /// needs a single timer for the earliest.
    deadlines: BTreeSet<(Instant, usize)>,
}

impl Processor {
    /// A processor with the seed's defaults (threshold 28.0 °C, nothing else).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            defaults: Settings::default(),
            index: HashMap::new(),
            sensors: Vec::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// Distinct sensors seen so far on this stream.
    pub fn sensor_count(&self) -> usize {
        self.sensors.len()
    }

    /// When the next missing-data alert is due, if any sensor has a timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Handles one reading: a rejection, or a processed reading followed by any alerts it
    /// caused. Errs only when the stream must end (too many sensors).
    pub fn reading(
        &mut self,
        reading: Reading,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), SensorError> {
        // Deadlines that passed before this reading arrived are due first, so the outcome does
        // not depend on how promptly the caller's timer fired.
        self.expire(now, out);
        let valid = match validate(reading, now.wall, self.limits.rules) {
            Ok(v) => v,
            Err(rejected) => {
                out.push(Output::Rejected(rejected));
                return Ok(());
            }
        };
        let idx = self.slot(&valid.sensor_id)?;
        let max_window = self.limits.max_window;
        let sensor = &mut self.sensors[idx];
        let Valid {
            sensor_id,
            temp_c,
            humidity,
            at,
        } = valid;
        let settings = sensor.settings;
        let window = settings.has_window().then(|| {
            sensor
                .window
                .push(at, temp_c, bounds(&settings, max_window))
        });
        let back_from_silence = std::mem::take(&mut sensor.silent).then(|| {
            let quiet = sensor
                .last_seen
                .map(|seen| now.mono.saturating_duration_since(seen));
            Alert {
                sensor_id: sensor.id.clone(),
                state: AlertState::Resolved,
                severity: None,
                temp_c,
                threshold: settings.warn_level(),
                at,
                message: format!(
                    "sensor {} reporting again after {quiet:?} silent",
                    sensor.id
                ),
                window,
            }
        });
        sensor.last_temp = temp_c;
        sensor.last_seen = Some(now.mono);
        let before = sensor.severity;
        sensor.severity = next_severity(before, temp_c, &settings);
        let change = transition(before, sensor.severity).map(|(state, severity)| {
            let level = level_of(severity, &settings);
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
            Alert {
                sensor_id: sensor.id.clone(),
                state,
                severity: Some(severity),
                temp_c,
                threshold: level,
                at,
                message,
                window,
            }
        });
        out.push(Output::Reading(Processed {
            sensor_id,
            temp_c,
            temp_f: temp_c * 9.0 / 5.0 + 32.0,
            humidity,
            alert: temp_c > settings.threshold,
            timestamp: at,
            window,
        }));
        out.extend(back_from_silence.map(Output::Alert));
        out.extend(change.map(Output::Alert));
        self.rearm(idx);
        Ok(())
    }

    /// Applies a config to one sensor or (with `""`) to every sensor and the default; a config
    /// that would leave any sensor with senseless settings is refused whole, in-band.
    pub fn config(
        &mut self,
        update: ConfigUpdate,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), SensorError> {
        self.expire(now, out);
        let max_window = self.limits.max_window;
        let refuse = |out: &mut Vec<Output>, reason: String| {
            out.push(Output::ConfigRejected(ConfigRejected {
                sensor_id: update.sensor_id.clone(),
                reason,
            }));
            Ok(())
        };
        if update.sensor_id.is_empty() {
            let defaults = match self.defaults.merged(&update, max_window) {
                Ok(s) => s,
                Err(reason) => return refuse(out, reason),
            };
            let mut merged = Vec::with_capacity(self.sensors.len());
            for sensor in &self.sensors {
                match sensor.settings.merged(&update, max_window) {
                    Ok(s) => merged.push(s),
                    Err(reason) => {
                        return refuse(out, format!("for sensor {}: {reason}", sensor.id));
                    }
                }
            }
            self.defaults = defaults;
            for (idx, settings) in merged.into_iter().enumerate() {
                self.sensors[idx].settings = settings;
                self.rearm(idx);
            }
            return Ok(());
        }
        let max_id = self.limits.rules.max_sensor_id_bytes;
        if update.sensor_id.len() > max_id {
            let len = update.sensor_id.len();
            return refuse(
                out,
                format!("sensor_id is {len} bytes long, the limit is {max_id}"),
            );
        }
        let base = match self.index.get(&update.sensor_id) {
            Some(&idx) => &self.sensors[idx].settings,
            None => &self.defaults,
        };
        let settings = match base.merged(&update, max_window) {
            Ok(s) => s,
            Err(reason) => return refuse(out, reason),
        };
        let idx = self.slot(&update.sensor_id)?;
        self.sensors[idx].settings = settings;
        self.rearm(idx);
        Ok(())
    }

    /// Emits a SILENT alert for every sensor whose missing-data deadline is at or before
    /// `now`. Each silence is reported once; the sensor's next reading resolves it.
    pub fn expire(&mut self, now: Now, out: &mut Vec<Output>) {
        while let Some(&(due, idx)) = self.deadlines.first() {
            if due > now.mono {
                break;
            }
            self.deadlines.pop_first();
            let sensor = &mut self.sensors[idx];
            sensor.deadline = None;
            sensor.silent = true;
            let settings = sensor.settings;
            let timeout = settings.missing_timeout.unwrap_or_default();
            out.push(Output::Alert(Alert {
                sensor_id: sensor.id.clone(),
                state: AlertState::Silent,
                severity: sensor.severity,
                temp_c: sensor.last_temp,
                threshold: sensor
                    .severity
                    .map_or(settings.warn_level(), |s| level_of(s, &settings)),
                at: now.wall,
                message: format!("sensor {}: no reading for {timeout:?}", sensor.id),
                window: sensor.window.stats().filter(|_| settings.has_window()),
            }));
        }
    }

    /// The index of `id`'s state, created with the default settings on first sight.
    fn slot(&mut self, id: &str) -> Result<usize, SensorError> {
        if let Some(&idx) = self.index.get(id) {
            return Ok(idx);
        }
        if self.sensors.len() >= self.limits.max_sensors {
            return Err(SensorError::TooManySensors {
                limit: self.limits.max_sensors,
            });
        }
        let idx = self.sensors.len();
        self.sensors.push(Sensor {
            id: id.to_owned(),
            settings: self.defaults,
            severity: None,
            silent: false,
            last_temp: 0.0,
            last_seen: None,
            window: Window::default(),
            deadline: None,
        });
        self.index.insert(id.to_owned(), idx);
        Ok(idx)
    }

    /// Puts `idx`'s missing-data deadline at last reading + timeout (none while silent, before
    /// its first reading, or without a timeout).
    fn rearm(&mut self, idx: usize) {
        let sensor = &mut self.sensors[idx];
        if let Some(old) = sensor.deadline.take() {
            self.deadlines.remove(&(old, idx));
        }
        if sensor.silent {
            return;
        }
        if let (Some(timeout), Some(seen)) = (sensor.settings.missing_timeout, sensor.last_seen) {
            if let Some(due) = seen.checked_add(timeout) {
                sensor.deadline = Some(due);
                self.deadlines.insert((due, idx));
            }
        }
    }
}

/// The window bounds `settings` ask for, capped by the server's limit.
fn bounds(settings: &Settings, max_window: u32) -> Bounds {
    let count = settings.window_count.unwrap_or(max_window).min(max_window);
    Bounds {
        count: count as usize,
        span: settings.window_duration,
    }
}

#[cfg(test)]
mod tests;
