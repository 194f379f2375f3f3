//! The contract every lock backend keeps, so that the service, `Hold` and the conformance
//! suite are written once for the in-process and the Redis implementation.

use std::time::SystemTime;

use futures::future::BoxFuture;

use super::error::LockError;
use super::types::{AcquireRequest, Grant, LockName, LockToken, Ttl};

/// A store of leased, fenced, fairly queued locks.
///
/// Futures are boxed (rather than `async fn` in the trait) so the service can hold an
/// `Arc<dyn LockBackend>` chosen at start-up.
///
/// Cancellation contract: dropping an `acquire` future at any await point removes the caller
/// from the queue, and a grant that reached it after the drop is released at once. Callers
/// bound waits by dropping the future (deadline, client cancel, shutdown).
pub(crate) trait LockBackend: Send + Sync + 'static {
    /// Takes the lock if it is free and nobody is queued ahead; otherwise, when `req.wait` is
    /// non-zero, queues FIFO and waits up to `req.wait` for a hand-off. `Ok(None)` = not
    /// acquired in time.
    fn acquire<'a>(
        &'a self,
        req: &'a AcquireRequest,
    ) -> BoxFuture<'a, Result<Option<Grant>, LockError>>;

    /// Gives the lock back if `token` holds it now, handing it to the next waiter. `false` when
    /// the token does not hold it (expired, released already, never held).
    fn release<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
    ) -> BoxFuture<'a, Result<bool, LockError>>;

    /// Sets the lease of the grant `token` holds to `ttl` from now. `None` when the token does
    /// not hold the lock.
    fn extend<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, LockError>>;

    /// Whether the store behind the backend is reachable now, as it changes; `None` for a
    /// backend that is always available (in-process). Health reports it for LockService.
    fn availability(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}
