//! Conversions between `std::time` and the protobuf well-known time types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `std` duration as a protobuf `Duration` (saturating at `i64::MAX` seconds).
pub(crate) fn to_proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf `Duration` as a `std` duration; negative values become zero.
pub(crate) fn from_proto_duration(d: &prost_types::Duration) -> Duration {
    if d.seconds < 0 || d.nanos < 0 {
        return Duration::ZERO;
    }
    Duration::new(d.seconds as u64, d.nanos as u32)
}

/// A protobuf `Timestamp` as a `SystemTime`; instants before 1970 are clamped to the epoch.
pub(crate) fn from_proto_timestamp(t: &prost_types::Timestamp) -> SystemTime {
    if t.seconds < 0 || t.nanos < 0 {
        return UNIX_EPOCH;
    }
    UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_protobuf() {
        let d = Duration::from_millis(1500);
        assert_eq!(from_proto_duration(&to_proto_duration(d)), d);
    }

    #[test]
    fn negative_protobuf_durations_become_zero() {
        let d = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert_eq!(from_proto_duration(&d), Duration::ZERO);
    }
}
