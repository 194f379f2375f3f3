//! Per-sensor processing settings, and how a [`ConfigUpdate`] changes them: merged field by
//! field, then checked as a whole so that no sensor ever runs with settings that make no
//! sense (warn above crit, a zero window).

use std::time::Duration;

use super::types::{ConfigUpdate, Span};

/// The default level of the `alert` flag (°C): `alert = temperature > 28.0`, warm for an
/// indoor space, so a fresh stream flags overheating without any config.
pub(crate) const DEFAULT_THRESHOLD: f64 = 28.0;

/// How one sensor's readings are processed (levels, window, silence); always valid once built.
/// (The server-wide SensorFeed limits are `config::SensorSettings`.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ProcessingSettings {
    /// Level of the `alert` flag; also the warn level when `warn` is unset.
    pub threshold: f64,
    /// Explicit warn level.
    pub warn: Option<f64>,
    /// Crit level; `None` = no crit alerts.
    pub crit: Option<f64>,
    /// Resolve only at `level - hysteresis` or below.
    pub hysteresis: f64,
    /// Window over the last N readings.
    pub window_count: Option<u32>,
    /// Window over the readings of the last span.
    pub window_duration: Option<Duration>,
    /// Declare the sensor silent after this long without a reading.
    pub missing_timeout: Option<Duration>,
}

impl Default for ProcessingSettings {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            warn: None,
            crit: None,
            hysteresis: 0.0,
            window_count: None,
            window_duration: None,
            missing_timeout: None,
        }
    }
}

impl ProcessingSettings {
    /// The level a WARN alert fires above.
    pub(crate) fn warn_level(&self) -> f64 {
        self.warn.unwrap_or(self.threshold)
    }

    /// Whether readings keep window statistics.
    pub(crate) fn has_window(&self) -> bool {
        self.window_count.is_some() || self.window_duration.is_some()
    }

    /// These settings with `update` applied, or why the result would make no sense (naming
    /// the field). `max_window` is the server's cap on `window_count`.
    pub(crate) fn merged(
        &self,
        update: &ConfigUpdate,
        max_window: u32,
    ) -> Result<ProcessingSettings, String> {
        let mut next = *self;
        if let Some(v) = update.threshold {
            next.threshold = finite("threshold", v)?;
        }
        if let Some(v) = update.warn {
            next.warn = Some(finite("warn", v)?);
        }
        if let Some(v) = update.crit {
            next.crit = Some(finite("crit", v)?);
        }
        if let Some(v) = update.hysteresis {
            let v = finite("hysteresis", v)?;
            if v < 0.0 {
                return Err(format!("hysteresis must not be negative, got {v}"));
            }
            next.hysteresis = v;
        }
        if let Some(n) = update.window_count {
            if n == 0 {
                return Err("window_count must be at least 1".into());
            }
            if n > max_window {
                return Err(format!(
                    "window_count {n} exceeds the server's limit of {max_window}"
                ));
            }
            next.window_count = Some(n);
        }
        if let Some(span) = update.window_duration {
            next.window_duration = Some(positive("window_duration", span)?);
        }
        if let Some(span) = update.missing_timeout {
            next.missing_timeout = Some(positive("missing_timeout", span)?);
        }
        if let Some(crit) = next.crit {
            let warn = next.warn_level();
            if warn > crit {
                let name = if next.warn.is_some() {
                    "warn"
                } else {
                    "threshold"
                };
                return Err(format!("{name} ({warn}) is above crit ({crit})"));
            }
        }
        Ok(next)
    }
}

fn finite(field: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{field} must be a finite number, got {v}"))
    }
}

/// A strictly positive span, from the protobuf shape (which can be negative or malformed).
fn positive(field: &str, span: Span) -> Result<Duration, String> {
    let Span { seconds, nanos } = span;
    if !(0..1_000_000_000).contains(&nanos) || seconds < 0 {
        return Err(format!(
            "{field} must be a positive duration, got {seconds}s {nanos}ns"
        ));
    }
    let d = Duration::new(seconds as u64, nanos as u32);
    if d.is_zero() {
        return Err(format!("{field} must be longer than 0"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> ConfigUpdate {
        ConfigUpdate::default()
    }

    #[test]
    fn defaults_are_the_seed_threshold_without_extras() {
        let s = ProcessingSettings::default();
        assert_eq!(s.threshold, 28.0);
        assert_eq!(s.warn_level(), 28.0);
        assert!(!s.has_window());
        assert!(s.missing_timeout.is_none());
    }

    #[test]
    fn unset_fields_keep_their_value() {
        let s = ProcessingSettings::default()
            .merged(
                &ConfigUpdate {
                    crit: Some(40.0),
                    ..update()
                },
                100,
            )
            .unwrap();
        let s = s
            .merged(
                &ConfigUpdate {
                    hysteresis: Some(1.5),
                    ..update()
                },
                100,
            )
            .unwrap();
        assert_eq!(s.crit, Some(40.0));
        assert_eq!(s.hysteresis, 1.5);
        assert_eq!(s.threshold, 28.0);
    }

    #[test]
    fn warn_above_crit_is_refused_naming_both() {
        let err = ProcessingSettings::default()
            .merged(
                &ConfigUpdate {
                    warn: Some(50.0),
                    crit: Some(40.0),
                    ..update()
                },
                100,
            )
            .unwrap_err();
        assert!(err.contains("warn (50) is above crit (40)"), "{err}");
    }

    #[test]
    fn threshold_standing_in_for_warn_above_crit_is_refused() {
        let err = ProcessingSettings::default()
            .merged(
                &ConfigUpdate {
                    crit: Some(20.0),
                    ..update()
                },
                100,
            )
            .unwrap_err();
        assert!(err.contains("threshold (28) is above crit (20)"), "{err}");
    }

    #[test]
    fn zero_and_oversized_windows_are_refused() {
        let s = ProcessingSettings::default();
        let zero = s.merged(
            &ConfigUpdate {
                window_count: Some(0),
                ..update()
            },
            100,
        );
        assert!(zero.unwrap_err().contains("window_count"));
        let big = s.merged(
            &ConfigUpdate {
                window_count: Some(101),
                ..update()
            },
            100,
        );
        assert!(big.unwrap_err().contains("limit of 100"));
    }

    #[test]
    fn negative_or_zero_durations_are_refused() {
        let s = ProcessingSettings::default();
        let neg = Span {
            seconds: -1,
            nanos: 0,
        };
        let err = s
            .merged(
                &ConfigUpdate {
                    window_duration: Some(neg),
                    ..update()
                },
                100,
            )
            .unwrap_err();
        assert!(err.contains("window_duration"), "{err}");
        let zero = Span {
            seconds: 0,
            nanos: 0,
        };
        let err = s
            .merged(
                &ConfigUpdate {
                    missing_timeout: Some(zero),
                    ..update()
                },
                100,
            )
            .unwrap_err();
        assert!(err.contains("missing_timeout"), "{err}");
    }

    #[test]
    fn non_finite_levels_and_negative_hysteresis_are_refused() {
        let s = ProcessingSettings::default();
        let nan = s.merged(
            &ConfigUpdate {
                threshold: Some(f64::NAN),
                ..update()
            },
            100,
        );
        assert!(nan.unwrap_err().contains("threshold"));
        let neg = s.merged(
            &ConfigUpdate {
                hysteresis: Some(-0.1),
                ..update()
            },
            100,
        );
        assert!(neg.unwrap_err().contains("hysteresis"));
    }
}
