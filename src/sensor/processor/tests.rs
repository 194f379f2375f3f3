//! Unit tests of the processor: every rule with hand-made clocks, no network, no tokio.

use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::sensor::types::{AlertState, Processed, RejectCode, Severity, Span, Stamp, WindowStats};

fn limits(max_sensors: usize) -> StreamLimits {
    StreamLimits {
        max_sensors,
        max_window: 1_000,
        max_samples: 100_000,
        rules: ReadingRules {
            max_future_skew: Duration::from_secs(5),
            max_sensor_id_bytes: 64,
        },
    }
}

/// A controllable pair of clocks starting at a fixed wall time.
struct Clock {
    wall: SystemTime,
    mono: Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            mono: Instant::now(),
        }
    }
    fn now(&self) -> Now {
        Now {
            wall: self.wall,
            mono: self.mono,
        }
    }
    fn advance(&mut self, d: Duration) {
        self.wall += d;
        self.mono += d;
    }
}

fn reading(id: &str, t: f64) -> Reading {
    Reading {
        sensor_id: id.into(),
        temperature: t,
        humidity: 50.0,
        timestamp: Stamp::Unset,
    }
}

fn feed(p: &mut Processor, clock: &Clock, id: &str, t: f64) -> Vec<Output> {
    let mut out = Vec::new();
    p.reading(reading(id, t), clock.now(), &mut out);
    out
}

fn configure(p: &mut Processor, clock: &Clock, update: ConfigUpdate) -> Vec<Output> {
    let mut out = Vec::new();
    p.config(update, clock.now(), &mut out);
    out
}

fn processed(out: &[Output]) -> &Processed {
    match out.first() {
        Some(Output::Reading(r)) => r,
        other => panic!("expected a processed reading first, got {other:?}"),
    }
}

fn alerts(out: &[Output]) -> Vec<(AlertState, Option<Severity>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Alert(a) => Some((a.state, a.severity)),
            _ => None,
        })
        .collect()
}

fn secs(s: i64) -> Span {
    Span {
        seconds: s,
        nanos: 0,
    }
}

#[test]
fn seed_behaviour_converts_to_fahrenheit_and_flags_above_28() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let out = feed(&mut p, &clock, "s1", 20.0);
    assert_eq!(processed(&out).temp_f, 68.0);
    assert!(!processed(&out).alert);
    assert!(alerts(&out).is_empty());
    let out = feed(&mut p, &clock, "s1", 28.0);
    assert!(!processed(&out).alert, "28.0 is not above 28.0");
    let out = feed(&mut p, &clock, "s1", 28.01);
    assert!(processed(&out).alert);
    assert_eq!(
        alerts(&out),
        vec![(AlertState::Firing, Some(Severity::Warn))]
    );
}

#[test]
fn fahrenheit_is_exact_not_rounded() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let out = feed(&mut p, &clock, "s1", 20.005);
    let f = processed(&out).temp_f;
    assert_eq!(f, 20.005 * 9.0 / 5.0 + 32.0);
    assert_ne!(f, 68.01, "rounding for display is left to clients");
}

#[test]
fn alerts_come_only_on_state_changes() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let mut all = Vec::new();
    for t in [30.0, 31.0, 32.0, 29.0, 20.0, 21.0, 19.0] {
        all.extend(alerts(&feed(&mut p, &clock, "s1", t)));
    }
    assert_eq!(
        all,
        vec![
            (AlertState::Firing, Some(Severity::Warn)),
            (AlertState::Resolved, Some(Severity::Warn))
        ]
    );
}

#[test]
fn per_sensor_config_changes_only_that_sensor() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let update = ConfigUpdate {
        sensor_id: "a".into(),
        threshold: Some(30.0),
        ..Default::default()
    };
    assert!(configure(&mut p, &clock, update).is_empty());
    assert!(!processed(&feed(&mut p, &clock, "a", 29.0)).alert);
    assert!(processed(&feed(&mut p, &clock, "b", 29.0)).alert);
}

#[test]
fn all_sensors_config_changes_existing_and_later_sensors() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let per = ConfigUpdate {
        sensor_id: "a".into(),
        threshold: Some(40.0),
        ..Default::default()
    };
    configure(&mut p, &clock, per);
    feed(&mut p, &clock, "b", 20.0);
    let all = ConfigUpdate {
        threshold: Some(35.0),
        ..Default::default()
    };
    assert!(configure(&mut p, &clock, all).is_empty());
    for id in ["a", "b", "c"] {
        assert!(
            !processed(&feed(&mut p, &clock, id, 34.0)).alert,
            "{id} at 34 °C"
        );
        assert!(
            processed(&feed(&mut p, &clock, id, 35.5)).alert,
            "{id} at 35.5 °C"
        );
    }
}

#[test]
fn all_sensors_config_that_breaks_one_sensor_is_refused_whole() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let per = ConfigUpdate {
        sensor_id: "a".into(),
        crit: Some(40.0),
        ..Default::default()
    };
    configure(&mut p, &clock, per);
    let all = ConfigUpdate {
        warn: Some(50.0),
        ..Default::default()
    };
    let out = configure(&mut p, &clock, all);
    match out.as_slice() {
        [Output::ConfigRejected(r)] => {
            assert_eq!(r.sensor_id, "");
            assert!(
                r.reason.contains("sensor a") && r.reason.contains("warn"),
                "{}",
                r.reason
            );
        }
        other => panic!("expected one ConfigRejected, got {other:?}"),
    }
    // The old settings stay: b (defaults) still alerts above 28.
    assert!(processed(&feed(&mut p, &clock, "b", 29.0)).alert);
}

#[test]
fn refused_config_keeps_the_previous_one_and_processing_goes_on() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let bad = ConfigUpdate {
        sensor_id: "a".into(),
        window_count: Some(0),
        ..Default::default()
    };
    let out = configure(&mut p, &clock, bad);
    assert!(
        matches!(out.as_slice(), [Output::ConfigRejected(r)] if r.reason.contains("window_count"))
    );
    let out = feed(&mut p, &clock, "a", 29.0);
    assert!(processed(&out).alert);
    assert_eq!(processed(&out).window, None);
}

#[test]
fn hysteresis_turns_an_oscillation_into_one_firing_and_one_resolved() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    configure(
        &mut p,
        &clock,
        ConfigUpdate {
            hysteresis: Some(0.5),
            ..Default::default()
        },
    );
    let mut all = Vec::new();
    for i in 0..100 {
        let t = if i % 2 == 0 { 28.2 } else { 27.8 };
        all.extend(alerts(&feed(&mut p, &clock, "s1", t)));
    }
    all.extend(alerts(&feed(&mut p, &clock, "s1", 27.5)));
    assert_eq!(
        all,
        vec![
            (AlertState::Firing, Some(Severity::Warn)),
            (AlertState::Resolved, Some(Severity::Warn))
        ]
    );
}

#[test]
fn warn_and_crit_escalate_and_resolve() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let levels = ConfigUpdate {
        warn: Some(30.0),
        crit: Some(40.0),
        ..Default::default()
    };
    configure(&mut p, &clock, levels);
    let mut all = Vec::new();
    for t in [25.0, 31.0, 41.0, 20.0] {
        all.extend(alerts(&feed(&mut p, &clock, "s1", t)));
    }
    assert_eq!(
        all,
        vec![
            (AlertState::Firing, Some(Severity::Warn)),
            (AlertState::Firing, Some(Severity::Crit)),
            (AlertState::Resolved, Some(Severity::Crit))
        ]
    );
}

#[test]
fn count_window_stats_ride_on_each_processed_reading() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    configure(
        &mut p,
        &clock,
        ConfigUpdate {
            window_count: Some(3),
            ..Default::default()
        },
    );
    let mut last = None;
    for t in [10.0, 20.0, 30.0, 40.0] {
        last = processed(&feed(&mut p, &clock, "s1", t)).window;
    }
    assert_eq!(
        last,
        Some(WindowStats {
            count: 3,
            min_c: 20.0,
            max_c: 40.0,
            mean_c: 30.0
        })
    );
}

#[test]
fn duration_window_covers_the_readings_of_the_last_span() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let w = ConfigUpdate {
        window_duration: Some(secs(10)),
        ..Default::default()
    };
    configure(&mut p, &clock, w);
    feed(&mut p, &clock, "s1", 10.0);
    clock.advance(Duration::from_secs(6));
    feed(&mut p, &clock, "s1", 20.0);
    clock.advance(Duration::from_secs(6));
    let out = feed(&mut p, &clock, "s1", 30.0);
    assert_eq!(
        processed(&out).window,
        Some(WindowStats {
            count: 2,
            min_c: 20.0,
            max_c: 30.0,
            mean_c: 25.0
        })
    );
}

#[test]
fn deadman_fires_once_after_the_timeout_and_resolves_on_the_next_reading() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let dm = ConfigUpdate {
        missing_timeout: Some(secs(5)),
        ..Default::default()
    };
    configure(&mut p, &clock, dm);
    assert_eq!(
        p.next_deadline(),
        None,
        "no deadline before the first reading"
    );
    feed(&mut p, &clock, "s1", 20.0);
    assert_eq!(p.next_deadline(), Some(clock.mono + Duration::from_secs(5)));

    let mut out = Vec::new();
    clock.advance(Duration::from_millis(4_999));
    p.expire(clock.now(), &mut out);
    assert!(out.is_empty());
    clock.advance(Duration::from_millis(1));
    p.expire(clock.now(), &mut out);
    assert_eq!(alerts(&out), vec![(AlertState::Silent, None)]);
    assert_eq!(p.next_deadline(), None, "silence is reported once");
    clock.advance(Duration::from_secs(60));
    p.expire(clock.now(), &mut out);
    assert_eq!(out.len(), 1);

    let out = feed(&mut p, &clock, "s1", 21.0);
    assert_eq!(processed(&out).temp_c, 21.0);
    assert_eq!(alerts(&out), vec![(AlertState::Resolved, None)]);
    assert_eq!(p.next_deadline(), Some(clock.mono + Duration::from_secs(5)));
}

#[test]
fn each_reading_pushes_the_deadline_back() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let dm = ConfigUpdate {
        missing_timeout: Some(secs(5)),
        ..Default::default()
    };
    configure(&mut p, &clock, dm);
    for _ in 0..10 {
        feed(&mut p, &clock, "s1", 20.0);
        clock.advance(Duration::from_secs(4));
        let mut out = Vec::new();
        p.expire(clock.now(), &mut out);
        assert!(out.is_empty());
    }
}

#[test]
fn a_reading_after_a_missed_deadline_reports_the_silence_first() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let dm = ConfigUpdate {
        missing_timeout: Some(secs(5)),
        ..Default::default()
    };
    configure(&mut p, &clock, dm);
    feed(&mut p, &clock, "a", 20.0);
    clock.advance(Duration::from_secs(7));
    let out = feed(&mut p, &clock, "a", 20.0);
    assert!(matches!(&out[0], Output::Alert(a) if a.state == AlertState::Silent));
    assert!(matches!(&out[1], Output::Reading(_)));
    assert!(matches!(&out[2], Output::Alert(a) if a.state == AlertState::Resolved));
}

#[test]
fn silent_alert_carries_the_last_reading_and_firing_severity() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let dm = ConfigUpdate {
        missing_timeout: Some(secs(1)),
        ..Default::default()
    };
    configure(&mut p, &clock, dm);
    feed(&mut p, &clock, "a", 29.5);
    clock.advance(Duration::from_secs(2));
    let mut out = Vec::new();
    p.expire(clock.now(), &mut out);
    match out.as_slice() {
        [Output::Alert(a)] => {
            assert_eq!(
                (a.state, a.severity, a.temp_c),
                (AlertState::Silent, Some(Severity::Warn), 29.5)
            );
            assert_eq!(a.threshold, 28.0);
            assert_eq!(a.at, clock.wall);
        }
        other => panic!("expected one SILENT alert, got {other:?}"),
    }
}

#[test]
fn every_rejection_is_in_band_and_processing_goes_on() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(10));
    let future = Stamp::At(clock.wall + Duration::from_secs(6));
    let bad = [
        (reading("", 20.0), RejectCode::EmptySensorId),
        (reading(&"x".repeat(65), 20.0), RejectCode::SensorIdTooLong),
        (reading("a", f64::NAN), RejectCode::NotFinite),
        (reading("a", f64::NEG_INFINITY), RejectCode::NotFinite),
        (reading("a", 150.0), RejectCode::OutOfRange),
        (
            Reading {
                humidity: 101.0,
                ..reading("a", 20.0)
            },
            RejectCode::OutOfRange,
        ),
        (
            Reading {
                timestamp: future,
                ..reading("a", 20.0)
            },
            RejectCode::FutureTimestamp,
        ),
    ];
    for (r, code) in bad {
        let mut out = Vec::new();
        p.reading(r, clock.now(), &mut out);
        assert!(
            matches!(out.as_slice(), [Output::Rejected(x)] if x.code == code),
            "{out:?}"
        );
        assert_eq!(processed(&feed(&mut p, &clock, "ok", 20.0)).temp_f, 68.0);
    }
    assert_eq!(
        p.sensor_count(),
        1,
        "rejected readings create no sensor state"
    );
}

#[test]
fn the_sensor_limit_counts_readings_and_configs_alike_and_is_answered_in_band() {
    let clock = Clock::new();
    let mut p = Processor::new(limits(2));
    feed(&mut p, &clock, "a", 20.0);
    configure(
        &mut p,
        &clock,
        ConfigUpdate {
            sensor_id: "b".into(),
            ..Default::default()
        },
    );
    feed(&mut p, &clock, "a", 20.0);
    feed(&mut p, &clock, "b", 20.0);
    let out = feed(&mut p, &clock, "c", 20.0);
    assert!(
        matches!(out.as_slice(), [Output::Rejected(r)]
            if r.code == RejectCode::OverLimit && r.reason.contains("--sensor-max-sensors")),
        "{out:?}"
    );
    let c = ConfigUpdate {
        sensor_id: "c".into(),
        ..Default::default()
    };
    let out = configure(&mut p, &clock, c);
    assert!(
        matches!(out.as_slice(), [Output::ConfigRejected(r)] if r.reason.contains("--sensor-max-sensors")),
        "{out:?}"
    );
    assert_eq!(p.sensor_count(), 2);
    assert_eq!(
        processed(&feed(&mut p, &clock, "a", 20.0)).temp_f,
        68.0,
        "the stream goes on"
    );
}

fn with_samples(max_sensors: usize, max_samples: usize) -> Processor {
    Processor::new(StreamLimits {
        max_samples,
        ..limits(max_sensors)
    })
}

fn window(id: &str, n: u32) -> ConfigUpdate {
    ConfigUpdate {
        sensor_id: id.into(),
        window_count: Some(n),
        ..Default::default()
    }
}

fn rejected_config(out: &[Output]) -> &str {
    match out {
        [Output::ConfigRejected(r)] => &r.reason,
        other => panic!("expected a ConfigRejected, got {other:?}"),
    }
}

#[test]
fn per_sensor_windows_beyond_the_sample_budget_are_refused_in_band() {
    let clock = Clock::new();
    let mut p = with_samples(100, 1_000);
    assert!(configure(&mut p, &clock, window("a", 600)).is_empty());
    let out = configure(&mut p, &clock, window("b", 600));
    assert!(
        rejected_config(&out).contains("--sensor-max-samples"),
        "{out:?}"
    );
    assert_eq!(p.sensor_count(), 1, "the refused config created no sensor");
    assert!(configure(&mut p, &clock, window("b", 400)).is_empty());
    // Shrinking one window frees its share at once.
    assert!(configure(&mut p, &clock, window("a", 100)).is_empty());
    assert!(configure(&mut p, &clock, window("c", 500)).is_empty());
    assert_eq!(p.reserved_samples(), 1_000);
}

#[test]
fn a_new_sensor_whose_default_window_does_not_fit_is_rejected_in_band() {
    let clock = Clock::new();
    let mut p = with_samples(100, 250);
    assert!(configure(&mut p, &clock, window("", 100)).is_empty());
    feed(&mut p, &clock, "a", 20.0);
    feed(&mut p, &clock, "b", 20.0);
    let out = feed(&mut p, &clock, "c", 20.0);
    assert!(
        matches!(out.as_slice(), [Output::Rejected(r)]
            if r.code == RejectCode::OverLimit && r.reason.contains("--sensor-max-samples")),
        "{out:?}"
    );
    // An all-sensor config growing every window past the budget is refused whole.
    let out = configure(&mut p, &clock, window("", 200));
    assert!(
        rejected_config(&out).contains("--sensor-max-samples"),
        "{out:?}"
    );
    assert_eq!(
        processed(&feed(&mut p, &clock, "a", 20.0))
            .window
            .unwrap()
            .count,
        2
    );
}

#[test]
fn retained_samples_never_exceed_the_budget_while_windows_are_reconfigured() {
    let mut clock = Clock::new();
    let budget = 2_000;
    let mut p = with_samples(1_000, budget);
    // Fill many followers' windows, shrink the default, grow per-sensor windows, repeat:
    // what the windows held before must not stay behind on top of the new reservations.
    for round in 0..4u32 {
        assert!(configure(&mut p, &clock, window("", 100)).is_empty() || round > 0);
        for i in 0..20 {
            for _ in 0..100 {
                feed(&mut p, &clock, &format!("f{round}-{i}"), 20.0);
                clock.advance(Duration::from_millis(1));
            }
        }
        configure(&mut p, &clock, window("", 1));
        for i in 0..5 {
            configure(&mut p, &clock, window(&format!("own{round}-{i}"), 300));
        }
        assert!(
            p.retained_samples() <= p.reserved_samples() && p.reserved_samples() <= budget,
            "round {round}: retained {} reserved {}",
            p.retained_samples(),
            p.reserved_samples()
        );
    }
}

#[test]
fn an_all_sensor_config_visits_only_sensors_with_settings_of_their_own() {
    let mut clock = Clock::new();
    let mut p = Processor::new(limits(10_000));
    for i in 0..5_000 {
        feed(&mut p, &clock, &format!("s{i}"), 20.0);
    }
    configure(
        &mut p,
        &clock,
        ConfigUpdate {
            sensor_id: "s7".into(),
            missing_timeout: Some(secs(60)),
            ..Default::default()
        },
    );
    assert_eq!(p.own.len(), 1, "one sensor has settings of its own");
    // The defaults' timeout reaches all 4,999 followers without visiting them, in order.
    configure(
        &mut p,
        &clock,
        ConfigUpdate {
            sensor_id: String::new(),
            missing_timeout: Some(secs(10)),
            ..Default::default()
        },
    );
    clock.advance(Duration::from_secs(11));
    let mut out = Vec::new();
    p.expire(clock.now(), &mut out);
    assert_eq!(out.len(), 5_000, "every sensor went silent once");
}
