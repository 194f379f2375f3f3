//! What the three services share at the gRPC boundary: the call's deadline (the
//! `grpc-timeout` header and the margin the server keeps inside it), the message format of
//! a bad request field, and the check of a protobuf duration.
//!
//! Nothing here knows a service: each domain wraps [`FieldError`] in its own error enum and
//! maps that to `INVALID_ARGUMENT` in its one `From<Error> for Status`.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataMap;

/// The most the server keeps back from a caller's deadline: it gives up
/// [`deadline_margin`] before the `grpc-timeout` runs out, so the caller hears the server's
/// own answer (DEADLINE_EXCEEDED naming what was slow, or `acquired = false` for a lock
/// wait) rather than a generic timeout from its own timer or tonic's, both of which started
/// a little before the handler ran.
pub(crate) const MAX_DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// How much earlier than a `grpc-timeout` of `timeout` the server answers: a tenth of it,
/// at most [`MAX_DEADLINE_MARGIN`], so a short deadline still leaves the call most of its
/// time and a long one does not lose seconds.
pub(crate) fn deadline_margin(timeout: Duration) -> Duration {
    MAX_DEADLINE_MARGIN.min(timeout / 10)
}

/// The time a call may use out of its `grpc-timeout`: the timeout less its margin.
pub(crate) fn usable_time(timeout: Duration) -> Duration {
    timeout.saturating_sub(deadline_margin(timeout))
}

/// Parses a `grpc-timeout` header value (`<digits><unit>`, at most 8 digits; gRPC over
/// HTTP/2 spec).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    // ASCII only: the split below is by bytes (a header value that is not ASCII never gets
    // here, but a fuzzed string did and panicked at a char boundary).
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    // Digits only: `u64::from_str` would also take a leading `+`.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The call's `grpc-timeout`, if the client set a readable one.
pub(crate) fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// The instant a call received at `now` must be answered by, margin included (`None`: the
/// client set no deadline).
pub(crate) fn call_deadline(metadata: &MetadataMap, now: Instant) -> Option<Instant> {
    grpc_timeout(metadata).map(|t| now + usable_time(t))
}

/// The earlier of `now + timeout` and the call's deadline.
pub(crate) fn effective_deadline(
    now: Instant,
    timeout: Duration,
    call: Option<Instant>,
) -> Instant {
    let own = now + timeout;
    call.map_or(own, |c| c.min(own))
}

/// A request field that is wrong, and why. Every service words INVALID_ARGUMENT the same
/// way, `"{field}: {reason}"`, so the message starts with the field's name (the README's
/// status table promises that) and a client can match on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The request field at fault (`url`, `headers[2].name`, `wait_timeout`...).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    /// `field` is wrong because of `reason`.
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// A protobuf duration field as a std one (`None` when unset); a negative or out-of-range
/// value is a [`FieldError`] naming `field`.
pub(crate) fn duration(
    field: &str,
    d: Option<prost_types::Duration>,
) -> Result<Option<Duration>, FieldError> {
    let Some(d) = d else {
        return Ok(None);
    };
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(FieldError::new(
            field,
            format!(
                "must be a non-negative duration (got {}s {}ns)",
                d.seconds, d.nanos
            ),
        ));
    }
    Ok(Some(Duration::new(d.seconds as u64, d.nanos as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_parse() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5000u"), Some(Duration::from_millis(5)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }

    #[test]
    fn grpc_timeout_is_read_from_metadata() {
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(grpc_timeout(&m), Some(Duration::from_millis(250)));
        m.insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(grpc_timeout(&m), None);
        assert_eq!(grpc_timeout(&MetadataMap::new()), None);
    }

    #[test]
    fn the_margin_is_a_tenth_of_the_timeout_and_at_most_the_cap() {
        assert_eq!(
            deadline_margin(Duration::from_millis(100)),
            Duration::from_millis(10)
        );
        assert_eq!(
            deadline_margin(Duration::from_secs(60)),
            MAX_DEADLINE_MARGIN
        );
        assert_eq!(
            usable_time(Duration::from_secs(1)),
            Duration::from_millis(950)
        );
    }

    #[test]
    fn the_call_deadline_bounds_the_request_timeout() {
        let now = Instant::now();
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", "1S".parse().unwrap());
        let call = call_deadline(&m, now);
        let d = effective_deadline(now, Duration::from_secs(30), call);
        assert_eq!(d, now + Duration::from_millis(950));
        let d = effective_deadline(now, Duration::from_millis(100), call);
        assert_eq!(d, now + Duration::from_millis(100));
        assert_eq!(call_deadline(&MetadataMap::new(), now), None);
    }

    #[test]
    fn field_errors_start_with_the_field() {
        let e = FieldError::new("headers[1].name", "is not a header name");
        assert_eq!(e.to_string(), "headers[1].name: is not a header name");
    }

    #[test]
    fn durations_must_be_non_negative_and_in_range() {
        assert_eq!(duration("ttl", None).unwrap(), None);
        let ok = prost_types::Duration {
            seconds: 1,
            nanos: 5,
        };
        assert_eq!(
            duration("ttl", Some(ok)).unwrap(),
            Some(Duration::new(1, 5))
        );
        for (seconds, nanos) in [(-1, 0), (0, -1), (0, 1_000_000_000)] {
            let bad = prost_types::Duration { seconds, nanos };
            let err = duration("wait_timeout", Some(bad)).unwrap_err();
            assert!(err.to_string().starts_with("wait_timeout: "), "{err}");
        }
    }
}
