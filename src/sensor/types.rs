//! The plain Rust shapes that go into and come out of the [`Processor`](super::Processor):
//! no protobuf, no tonic, so the processing rules read and test on their own.

use std::time::{Instant, SystemTime};

/// The two clocks the processor needs, passed in so tests (and `tokio::time::pause`) control
/// them: wall time stamps readings and alerts, monotonic time drives missing-data deadlines
/// (immune to wall-clock jumps).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    /// Wall-clock time, for timestamps and the future-skew check.
    pub wall: SystemTime,
    /// Monotonic time, for missing-data deadlines.
    pub mono: Instant,
}

/// A reading's timestamp as the client sent it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stamp {
    /// Not given: the time of receipt is used.
    Unset,
    /// A representable instant.
    At(SystemTime),
    /// Given, but not a representable instant (out of range).
    Invalid,
}

/// One reading as it arrived, not yet validated.
#[derive(Clone, Debug)]
pub(crate) struct Reading {
    /// Which sensor reported.
    pub sensor_id: String,
    /// Degrees Celsius.
    pub temperature: f64,
    /// Relative humidity, percent.
    pub humidity: f64,
    /// When it was measured.
    pub timestamp: Stamp,
}

/// A signed span as the client sent it (protobuf `Duration`), validated by the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// Whole seconds; negative spans are refused.
    pub seconds: i64,
    /// Nanoseconds, with the same sign as `seconds`.
    pub nanos: i32,
}

/// A config change as it arrived: `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigUpdate {
    /// `""` = every sensor on the stream and the default for sensors seen later.
    pub sensor_id: String,
    /// The `alert` flag's level, and the warn level when `warn` is unset (°C).
    pub threshold: Option<f64>,
    /// Warn level (°C).
    pub warn: Option<f64>,
    /// Crit level (°C).
    pub crit: Option<f64>,
    /// How far below a level the temperature must drop before it resolves (°C).
    pub hysteresis: Option<f64>,
    /// Window over the last N readings.
    pub window_count: Option<u32>,
    /// Window over the readings of the last span (by reading timestamps).
    pub window_duration: Option<Span>,
    /// Missing-data timeout.
    pub missing_timeout: Option<Span>,
}

/// Minimum, maximum and mean temperature over a sensor's window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WindowStats {
    /// Readings in the window.
    pub count: u32,
    /// Lowest temperature (°C).
    pub min_c: f64,
    /// Highest temperature (°C).
    pub max_c: f64,
    /// Mean temperature (°C).
    pub mean_c: f64,
}

/// An accepted reading, converted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Processed {
    /// Which sensor reported.
    pub sensor_id: String,
    /// Degrees Celsius, as sent.
    pub temp_c: f64,
    /// `temp_c * 9 / 5 + 32`, not rounded.
    pub temp_f: f64,
    /// Relative humidity, percent.
    pub humidity: f64,
    /// `temp_c > threshold`, memoryless: a plain per-reading flag for clients that want no
    /// alert state, kept beside the stateful alerts.
    pub alert: bool,
    /// The reading's timestamp (time of receipt when it had none).
    pub timestamp: SystemTime,
    /// Window statistics including this reading, when a window is configured.
    pub window: Option<WindowStats>,
}

/// What kind of state change an [`Alert`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlertState {
    /// A level was crossed upward, or the firing severity changed.
    Firing,
    /// Back below `level - hysteresis`, or a silent sensor reported again.
    Resolved,
    /// No reading within the missing-data timeout.
    Silent,
}

/// Alert severity, ordered: `Warn < Crit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    /// Above the warn level.
    Warn,
    /// Above the crit level.
    Crit,
}

/// A state change of one sensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Alert {
    /// Which sensor changed state.
    pub sensor_id: String,
    /// What changed.
    pub state: AlertState,
    /// FIRING: the new severity. RESOLVED: the severity that cleared (`None` when the sensor
    /// came back from silence). SILENT: the severity firing when it went quiet, if any.
    pub severity: Option<Severity>,
    /// The reading that caused the change (the last one seen, for SILENT).
    pub temp_c: f64,
    /// The level crossed.
    pub threshold: f64,
    /// The reading's timestamp, or the moment the sensor was declared silent.
    pub at: SystemTime,
    /// Human-readable summary.
    pub message: String,
    /// The sensor's window statistics at that moment, when a window is configured.
    pub window: Option<WindowStats>,
}

/// Why a reading was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RejectCode {
    /// `sensor_id` is empty.
    EmptySensorId,
    /// A number is NaN or infinite.
    NotFinite,
    /// A value is physically impossible, or the timestamp is not representable.
    OutOfRange,
    /// The timestamp lies further in the future than the allowed skew.
    FutureTimestamp,
    /// `sensor_id` is longer than the limit.
    SensorIdTooLong,
    /// A new sensor the stream cannot take: it already has `--sensor-max-sensors` sensors, or
    /// the new sensor's window would exceed `--sensor-max-samples`.
    OverLimit,
}

/// A refused reading; the stream goes on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejected {
    /// The reading's sensor id, as sent.
    pub sensor_id: String,
    /// Why, naming the field.
    pub reason: String,
    /// Machine-readable reason.
    pub code: RejectCode,
}

/// A refused config; the previous config stays in force and the stream goes on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConfigRejected {
    /// The config's sensor id (`""` = all sensors).
    pub sensor_id: String,
    /// Why, naming the field.
    pub reason: String,
}

/// One message for the client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Output {
    /// An accepted reading.
    Reading(Processed),
    /// A state change.
    Alert(Alert),
    /// A refused reading.
    Rejected(Rejected),
    /// A refused config.
    ConfigRejected(ConfigRejected),
}
