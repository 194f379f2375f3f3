//! The pure per-stream processor: readings and configs in, processed readings, alerts and
//! in-band rejections out, time passed in. It knows nothing of tonic or tokio, so every rule
//! is unit-tested with hand-made clocks; the service only wires a stream to it.
//!
//! What one stream may hold is bounded twice, and both bounds are answered in-band (the
//! stream goes on): distinct sensors (`max_sensors`, the per-sensor state) and retained
//! window samples (`max_samples`, counted by what the windows are configured to hold). A new
//! sensor or a config that would exceed either is rejected, and nothing changes.
//!
//! Sensors that never got a config of their own follow the stream's defaults by reference,
//! so an all-sensor config costs O(sensors with settings of their own), not O(sensors):
//! their deadlines need no moving ([`super::deadlines`]) and their windows, when the default
//! window shrinks, are trimmed a few per message afterwards (until then they are charged at
//! the larger size).

use std::collections::HashMap;
use std::time::Instant;

use super::deadlines::Deadlines;
use super::settings::ProcessingSettings;
use super::state::{Sensor, bounds, change_level, processed, record_window, resume, silence};
use super::types::{ConfigRejected, ConfigUpdate, Now, Output, Reading, RejectCode, Rejected};
use super::validate::{ReadingRules, validate};
use super::window::Window;

/// Followers' windows trimmed per message while a trim is pending: small enough that no
/// message costs more than a few microseconds, large enough that a trim is over long before
/// a stream of 10,000 sensors has sent 200 more messages.
const TRIM_STEP: usize = 64;

/// What one stream may hold, from the server's config.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamLimits {
    /// Distinct sensors one stream may name (readings or configs).
    pub max_sensors: usize,
    /// Longest window, in readings; also caps duration windows.
    pub max_window: u32,
    /// Window samples all sensors of the stream may be configured to retain together.
    pub max_samples: usize,
    /// What every reading must satisfy.
    pub rules: ReadingRules,
}

/// A pending trim of the followers' windows after the default window shrank.
#[derive(Debug)]
struct Trim {
    /// The first sensor not yet trimmed.
    next: usize,
    /// Samples a follower not yet trimmed may still hold.
    held: usize,
}

/// All state of one SensorFeed stream.
#[derive(Debug)]
pub(crate) struct Processor {
    limits: StreamLimits,
    defaults: ProcessingSettings,
    index: HashMap<String, usize>,
    sensors: Vec<Sensor>,
    /// Sensors with settings of their own (the only ones an all-sensor config visits).
    own: Vec<usize>,
    /// Samples the sensors with settings of their own are configured to retain.
    own_samples: usize,
    deadlines: Deadlines,
    trim: Option<Trim>,
}

impl Processor {
    /// A processor whose sensors start with the default settings: the `alert` flag above
    /// 28.0 °C, no warn/crit levels of their own, no window, no missing-data timeout.
    pub(crate) fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            defaults: ProcessingSettings::default(),
            index: HashMap::new(),
            sensors: Vec::new(),
            own: Vec::new(),
            own_samples: 0,
            deadlines: Deadlines::default(),
            trim: None,
        }
    }

    /// Distinct sensors seen so far on this stream.
    #[cfg(test)]
    pub(crate) fn sensor_count(&self) -> usize {
        self.sensors.len()
    }

    /// Window samples held right now (never above the reservation).
    #[cfg(test)]
    pub(crate) fn retained_samples(&self) -> usize {
        self.sensors.iter().map(|s| s.window.len()).sum()
    }

    /// Window samples the stream's sensors are configured (or, while a trim is pending,
    /// still allowed) to retain: what the `max_samples` budget is checked against.
    pub(crate) fn reserved_samples(&self) -> usize {
        self.followers()
            .saturating_mul(self.follower_samples())
            .saturating_add(self.own_samples)
    }

    /// When the next missing-data alert is due, if any sensor has a timeout.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines
            .next(self.defaults.missing_timeout)
            .map(|d| d.at)
    }

    /// Handles one reading: a rejection, or a processed reading followed by any alerts it
    /// caused.
    pub(crate) fn reading(&mut self, reading: Reading, now: Now, out: &mut Vec<Output>) {
        self.catch_up(now, out);
        let valid = match validate(reading, now.wall, self.limits.rules) {
            Ok(v) => v,
            Err(rejected) => return out.push(Output::Rejected(rejected)),
        };
        let idx = match self.admit(&valid.sensor_id, None) {
            Ok(idx) => idx,
            Err(reason) => {
                return out.push(Output::Rejected(Rejected {
                    sensor_id: valid.sensor_id,
                    reason,
                    code: RejectCode::OverLimit,
                }));
            }
        };
        let settings = self.settings_of(idx);
        let max_window = self.limits.max_window;
        self.disarm(idx);
        let sensor = &mut self.sensors[idx];
        let window = record_window(sensor, &valid, &settings, max_window);
        let resumed = resume(sensor, &valid, now, &settings, window);
        let change = change_level(sensor, &valid, &settings, window);
        sensor.last_temp = valid.temp_c;
        sensor.last_seen = Some(now.mono);
        out.push(Output::Reading(processed(valid, &settings, window)));
        out.extend(resumed.map(Output::Alert));
        out.extend(change.map(Output::Alert));
        self.arm(idx);
    }

    /// Applies a config to one sensor or (with `""`) to every sensor and the default; a config
    /// that would leave any sensor with senseless settings, or the stream over a limit, is
    /// refused whole, in-band.
    pub(crate) fn config(&mut self, update: ConfigUpdate, now: Now, out: &mut Vec<Output>) {
        self.catch_up(now, out);
        let applied = if update.sensor_id.is_empty() {
            self.configure_all(&update)
        } else {
            self.configure_one(&update)
        };
        if let Err(reason) = applied {
            out.push(Output::ConfigRejected(ConfigRejected {
                sensor_id: update.sensor_id,
                reason,
            }));
        }
    }

    /// Emits a SILENT alert for every sensor whose missing-data deadline is at or before
    /// `now`. Each silence is reported once; the sensor's next reading resolves it.
    pub(crate) fn expire(&mut self, now: Now, out: &mut Vec<Output>) {
        while let Some(due) = self.deadlines.next(self.defaults.missing_timeout) {
            if due.at > now.mono {
                break;
            }
            self.deadlines.remove(due.queue, due.key, due.sensor);
            let settings = self.settings_of(due.sensor);
            let sensor = &mut self.sensors[due.sensor];
            sensor.armed = None;
            sensor.silent = true;
            out.push(Output::Alert(silence(sensor, &settings, now)));
        }
    }

    /// What is due before a message is handled: deadlines that passed before it arrived
    /// (so the outcome does not depend on how promptly the caller's timer fired) and one
    /// step of a pending trim.
    fn catch_up(&mut self, now: Now, out: &mut Vec<Output>) {
        self.expire(now, out);
        self.trim_step();
    }

    /// Applies an all-sensor config: the defaults and every sensor with settings of its own.
    fn configure_all(&mut self, update: &ConfigUpdate) -> Result<(), String> {
        let max_window = self.limits.max_window;
        let defaults = self.defaults.merged(update, max_window)?;
        let mut merged = Vec::with_capacity(self.own.len());
        let mut own_samples = 0;
        for &idx in &self.own {
            let sensor = &self.sensors[idx];
            let current = sensor
                .own
                .expect("listed sensors have settings of their own");
            let next = current
                .merged(update, max_window)
                .map_err(|reason| format!("for sensor {}: {reason}", sensor.id))?;
            own_samples += self.capacity(&next);
            merged.push((idx, next));
        }
        // Followers not yet trimmed keep what they hold until the trim reaches them.
        let follower_samples = self.capacity(&defaults).max(self.follower_samples());
        self.check_samples(
            self.followers()
                .saturating_mul(follower_samples)
                .saturating_add(own_samples),
        )?;
        if self.capacity(&defaults) < self.follower_samples() {
            self.trim = Some(Trim {
                next: 0,
                held: self.follower_samples(),
            });
        }
        self.defaults = defaults;
        self.own_samples = own_samples;
        for (idx, settings) in merged {
            self.set_own(idx, settings);
        }
        Ok(())
    }

    /// Applies a config to one sensor, creating its state if it is new.
    fn configure_one(&mut self, update: &ConfigUpdate) -> Result<(), String> {
        let max_id = self.limits.rules.max_sensor_id_bytes;
        let len = update.sensor_id.len();
        if len > max_id {
            return Err(format!(
                "sensor_id is {len} bytes long, the limit is {max_id}"
            ));
        }
        let existing = self.index.get(&update.sensor_id).copied();
        let base = existing.map_or(self.defaults, |idx| self.settings_of(idx));
        let settings = base.merged(update, self.limits.max_window)?;
        let Some(idx) = existing else {
            self.admit(&update.sensor_id, Some(settings))?;
            return Ok(());
        };
        let before = match self.sensors[idx].own {
            Some(own) => self.capacity(&own),
            None => self.follower_samples(),
        };
        let after = self.capacity(&settings);
        self.check_samples((self.reserved_samples() - before).saturating_add(after))?;
        if self.sensors[idx].own.is_some() {
            self.own_samples -= before;
        } else {
            self.own.push(idx);
        }
        self.own_samples += after;
        self.set_own(idx, settings);
        Ok(())
    }

    /// Gives sensor `idx` its own `settings`, re-arming its deadline and shrinking its window
    /// at once if it now holds less.
    fn set_own(&mut self, idx: usize, settings: ProcessingSettings) {
        self.disarm(idx);
        let keep = self.capacity(&settings);
        let sensor = &mut self.sensors[idx];
        sensor.own = Some(settings);
        sensor.window.shrink_to(keep);
        self.arm(idx);
    }

    /// The index of `id`'s state, created on first sight (with `own` settings, or following
    /// the defaults), or why the stream cannot take another sensor.
    fn admit(&mut self, id: &str, own: Option<ProcessingSettings>) -> Result<usize, String> {
        if let Some(&idx) = self.index.get(id) {
            return Ok(idx);
        }
        let max = self.limits.max_sensors;
        if self.sensors.len() >= max {
            return Err(format!(
                "the stream already reports {max} distinct sensors (--sensor-max-sensors); \
                 open another stream for more"
            ));
        }
        let cost = own.map_or(self.follower_samples(), |s| self.capacity(&s));
        self.check_samples(self.reserved_samples().saturating_add(cost))?;
        let idx = self.sensors.len();
        if own.is_some() {
            self.own.push(idx);
            self.own_samples += cost;
        }
        self.sensors.push(Sensor {
            id: id.to_owned(),
            own,
            severity: None,
            silent: false,
            last_temp: 0.0,
            last_seen: None,
            window: Window::default(),
            armed: None,
        });
        self.index.insert(id.to_owned(), idx);
        Ok(idx)
    }

    /// Refuses a reservation of `samples` above the stream's budget.
    fn check_samples(&self, samples: usize) -> Result<(), String> {
        let max = self.limits.max_samples;
        if samples > max {
            return Err(format!(
                "the stream's windows would retain {samples} readings, more than its budget \
                 of {max} (--sensor-max-samples)"
            ));
        }
        Ok(())
    }

    /// Samples a window under `settings` holds at most.
    fn capacity(&self, settings: &ProcessingSettings) -> usize {
        if settings.has_window() {
            bounds(settings, self.limits.max_window).count
        } else {
            0
        }
    }

    /// Sensors following the defaults.
    fn followers(&self) -> usize {
        self.sensors.len() - self.own.len()
    }

    /// Samples each follower is charged: what the defaults hold, or more while a trim of a
    /// larger default window is pending.
    fn follower_samples(&self) -> usize {
        let now = self.capacity(&self.defaults);
        self.trim.as_ref().map_or(now, |t| t.held.max(now))
    }

    /// Trims the next few followers' windows to the defaults' size.
    fn trim_step(&mut self) {
        let Some(trim) = self.trim.as_mut() else {
            return;
        };
        let keep = if self.defaults.has_window() {
            bounds(&self.defaults, self.limits.max_window).count
        } else {
            0
        };
        let end = (trim.next + TRIM_STEP).min(self.sensors.len());
        for sensor in &mut self.sensors[trim.next..end] {
            if sensor.own.is_none() {
                sensor.window.shrink_to(keep);
            }
        }
        trim.next = end;
        if end == self.sensors.len() {
            self.trim = None;
        }
    }

    fn settings_of(&self, idx: usize) -> ProcessingSettings {
        self.sensors[idx].own.unwrap_or(self.defaults)
    }

    /// Puts `idx`'s missing-data deadline at last reading + timeout (none while silent or
    /// before its first reading; a follower is queued even without a timeout, since an
    /// all-sensor config may set one without visiting it).
    fn arm(&mut self, idx: usize) {
        let sensor = &mut self.sensors[idx];
        let Some(seen) = sensor.last_seen.filter(|_| !sensor.silent) else {
            return;
        };
        let key = match sensor.own {
            None => seen,
            Some(own) => match own.missing_timeout.and_then(|t| seen.checked_add(t)) {
                Some(due) => due,
                None => return,
            },
        };
        sensor.armed = Some(key);
        self.deadlines.insert(sensor.queue(), key, idx);
    }

    fn disarm(&mut self, idx: usize) {
        let sensor = &mut self.sensors[idx];
        if let Some(key) = sensor.armed.take() {
            self.deadlines.remove(sensor.queue(), key, idx);
        }
    }
}

#[cfg(test)]
mod tests;
