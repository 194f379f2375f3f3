//! The in-process backend (no `--redis-url`): the lock table behind one mutex, and a reaper
//! task that ends leases the moment they run out so the next waiter is woken within
//! milliseconds of an expiry, not at its next poll (there is no poll).

mod fence;
mod permits;
mod table;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::backend::LockBackend;
use super::claim::{Claim, LockKind};
use super::error::LockError;
use super::types::{AcquireRequest, Grant, LockName, LockToken, Ttl};
use permits::Permits;
use table::{Admission, Table};

struct Shared {
    table: Mutex<Table>,
    /// Semaphores and read-write locks. Lock order: this one first, then `table`, so the
    /// kind check across both is atomic.
    permits: Mutex<Permits>,
    /// Wakes the reaper when a lease ends earlier than the one it sleeps towards.
    reaper_wake: Notify,
}

impl Shared {
    /// The table; a panic while it was held cannot leave it half-updated in a way that matters
    /// more than stopping every lock call, so poisoning is ignored.
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The semaphore and read-write table (poisoning ignored, as for the mutex table).
    fn permits(&self) -> MutexGuard<'_, Permits> {
        self.permits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_permits<R>(&self, f: impl FnOnce(&mut Permits) -> R) -> R {
        let mut permits = self.permits();
        let out = f(&mut permits);
        let wake = permits.take_reaper_wake();
        drop(permits);
        if wake {
            self.reaper_wake.notify_one();
        }
        out
    }

    fn with_table<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        let mut table = self.table();
        let out = f(&mut table);
        let wake = table.take_reaper_wake();
        drop(table);
        if wake {
            self.reaper_wake.notify_one();
        }
        out
    }
}

/// Locks that live in this process: the same semantics as Redis for clients of one server.
pub(crate) struct MemoryBackend {
    shared: Arc<Shared>,
    reaper: JoinHandle<()>,
}

impl MemoryBackend {
    /// An empty lock table with its reaper task (needs a tokio runtime): at most
    /// `max_waiters` callers queued per name, `max_names` names held or waited on in all.
    pub(crate) fn new(max_waiters: usize, max_names: usize) -> Self {
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new(max_waiters, max_names)),
            permits: Mutex::new(Permits::new(max_waiters)),
            reaper_wake: Notify::new(),
        });
        let reaper = tokio::spawn(reap(shared.clone()));
        Self { shared, reaper }
    }
}

impl Drop for MemoryBackend {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}

/// Sleeps until the next lease end, ends it (handing the lock on), repeats.
async fn reap(shared: Arc<Shared>) {
    loop {
        let locks = shared.with_table(|t| t.expire_due(Instant::now()));
        let permits = shared.with_permits(|p| p.expire_due(Instant::now()));
        let next = match (locks, permits) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = shared.reaper_wake.notified() => {}
                }
            }
            None => shared.reaper_wake.notified().await,
        }
    }
}

/// A queued caller. Dropping it before its grant is read (deadline, cancel) takes it out of
/// the queue and releases a grant that raced with the drop, under the table's mutex, so no
/// grant is ever left with nobody to use it.
struct QueuedWaiter {
    shared: Arc<Shared>,
    name: LockName,
    id: u64,
    rx: Option<oneshot::Receiver<Grant>>,
    /// Queued in the semaphore and read-write table rather than the mutex table.
    permits: bool,
}

impl Drop for QueuedWaiter {
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            let (name, id) = (&self.name, self.id);
            if self.permits {
                self.shared
                    .with_permits(|p| p.leave(name, id, Some(rx), Instant::now()));
            } else {
                self.shared
                    .with_table(|t| t.leave(name, id, Some(rx), Instant::now()));
            }
        }
    }
}

impl MemoryBackend {
    /// Grants, refuses or queues `req` in the table of its kind, after checking the other
    /// table does not hold the name as another kind (both under their mutexes, so no acquire
    /// of another kind can slip in between).
    fn admit(&self, req: &AcquireRequest, queue: bool) -> Result<Admission, LockError> {
        let now = Instant::now();
        let mismatch = |held: LockKind| LockError::KindMismatch {
            name: req.name.to_string(),
            held,
            asked: req.claim.kind(),
        };
        if req.claim == Claim::Mutex {
            let permits = self.shared.permits();
            if let Some(held) = permits.kind_in_use(&req.name) {
                return Err(mismatch(held));
            }
            let outcome = self
                .shared
                .with_table(|t| t.acquire(&req.name, req.ttl, now, queue));
            drop(permits);
            return outcome;
        }
        self.shared.with_permits(|p| {
            if self.shared.table().in_use(&req.name, now) {
                return Err(mismatch(LockKind::Mutex));
            }
            p.acquire(&req.name, req.claim, req.ttl, now, queue)
        })
    }
}

impl LockBackend for MemoryBackend {
    fn acquire<'a>(
        &'a self,
        req: &'a AcquireRequest,
    ) -> BoxFuture<'a, Result<Option<Grant>, LockError>> {
        Box::pin(async move {
            let queue = !req.wait.is_zero();
            let outcome = self.admit(req, queue)?;
            let (id, rx) = match outcome {
                Admission::Granted(grant) => return Ok(Some(grant)),
                Admission::Busy => return Ok(None),
                Admission::Queued(id, rx) => (id, rx),
            };
            let mut waiter = QueuedWaiter {
                shared: self.shared.clone(),
                name: req.name.clone(),
                id,
                rx: Some(rx),
                permits: req.claim != Claim::Mutex,
            };
            let rx = waiter.rx.as_mut().expect("the receiver was just stored");
            match tokio::time::timeout(req.wait, rx).await {
                Ok(Ok(grant)) => {
                    // Read: the grant is the caller's now; nothing to undo on drop.
                    waiter.rx = None;
                    Ok(Some(grant))
                }
                Ok(Err(_)) => Err(LockError::Backend(
                    "a queued waiter's sender was dropped without a grant".into(),
                )),
                Err(_elapsed) => Ok(None),
            }
        })
    }

    fn release<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let now = Instant::now();
            Ok(if token.is_for_permits() {
                self.shared.with_permits(|p| p.release(name, token, now))
            } else {
                self.shared.with_table(|t| t.release(name, token, now))
            })
        })
    }

    fn extend<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, LockError>> {
        Box::pin(async move {
            let now = Instant::now();
            Ok(if token.is_for_permits() {
                self.shared
                    .with_permits(|p| p.extend(name, token, ttl, now))
            } else {
                self.shared.with_table(|t| t.extend(name, token, ttl, now))
            })
        })
    }
}
