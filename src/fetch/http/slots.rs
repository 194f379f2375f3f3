//! Upstream connection slots: one global semaphore (`--fetch-max-concurrency` requests in
//! flight across all hosts, so the server's sockets and memory stay bounded however many
//! calls arrive) and one per host (`--fetch-max-per-host`, so one slow upstream cannot take
//! every slot). A caller waits in the queue at most until its deadline or the queue
//! timeout, whichever comes first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::fetch::error::FetchError;

/// The global and per-host slots of upstream requests in flight.
pub(crate) struct Slots {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held while a request is in flight; releases both permits on drop.
pub(crate) struct Permit {
    host: Option<(Arc<Semaphore>, OwnedSemaphorePermit)>,
    key: String,
    slots: Arc<Slots>,
    _global: OwnedSemaphorePermit,
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
        let timed_out = || {
            if deadline <= queue_deadline {
                FetchError::DeadlineExceeded(
                    "deadline passed while waiting for a free upstream connection slot".into(),
                )
            } else {
                FetchError::ResourceExhausted(
                    "all upstream connection slots stayed busy for the whole queue timeout (--fetch-queue-timeout)".into(),
                )
            }
        };
        let global = tokio::time::timeout_at(until, self.global.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| FetchError::Unavailable("the server is shutting down".into()))?;
        // The map holds at most one entry per host with a request in flight or queued, and
        // queued ones hold a global permit, so it never outgrows the global limit.
        let sem = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        let mut permit = Permit {
            host: None,
            key: host.to_string(),
            slots: self.clone(),
            _global: global,
        };
        let host_permit = tokio::time::timeout_at(until, sem.clone().acquire_owned()).await;
        // Stored before checking so that Drop tidies the map on every path.
        match host_permit {
            Ok(Ok(p)) => {
                permit.host = Some((sem, p));
                Ok(permit)
            }
            Ok(Err(_)) => {
                drop(sem);
                Err(FetchError::Unavailable(
                    "the server is shutting down".into(),
                ))
            }
            Err(_) => {
                drop(sem);
                Err(timed_out())
            }
        }
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
