//! A backend wrapper recording acquires in the server's metrics: waiters (a gauge that goes
//! back down however a wait ends), wait time, grants. Both backends get it from the service.

use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;

use super::backend::LockBackend;
use super::error::LockError;
use super::types::{AcquireRequest, Grant, LockName, LockToken, Ttl};
use crate::metrics::LockMetrics;

/// `backend` with every acquire recorded; `backend` itself when metrics are off.
pub(super) fn metered(backend: Arc<dyn LockBackend>, metrics: LockMetrics) -> Arc<dyn LockBackend> {
    if metrics.is_on() {
        Arc::new(Metered {
            inner: backend,
            metrics,
        })
    } else {
        backend
    }
}

struct Metered {
    inner: Arc<dyn LockBackend>,
    metrics: LockMetrics,
}

impl LockBackend for Metered {
    fn acquire<'a>(
        &'a self,
        req: &'a AcquireRequest,
    ) -> BoxFuture<'a, Result<Option<Grant>, LockError>> {
        Box::pin(async move {
            // A try-once acquire never queues, so it is no waiter.
            let waiting = if req.wait.is_zero() {
                None
            } else {
                self.metrics.waiting()
            };
            let res = self.inner.acquire(req).await;
            drop(waiting);
            if let Ok(Some(_)) = &res {
                self.metrics.granted();
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
