//! Retries of ListPages page requests: exponential backoff with jitter, honouring an
//! upstream's `Retry-After`, bounded by attempts and by the page's deadline.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::RETRY_AFTER;

/// The retry settings (`--pages-max-attempts`, `--pages-retry-base`, `--pages-retry-max`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// Attempts per page, the first included.
    pub(crate) max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub(crate) base: Duration,
    /// Longest single wait.
    pub(crate) max: Duration,
}

/// Statuses that say "try again later" (RFC 9110 §15.5.30 / §15.6).
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `Retry-After` as a delay from now: delta-seconds, or an HTTP-date (RFC 9110 §10.2.3).
/// Unparseable values give `None`, and the backoff applies.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`] with the current time given. Dates are read in all three forms
/// RFC 9110 §5.6.7 requires recipients to accept (IMF-fixdate, RFC 850, asctime); a date
/// in the past means "now".
pub(crate) fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl RetryPolicy {
    /// How long to wait after failed attempt `attempt` (1-based): the upstream's
    /// `Retry-After` when given, else `base * 2^(attempt-1)` with "equal jitter" (half
    /// fixed, half random) so that many streams retrying at once spread out. `None` when the
    /// upstream asks for longer than the policy's maximum.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(ra) = retry_after {
            return (ra <= self.max).then_some(ra);
        }
        let exp = self
            .base
            .saturating_mul(
                1u32.checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max);
        let half = exp / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        Some(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        for _ in 0..50 {
            let d1 = p.delay(1, None).unwrap();
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = p.delay(3, None).unwrap();
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            assert!(p.delay(40, None).unwrap() <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_is_honoured_unless_longer_than_the_maximum() {
        let p = policy();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(5))), None);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    fn at(date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, date.parse().unwrap());
        h
    }

    #[test]
    fn an_http_date_is_a_delay_from_now_in_each_of_its_three_forms() {
        // Wed, 21 Oct 2015 07:28:00 GMT
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let now = date - Duration::from_millis(2_500);
        for form in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                retry_after_at(&at(form), now),
                Some(Duration::from_millis(2_500)),
                "{form}"
            );
        }
    }

    #[test]
    fn an_http_date_in_the_past_means_retry_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480 + 60);
        assert_eq!(
            retry_after_at(&at("Wed, 21 Oct 2015 07:28:00 GMT"), now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn an_http_date_further_ahead_than_the_maximum_is_refused_like_delta_seconds() {
        let p = policy();
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let h = at("Wed, 21 Oct 2015 07:28:00 GMT");
        let far = retry_after_at(&h, date - Duration::from_secs(30));
        assert_eq!(p.delay(1, far), None);
        let near = retry_after_at(&h, date - Duration::from_millis(400));
        assert_eq!(p.delay(1, near), Some(Duration::from_millis(400)));
    }

    #[test]
    fn malformed_dates_fall_back_to_the_backoff() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        for bad in [
            "Wed, 21 Oct 2015 07:28:00",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "-5",
            "1.5",
        ] {
            assert_eq!(retry_after_at(&at(bad), now), None, "{bad}");
        }
    }

    #[test]
    fn only_throttling_and_gateway_statuses_are_retried() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [200, 400, 404, 500, 501] {
            assert!(!is_retryable_status(s));
        }
    }
}
