//! LockService's families, recorded by a [`LockBackend`] decorator that the service puts
//! around whichever backend it runs (Redis or in-process), so AcquireLock and Hold are both
//! counted and neither backend knows about metrics.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::latency_buckets;

#[derive(Debug)]
pub(super) struct Families {
    grants: Counter,
    waiters: Gauge,
    wait_seconds: Histogram,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Self {
        let f = Self {
            grants: Counter::default(),
            waiters: Gauge::default(),
            wait_seconds: Histogram::new(latency_buckets()),
        };
        r.register(
            "streamgate_lock_grants",
            "Locks granted (AcquireLock and Hold)",
            f.grants.clone(),
        );
        r.register(
            "streamgate_lock_waiters",
            "Acquire calls waiting now (a wait_timeout above zero), until granted, timed out or cancelled",
            f.waiters.clone(),
        );
        r.register(
            "streamgate_lock_wait_seconds",
            "Time acquire calls with a wait_timeout spent waiting, until granted, timed out or cancelled",
            f.wait_seconds.clone(),
        );
        f
    }
}

/// LockService's families (off when metrics are).
#[derive(Clone, Debug, Default)]
pub struct LockMetrics {
    inner: Option<Arc<super::Families>>,
}

impl LockMetrics {
    pub(super) fn new(inner: Option<Arc<super::Families>>) -> Self {
        Self { inner }
    }

    /// Whether metrics are on (off: nothing to record, no wrapper needed).
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// One caller in `streamgate_lock_waiters` for as long as the guard lives: dropped when
    /// the acquire returns and also when its future is dropped (client cancel, deadline,
    /// shutdown), so the gauge never keeps a caller that left, and the wait is timed
    /// whichever way it ended.
    pub fn waiting(&self) -> Option<WaitGuard> {
        self.inner.as_ref().map(|families| {
            families.lock.waiters.inc();
            WaitGuard {
                families: families.clone(),
                since: Instant::now(),
            }
        })
    }

    /// A lock was granted.
    pub fn granted(&self) {
        if let Some(families) = &self.inner {
            families.lock.grants.inc();
        }
    }
}

/// See [`LockMetrics::waiting`].
pub struct WaitGuard {
    families: Arc<super::Families>,
    since: Instant,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let f = &self.families.lock;
        f.waiters.dec();
        f.wait_seconds.observe(self.since.elapsed().as_secs_f64());
    }
}
