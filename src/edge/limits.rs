//! Per-principal limits: a token bucket (`rate_per_second`, burst twice the rate, GCRA from
//! `governor`) and a count of calls plus open streams (`max_concurrent`). The state lives
//! beside the policy snapshot and is carried over by name on reload, so a reload neither
//! refills a bucket nor forgets the streams that are open.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The bucket holds this many seconds' worth of calls (the contract's burst = 2 x rate).
const BURST_FACTOR: NonZeroU32 = NonZeroU32::new(2).unwrap();

/// One principal's live state.
pub(crate) struct CallerState {
    in_flight: Arc<AtomicUsize>,
    bucket: Option<Bucket>,
}

struct Bucket {
    rate: NonZeroU32,
    limiter: DefaultDirectRateLimiter,
}

impl CallerState {
    /// The state for a principal with `rate`, reusing `old` (the same name in the snapshot
    /// being replaced): all of it when the rate is unchanged, else its count of calls in
    /// flight with a new, full bucket.
    pub(crate) fn carried_over(old: Option<&Arc<Self>>, rate: Option<NonZeroU32>) -> Arc<Self> {
        if let Some(old) = old {
            if old.bucket.as_ref().map(|b| b.rate) == rate {
                return old.clone();
            }
        }
        let bucket = rate.map(|rate| Bucket {
            rate,
            limiter: RateLimiter::direct(
                Quota::per_second(rate).allow_burst(rate.saturating_mul(BURST_FACTOR)),
            ),
        });
        Arc::new(Self {
            in_flight: old.map(|o| o.in_flight.clone()).unwrap_or_default(),
            bucket,
        })
    }

    /// Takes one token from the bucket; `false` when it is empty.
    pub(crate) fn take_token(&self) -> bool {
        self.bucket
            .as_ref()
            .is_none_or(|b| b.limiter.check().is_ok())
    }

    /// Counts one more call in flight until the returned guard drops; also says whether the
    /// count is now above `max` (the caller decides whether that refuses the call, and drops
    /// the guard if so).
    pub(crate) fn enter(&self, max: NonZeroU32) -> (InFlight, bool) {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        (
            InFlight {
                count: self.in_flight.clone(),
            },
            now > max.get() as usize,
        )
    }

    /// Calls and streams in flight now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// One call (or open stream) counted against `max_concurrent`; dropping it ends the count.
#[derive(Debug)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_holds_twice_the_rate() {
        let s = CallerState::carried_over(None, NonZeroU32::new(3));
        let taken = (0..20).take_while(|_| s.take_token()).count();
        assert_eq!(taken, 6);
    }

    #[test]
    fn no_rate_never_empties() {
        let s = CallerState::carried_over(None, None);
        assert!((0..1000).all(|_| s.take_token()));
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let s = CallerState::carried_over(None, None);
        let max = NonZeroU32::new(1).unwrap();
        let (a, over) = s.enter(max);
        assert!(!over);
        let (b, over) = s.enter(max);
        assert!(over);
        drop(b);
        assert_eq!(s.in_flight(), 1);
        drop(a);
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn a_new_rate_keeps_the_count_in_flight() {
        let old = CallerState::carried_over(None, NonZeroU32::new(1));
        let (_guard, _) = old.enter(NonZeroU32::new(5).unwrap());
        let new = CallerState::carried_over(Some(&old), NonZeroU32::new(2));
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(new.in_flight(), 1);
    }
}
