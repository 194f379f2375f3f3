//! Request coalescing: identical requests in flight share one upstream exchange.
//!
//! The exchange runs on a task of its own (spawned here, owned by the [`Flight`]: it is
//! aborted when the last caller waiting on it leaves), so neither the leader's cancellation
//! nor its slow reading reaches the followers (authzed/spicedb#925, envoy#36309). Each caller
//! waits on its own deadline. What the exchange produced decides what the followers do
//! ([`Outcome`]), after pingora-cache's `CacheLock` and Varnish's waiting list.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::answer::Answer;
use super::key::FlightKey;
use crate::fetch::error::FetchError;

/// What one shared exchange produced.
pub(crate) enum Outcome {
    /// A fresh, shareable answer: every waiter answers with it.
    Shared(Answer),
    /// An answer only for the caller that started the exchange (it proved uncacheable, or
    /// needs revalidation before reuse); the followers go upstream themselves.
    Own(Mutex<Option<Answer>>),
    /// The upstream failed: the error goes to the caller that started the exchange only, and
    /// the followers elect a new leader (an error is never broadcast as an answer).
    Failed(Mutex<Option<FetchError>>),
}

type Slot = watch::Receiver<Option<Arc<Outcome>>>;
type Map = Mutex<HashMap<FlightKey, Weak<Flight>>>;

/// One exchange in flight and the callers waiting on it.
pub(crate) struct Flight {
    outcome: Slot,
    task: AbortHandle,
    key: FlightKey,
    map: Weak<Map>,
    /// Callers that joined after the leader (the waiting list's length, capped).
    followers: AtomicUsize,
}

impl Flight {
    /// What the exchange produced; `None` when its task ended without saying (aborted).
    pub(crate) async fn outcome(&self) -> Option<Arc<Outcome>> {
        let mut rx = self.outcome.clone();
        let seen = rx.wait_for(Option::is_some).await.ok()?;
        seen.clone()
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // Nobody waits any more: the exchange has no one to answer.
        self.task.abort();
        // `try_lock`: the last reference may be dropped inside `Flights::join`, which holds
        // the lock; the entry left behind is dead and the next `join` replaces it.
        let Some(map) = self.map.upgrade() else {
            return;
        };
        if let Ok(mut map) = map.try_lock() {
            let me = self as *const Flight;
            if map.get(&self.key).is_some_and(|w| w.as_ptr() == me) {
                map.remove(&self.key);
            }
        }
    }
}

/// A caller's place in a flight.
pub(crate) enum Joined {
    /// It started the exchange.
    Leader(Arc<Flight>),
    /// It waits on another caller's exchange.
    Follower(Arc<Flight>),
    /// The waiting list of the exchange in flight is full: go upstream alone.
    Full,
}

/// The exchanges in flight, by key.
pub(crate) struct Flights {
    map: Arc<Map>,
    max_waiters: usize,
}

/// Starts the exchange of a new flight, given where to publish its outcome and what to call
/// once it has; returns the task's abort handle.
pub(crate) type Start<'a> =
    Box<dyn FnOnce(watch::Sender<Option<Arc<Outcome>>>, Done) -> AbortHandle + 'a>;

/// Called by an exchange's task once its outcome is published: takes the flight off the map,
/// so that later callers look in the store (or start a new exchange) instead of joining.
pub(crate) struct Done {
    map: Weak<Map>,
    key: FlightKey,
}

impl Done {
    /// Takes the finished flight off the map (a newer one under the same key stays).
    pub(crate) fn finish(self) {
        if let Some(map) = self.map.upgrade() {
            let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
            let finished = map
                .get(&self.key)
                .is_none_or(|w| w.upgrade().is_none_or(|f| f.outcome.borrow().is_some()));
            if finished {
                map.remove(&self.key);
            }
        }
    }
}

impl Flights {
    /// Room for `max_waiters` followers per exchange.
    pub(crate) fn new(max_waiters: usize) -> Self {
        Self {
            map: Arc::new(Mutex::new(HashMap::new())),
            max_waiters,
        }
    }

    /// Joins the exchange in flight for `key`, or starts one with `start`.
    pub(crate) fn join(&self, key: FlightKey, start: Start<'_>) -> Joined {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flight) = map.get(&key).and_then(Weak::upgrade) {
            if flight.outcome.borrow().is_none() {
                if flight.followers.fetch_add(1, Ordering::Relaxed) >= self.max_waiters {
                    return Joined::Full;
                }
                return Joined::Follower(flight);
            }
        }
        let (tx, rx) = watch::channel(None);
        let done = Done {
            map: Arc::downgrade(&self.map),
            key: key.clone(),
        };
        let task = start(tx, done);
        let flight = Arc::new(Flight {
            outcome: rx,
            task,
            key: key.clone(),
            map: Arc::downgrade(&self.map),
            followers: AtomicUsize::new(0),
        });
        map.insert(key, Arc::downgrade(&flight));
        Joined::Leader(flight)
    }
}
