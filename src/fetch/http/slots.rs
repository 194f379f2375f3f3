//! Upstream connection slots: one global semaphore (`--fetch-max-concurrency` requests in
//! flight across all hosts, so the server's sockets and memory stay bounded however many
//! calls arrive) and one per host (`--fetch-max-per-host`, so one slow upstream cannot take
//! every slot). A caller waits in the queue at most until its deadline or the queue
//! timeout, whichever comes first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

use crate::fetch::error::FetchError;

/// The global and per-host slots of upstream requests in flight.
pub(crate) struct Slots {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
}

/// Held while a request is in flight; releases both permits on drop.
pub(crate) struct Permit {
    host: Option<(Arc<Semaphore>, OwnedSemaphorePermit)>,
    key: Arc<str>,
    slots: Arc<Slots>,
    _global: OwnedSemaphorePermit,
}

/// How a wait for a slot ended without one.
enum NoSlot {
    TimedOut,
    Closed,
}

/// A permit of `sem` at once when one is free (no timer is set up), else by `until`.
async fn permit_by(sem: &Arc<Semaphore>, until: Instant) -> Result<OwnedSemaphorePermit, NoSlot> {
    match sem.clone().try_acquire_owned() {
        Ok(p) => Ok(p),
        Err(TryAcquireError::Closed) => Err(NoSlot::Closed),
        Err(TryAcquireError::NoPermits) => {
            match tokio::time::timeout_at(until, sem.clone().acquire_owned()).await {
                Ok(Ok(p)) => Ok(p),
                Ok(Err(_)) => Err(NoSlot::Closed),
                Err(_) => Err(NoSlot::TimedOut),
            }
        }
    }
}

impl Slots {
    /// `global` requests at once, `per_host` to any one host.
    pub(crate) fn new(global: usize, per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(global)),
            per_host,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for a global and a per-host slot. The wait ends at `deadline` (the call's) with
    /// DEADLINE_EXCEEDED, or at `queue_deadline` with RESOURCE_EXHAUSTED.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        host: &str,
        deadline: Instant,
        queue_deadline: Instant,
    ) -> Result<Permit, FetchError> {
        let until = deadline.min(queue_deadline);
        let failed = |why: NoSlot| {
            match why {
            NoSlot::Closed => FetchError::Unavailable("the server is shutting down".into()),
            NoSlot::TimedOut if deadline <= queue_deadline => FetchError::DeadlineExceeded(
                "deadline passed while waiting for a free upstream connection slot".into(),
            ),
            NoSlot::TimedOut => FetchError::ResourceExhausted(
                "all upstream connection slots stayed busy for the whole queue timeout (--fetch-queue-timeout)".into(),
            ),
        }
        };
        let global = permit_by(&self.global, until).await.map_err(failed)?;
        let (key, sem) = self.host_semaphore(host);
        let mut permit = Permit {
            host: None,
            key,
            slots: self.clone(),
            _global: global,
        };
        // The permit exists before the wait, so that its Drop tidies the map on every path;
        // `sem` goes first, or the map would still see it in use.
        let host_permit = match permit_by(&sem, until).await {
            Ok(p) => p,
            Err(why) => {
                drop(sem);
                return Err(failed(why));
            }
        };
        permit.host = Some((sem, host_permit));
        Ok(permit)
    }

    /// The semaphore of `host` and its key in the map, added if no request to the host is in
    /// flight or queued. The map holds at most one entry per such host, and each of those
    /// requests holds a global permit, so it never outgrows the global limit. A host already
    /// in the map costs no allocation.
    fn host_semaphore(&self, host: &str) -> (Arc<str>, Arc<Semaphore>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((key, sem)) = hosts.get_key_value(host) {
            return (key.clone(), sem.clone());
        }
        let key: Arc<str> = Arc::from(host);
        let sem = Arc::new(Semaphore::new(self.per_host));
        hosts.insert(key.clone(), sem.clone());
        (key, sem)
    }

    /// Hosts with a request in flight or queued (for tests of the map's bound).
    #[cfg(test)]
    pub(crate) fn tracked_hosts(&self) -> usize {
        self.hosts.lock().map(|h| h.len()).unwrap_or(0)
    }

    fn release_host(&self, key: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map's own reference left: nobody holds or waits for this host.
        if hosts.get(key).is_some_and(|s| Arc::strong_count(s) == 1) {
            hosts.remove(key);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.host.take();
        self.slots.release_host(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn per_host_limit_queues_and_the_map_empties_afterwards() {
        let slots = Slots::new(10, 1);
        let far = Instant::now() + Duration::from_secs(5);
        let a = slots.acquire("h:1", far, far).await.unwrap();
        let short = Instant::now() + Duration::from_millis(30);
        let err = slots.acquire("h:1", far, short).await.err().unwrap();
        assert!(matches!(err, FetchError::ResourceExhausted(_)), "{err:?}");
        let other = slots.acquire("h:2", far, far).await.unwrap();
        assert_eq!(slots.tracked_hosts(), 2);
        drop(a);
        drop(other);
        assert_eq!(slots.tracked_hosts(), 0);
    }

    #[tokio::test]
    async fn queue_wait_ending_at_the_deadline_is_deadline_exceeded() {
        let slots = Slots::new(1, 1);
        let far = Instant::now() + Duration::from_secs(5);
        let _held = slots.acquire("h:1", far, far).await.unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        let err = slots.acquire("h:2", soon, far).await.err().unwrap();
        assert!(matches!(err, FetchError::DeadlineExceeded(_)), "{err:?}");
        assert_eq!(slots.tracked_hosts(), 1);
    }
}
