//! LockService's families, recorded by a [`LockBackend`] decorator that the service puts
//! around whichever backend it runs (Redis or in-process), so AcquireLock and Hold are both
//! counted and neither backend knows about metrics.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::latency_buckets;
use crate::lock::LockBackend;
use crate::lock::error::LockError;
use crate::lock::types::{AcquireRequest, Grant, LockName, LockToken, Ttl};

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

    /// `backend` with every acquire recorded; `backend` itself when metrics are off.
    pub fn metered(&self, backend: Arc<dyn LockBackend>) -> Arc<dyn LockBackend> {
        match &self.inner {
            Some(families) => Arc::new(Metered {
                inner: backend,
                families: families.clone(),
            }),
            None => backend,
        }
    }
}

/// A backend whose acquires are counted.
struct Metered {
    inner: Arc<dyn LockBackend>,
    families: Arc<super::Families>,
}

/// One caller in `streamgate_lock_waiters` for as long as it lives: dropped when the acquire
/// returns and also when its future is dropped (client cancel, deadline, shutdown), so the
/// gauge never keeps a caller that left, and the wait is timed whichever way it ended.
struct Waiting<'a> {
    families: &'a Families,
    since: Instant,
}

impl<'a> Waiting<'a> {
    fn enter(families: &'a Families) -> Self {
        families.waiters.inc();
        Self {
            families,
            since: Instant::now(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.families.waiters.dec();
        self.families
            .wait_seconds
            .observe(self.since.elapsed().as_secs_f64());
    }
}

impl LockBackend for Metered {
    fn acquire<'a>(
        &'a self,
        req: &'a AcquireRequest,
    ) -> BoxFuture<'a, Result<Option<Grant>, LockError>> {
        Box::pin(async move {
            let f = &self.families.lock;
            // A try-once acquire never queues, so it is no waiter.
            let waiting = (!req.wait.is_zero()).then(|| Waiting::enter(f));
            let res = self.inner.acquire(req).await;
            drop(waiting);
            if let Ok(Some(_)) = &res {
                f.grants.inc();
            }
            res
        })
    }

    fn release<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        self.inner.release(name, token)
    }

    fn extend<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, LockError>> {
        self.inner.extend(name, token, ttl)
    }

    fn availability(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.inner.availability()
    }
}
