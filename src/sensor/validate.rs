//! Checks a reading once, at the edge of the processor, turning it into a [`Valid`] reading
//! that nothing downstream re-checks, or into a [`Rejected`] that names the field.

use std::time::{Duration, SystemTime};

use super::types::{Reading, RejectCode, Rejected, Stamp};

/// Lowest plausible temperature (°C): below the coldest ever measured on Earth (−89.2 °C).
pub(crate) const MIN_TEMP_C: f64 = -90.0;
/// Highest plausible temperature (°C): water boils; an air sensor reading more is broken.
pub(crate) const MAX_TEMP_C: f64 = 100.0;

/// What a reading must satisfy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadingRules {
    /// How far past the time of receipt a timestamp may lie.
    pub max_future_skew: Duration,
    /// Longest sensor id, in bytes.
    pub max_sensor_id_bytes: usize,
}

/// A reading that passed every check, with its timestamp resolved.
#[derive(Clone, Debug)]
pub(super) struct Valid {
    /// Non-empty, within the length limit.
    pub sensor_id: String,
    /// Finite, within −90…+100 °C.
    pub temp_c: f64,
    /// Finite, within 0…100 %.
    pub humidity: f64,
    /// The reading's own timestamp, or the time of receipt.
    pub at: SystemTime,
}

/// Validates `reading` received at `now`.
pub(super) fn validate(
    reading: Reading,
    now: SystemTime,
    rules: ReadingRules,
) -> Result<Valid, Rejected> {
    let Reading {
        sensor_id,
        temperature,
        humidity,
        timestamp,
    } = reading;
    let reject = |sensor_id: String, code, reason: String| Rejected {
        sensor_id,
        reason,
        code,
    };
    if sensor_id.is_empty() {
        let reason = "sensor_id is empty".into();
        return Err(reject(sensor_id, RejectCode::EmptySensorId, reason));
    }
    if sensor_id.len() > rules.max_sensor_id_bytes {
        let reason = format!(
            "sensor_id is {} bytes long, the limit is {}",
            sensor_id.len(),
            rules.max_sensor_id_bytes
        );
        return Err(reject(sensor_id, RejectCode::SensorIdTooLong, reason));
    }
    for (field, v) in [("temperature", temperature), ("humidity", humidity)] {
        if !v.is_finite() {
            let reason = format!("{field} must be a finite number, got {v}");
            return Err(reject(sensor_id, RejectCode::NotFinite, reason));
        }
    }
    if !(MIN_TEMP_C..=MAX_TEMP_C).contains(&temperature) {
        let reason =
            format!("temperature {temperature} °C is outside {MIN_TEMP_C}…{MAX_TEMP_C} °C");
        return Err(reject(sensor_id, RejectCode::OutOfRange, reason));
    }
    if !(0.0..=100.0).contains(&humidity) {
        let reason = format!("humidity {humidity} % is outside 0…100 %");
        return Err(reject(sensor_id, RejectCode::OutOfRange, reason));
    }
    let at = match timestamp {
        Stamp::Unset => now,
        Stamp::Invalid => {
            let reason = "timestamp is not a representable instant".into();
            return Err(reject(sensor_id, RejectCode::OutOfRange, reason));
        }
        Stamp::At(at) => match at.duration_since(now) {
            Ok(ahead) if ahead > rules.max_future_skew => {
                let reason = format!(
                    "timestamp is {ahead:?} in the future, more than the allowed {:?}",
                    rules.max_future_skew
                );
                return Err(reject(sensor_id, RejectCode::FutureTimestamp, reason));
            }
            _ => at,
        },
    };
    Ok(Valid {
        sensor_id,
        temp_c: temperature,
        humidity,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ReadingRules = ReadingRules {
        max_future_skew: Duration::from_secs(5),
        max_sensor_id_bytes: 16,
    };

    fn reading(id: &str, t: f64, h: f64, ts: Stamp) -> Reading {
        Reading {
            sensor_id: id.into(),
            temperature: t,
            humidity: h,
            timestamp: ts,
        }
    }

    fn code(r: Reading) -> RejectCode {
        validate(r, SystemTime::UNIX_EPOCH + Duration::from_secs(1000), RULES)
            .unwrap_err()
            .code
    }

    #[test]
    fn every_bad_field_has_its_code() {
        use RejectCode::*;
        assert_eq!(code(reading("", 20.0, 50.0, Stamp::Unset)), EmptySensorId);
        assert_eq!(
            code(reading(&"x".repeat(17), 20.0, 50.0, Stamp::Unset)),
            SensorIdTooLong
        );
        assert_eq!(code(reading("a", f64::NAN, 50.0, Stamp::Unset)), NotFinite);
        assert_eq!(
            code(reading("a", 20.0, f64::INFINITY, Stamp::Unset)),
            NotFinite
        );
        assert_eq!(code(reading("a", -90.1, 50.0, Stamp::Unset)), OutOfRange);
        assert_eq!(code(reading("a", 100.1, 50.0, Stamp::Unset)), OutOfRange);
        assert_eq!(code(reading("a", 20.0, -0.1, Stamp::Unset)), OutOfRange);
        assert_eq!(code(reading("a", 20.0, 100.1, Stamp::Unset)), OutOfRange);
        assert_eq!(code(reading("a", 20.0, 50.0, Stamp::Invalid)), OutOfRange);
        let future = SystemTime::UNIX_EPOCH + Duration::from_secs(1006);
        assert_eq!(
            code(reading("a", 20.0, 50.0, Stamp::At(future))),
            FutureTimestamp
        );
    }

    #[test]
    fn range_edges_and_the_skew_itself_are_accepted() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let edge = now + Duration::from_secs(5);
        for r in [
            reading("a", -90.0, 0.0, Stamp::Unset),
            reading("a", 100.0, 100.0, Stamp::At(edge)),
            reading("a", 20.0, 50.0, Stamp::At(SystemTime::UNIX_EPOCH)),
        ] {
            assert!(validate(r, now, RULES).is_ok());
        }
    }

    #[test]
    fn reasons_name_the_field() {
        let now = SystemTime::UNIX_EPOCH;
        let r = validate(reading("a", 20.0, f64::NAN, Stamp::Unset), now, RULES).unwrap_err();
        assert!(r.reason.contains("humidity"), "{}", r.reason);
        assert_eq!(r.sensor_id, "a");
    }

    #[test]
    fn unset_timestamp_means_time_of_receipt() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(42);
        let v = validate(reading("a", 20.0, 50.0, Stamp::Unset), now, RULES).unwrap();
        assert_eq!(v.at, now);
    }
}
