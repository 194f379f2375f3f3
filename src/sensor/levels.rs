//! The warn/crit state machine of one sensor, with hysteresis: a level fires when the
//! temperature rises above it and resolves only once it drops to `level - hysteresis` or
//! below, so a value hovering at a level does not flap (Kapacitor's warnReset/critReset).
//!
//! A sensor has one state at a time (none, WARN or CRIT); every change is one alert:
//! FIRING with the new severity (up from none, WARN → CRIT, or CRIT → WARN while still above
//! warn), RESOLVED with the severity that cleared when it drops back to none.

use super::settings::ProcessingSettings;
use super::types::{AlertState, Severity};

/// The severity after a reading of `temp`, given the severity before it.
pub(super) fn next_severity(
    current: Option<Severity>,
    temp: f64,
    s: &ProcessingSettings,
) -> Option<Severity> {
    let h = s.hysteresis;
    if let Some(crit) = s.crit {
        if temp > crit || (current == Some(Severity::Crit) && temp > crit - h) {
            return Some(Severity::Crit);
        }
    }
    let warn = s.warn_level();
    if temp > warn || (current.is_some() && temp > warn - h) {
        return Some(Severity::Warn);
    }
    None
}

/// The level a severity fires above.
pub(super) fn level_of(severity: Severity, s: &ProcessingSettings) -> f64 {
    match severity {
        Severity::Warn => s.warn_level(),
        Severity::Crit => s.crit.unwrap_or_else(|| s.warn_level()),
    }
}

/// The alert a change from `before` to `after` calls for, if any: (state, severity).
pub(super) fn transition(
    before: Option<Severity>,
    after: Option<Severity>,
) -> Option<(AlertState, Severity)> {
    match (before, after) {
        (b, a) if b == a => None,
        (_, Some(a)) => Some((AlertState::Firing, a)),
        (Some(b), None) => Some((AlertState::Resolved, b)),
        (None, None) => None,
    }
}

/// A short upper-case name for messages.
pub(super) fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Warn => "WARN",
        Severity::Crit => "CRIT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(warn: f64, crit: Option<f64>, h: f64) -> ProcessingSettings {
        ProcessingSettings {
            warn: Some(warn),
            crit,
            hysteresis: h,
            ..ProcessingSettings::default()
        }
    }

    fn run(s: &ProcessingSettings, temps: &[f64]) -> Vec<(AlertState, Severity)> {
        let mut sev = None;
        let mut out = Vec::new();
        for &t in temps {
            let next = next_severity(sev, t, s);
            out.extend(transition(sev, next));
            sev = next;
        }
        out
    }

    #[test]
    fn oscillation_inside_the_hysteresis_band_fires_once_and_resolves_once() {
        let s = settings(28.0, None, 1.0);
        let temps = [27.0, 28.2, 27.9, 28.3, 27.5, 28.1, 27.1, 26.9, 27.5];
        assert_eq!(
            run(&s, &temps),
            vec![
                (AlertState::Firing, Severity::Warn),
                (AlertState::Resolved, Severity::Warn)
            ]
        );
    }

    #[test]
    fn without_hysteresis_every_crossing_is_a_change() {
        let s = settings(28.0, None, 0.0);
        assert_eq!(run(&s, &[28.1, 28.0, 28.1, 28.0]).len(), 4);
    }

    #[test]
    fn crit_escalates_and_steps_back_down_through_warn() {
        let s = settings(30.0, Some(40.0), 2.0);
        let got = run(&s, &[35.0, 41.0, 39.0, 37.5, 29.0, 27.9]);
        use AlertState::*;
        use Severity::*;
        assert_eq!(
            got,
            vec![
                (Firing, Warn),
                (Firing, Crit),
                (Firing, Warn),
                (Resolved, Warn)
            ]
        );
    }

    #[test]
    fn a_jump_straight_past_crit_is_one_firing_crit() {
        let s = settings(30.0, Some(40.0), 0.0);
        let got = run(&s, &[20.0, 45.0, 20.0]);
        assert_eq!(
            got,
            vec![
                (AlertState::Firing, Severity::Crit),
                (AlertState::Resolved, Severity::Crit)
            ]
        );
    }
}
