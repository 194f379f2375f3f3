//! Deadlines: a call's gRPC deadline (the `grpc-timeout` header) bounds every timeout a
//! request asks for, which is in turn capped by the server.

use std::time::Duration;

use tokio::time::Instant;

use super::error::FetchError;

/// How much earlier than the client's `grpc-timeout` the server gives up, so that the
/// caller gets our DEADLINE_EXCEEDED naming what was slow rather than tonic's generic
/// CANCELLED from its own timer, which starts a little before the handler runs.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// Parses a `grpc-timeout` header value (`<digits><unit>`, gRPC over HTTP/2 spec).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
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

/// The instant a call must be answered by, from its `grpc-timeout` value (if any).
pub fn call_deadline(grpc_timeout: Option<&str>, now: Instant) -> Option<Instant> {
    let t = parse_grpc_timeout(grpc_timeout?)?;
    let margin = DEADLINE_MARGIN.min(t / 10);
    Some(now + t.saturating_sub(margin))
}

/// A request's own timeout: unset or zero means `default`, longer than `max` is capped.
pub fn requested_timeout(
    field: &str,
    requested: Option<prost_types::Duration>,
    default: Duration,
    max: Duration,
) -> Result<Duration, FetchError> {
    let Some(d) = requested else {
        return Ok(default);
    };
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(FetchError::invalid(
            field,
            "must be a non-negative duration",
        ));
    }
    let d = Duration::new(d.seconds as u64, d.nanos as u32);
    Ok(if d.is_zero() { default } else { d.min(max) })
}

/// The earlier of `now + timeout` and the call's deadline.
pub fn effective_deadline(now: Instant, timeout: Duration, call: Option<Instant>) -> Instant {
    let own = now + timeout;
    call.map_or(own, |c| c.min(own))
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
    fn the_call_deadline_bounds_the_request_timeout() {
        let now = Instant::now();
        let call = call_deadline(Some("1S"), now);
        let d = effective_deadline(now, Duration::from_secs(30), call);
        assert!(d <= now + Duration::from_secs(1));
        assert!(d >= now + Duration::from_millis(900));
        let d = effective_deadline(now, Duration::from_millis(100), call);
        assert_eq!(d, now + Duration::from_millis(100));
    }

    #[test]
    fn requested_timeouts_default_cap_and_reject_negatives() {
        let def = Duration::from_secs(30);
        let max = Duration::from_secs(60);
        assert_eq!(requested_timeout("timeout", None, def, max).unwrap(), def);
        let zero = prost_types::Duration {
            seconds: 0,
            nanos: 0,
        };
        assert_eq!(
            requested_timeout("timeout", Some(zero), def, max).unwrap(),
            def
        );
        let long = prost_types::Duration {
            seconds: 600,
            nanos: 0,
        };
        assert_eq!(
            requested_timeout("timeout", Some(long), def, max).unwrap(),
            max
        );
        let neg = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert!(requested_timeout("timeout", Some(neg), def, max).is_err());
    }
}
