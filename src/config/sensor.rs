//! SensorFeed: per-stream limits and buffering.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::Args;

use super::{ConfigError, at_least_one};

/// `--sensor-max-streams`: the SensorFeed bench's 1,000 concurrent streams fit; each stream
/// may retain ~20 MiB at the per-stream limits, so lower it (or those) for a small host.
pub(crate) const DEFAULT_SENSOR_MAX_STREAMS: NonZeroUsize = NonZeroUsize::new(1_000).unwrap();

/// Ten thousand sensors per stream: a building's worth, with per-sensor state of a few KiB each.
pub(super) const DEFAULT_SENSOR_MAX_SENSORS: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// 64 KiB: a reading is tens of bytes and a config update hundreds; anything larger is a mistake or
/// an attack.
pub(super) const DEFAULT_SENSOR_MAX_MESSAGE_BYTES: NonZeroUsize =
    NonZeroUsize::new(64 * 1024).unwrap();

/// Five seconds of clock skew tolerated, as NTP-synchronised devices stay well within it.
pub(super) const DEFAULT_SENSOR_MAX_FUTURE_SKEW: &str = "5s";

/// 64 outgoing events buffered per stream before backpressure reaches the sender.
pub(super) const DEFAULT_SENSOR_BUFFER: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// Ten thousand readings per window: minutes of a fast sensor, bounded memory per sensor.
pub(super) const DEFAULT_SENSOR_MAX_WINDOW: NonZeroU32 = NonZeroU32::new(10_000).unwrap();

/// Samples held across one stream's windows: about 20 MiB at most per stream.
pub(super) const DEFAULT_SENSOR_MAX_SAMPLES: NonZeroUsize = NonZeroUsize::new(100_000).unwrap();

/// The SensorFeed flags.
#[derive(Clone, Debug, Args)]
pub struct SensorArgs {
    /// SensorFeed streams open at once on the whole server; one more is refused with
    /// RESOURCE_EXHAUSTED naming this flag (the per-stream limits bound each one, this bounds
    /// their number).
    #[arg(
        long = "sensor-max-streams",
        env = "STREAMGATE_SENSOR_MAX_STREAMS",
        default_value_t = DEFAULT_SENSOR_MAX_STREAMS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_streams: NonZeroUsize,

    /// Distinct sensors one SensorFeed stream may report; a reading or config naming one more
    /// is rejected in-band and the stream goes on.
    #[arg(
        long = "sensor-max-sensors",
        env = "STREAMGATE_SENSOR_MAX_SENSORS",
        default_value_t = DEFAULT_SENSOR_MAX_SENSORS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_sensors: NonZeroUsize,

    /// Largest gRPC message accepted on SensorFeed (bytes).
    #[arg(long = "sensor-max-message-bytes", env = "STREAMGATE_SENSOR_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_SENSOR_MAX_MESSAGE_BYTES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_message_bytes: NonZeroUsize,

    /// How far in the future a reading's timestamp may be.
    #[arg(long = "sensor-max-future-skew", env = "STREAMGATE_SENSOR_MAX_FUTURE_SKEW", value_parser = humantime::parse_duration, default_value = DEFAULT_SENSOR_MAX_FUTURE_SKEW)]
    pub max_future_skew: Duration,

    /// Requests a SensorFeed stream reads per poll, and so the responses it holds before it
    /// stops reading (the client's sends then stall under HTTP/2 flow control).
    #[arg(
        long = "sensor-buffer",
        env = "STREAMGATE_SENSOR_BUFFER",
        default_value_t = DEFAULT_SENSOR_BUFFER,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub buffer: NonZeroUsize,

    /// Longest window (count) a FeedConfig may ask for.
    #[arg(
        long = "sensor-max-window",
        env = "STREAMGATE_SENSOR_MAX_WINDOW",
        default_value_t = DEFAULT_SENSOR_MAX_WINDOW,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub max_window: NonZeroU32,

    /// Window readings all sensors of one SensorFeed stream may be configured to retain
    /// together (a count window holds its count; a duration-only window up to
    /// `--sensor-max-window`). A config or new sensor beyond it is rejected in-band.
    #[arg(
        long = "sensor-max-samples",
        env = "STREAMGATE_SENSOR_MAX_SAMPLES",
        default_value_t = DEFAULT_SENSOR_MAX_SAMPLES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_samples: NonZeroUsize,
}

/// The checked settings of SensorService.
#[derive(Clone, Copy, Debug)]
pub struct SensorSettings {
    /// SensorFeed streams open at once, server-wide.
    pub max_streams: NonZeroUsize,
    /// Distinct sensors per stream.
    pub max_sensors: NonZeroUsize,
    /// Largest gRPC message on SensorFeed.
    pub max_message_bytes: NonZeroUsize,
    /// How far ahead a reading's timestamp may be.
    pub max_future_skew: Duration,
    /// Requests read per poll and responses held per stream.
    pub buffer: NonZeroUsize,
    /// Longest count window.
    pub max_window: NonZeroU32,
    /// Window readings retained per stream.
    pub max_samples: NonZeroUsize,
}

impl SensorArgs {
    pub(super) fn settings(&self) -> Result<SensorSettings, ConfigError> {
        Ok(SensorSettings {
            max_streams: self.max_streams,
            max_sensors: self.max_sensors,
            max_message_bytes: self.max_message_bytes,
            max_future_skew: self.max_future_skew,
            buffer: self.buffer,
            max_samples: self.max_samples,
            max_window: self.max_window,
        })
    }
}
