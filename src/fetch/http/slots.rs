//! Upstream connection slots: one global semaphore (`--fetch-max-concurrency` requests in
//! flight across all hosts, so the server's sockets and memory stay bounded however many
//! calls arrive) and one per host (`--fetch-max-per-host`, so one slow upstream cannot take
//! every slot). A caller waits in the queue at most until its deadline or the queue
//! timeout, whichever comes first, and only if fewer than `--fetch-max-queue` callers wait
//! already: past that it gets RESOURCE_EXHAUSTED at once, so waiting calls (each holding its
//! request in memory) cannot pile up without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

use crate::fetch::error::FetchError;

/// The global and per-host slots of upstream requests in flight.
pub(crate) struct Slots {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Callers waiting for a slot now, and how many may.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// One place in the wait queue, given back on drop.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Held while a request is in flight; releases both permits on drop.
pub(crate) struct Permit {
    host: Option<(Arc<Semaphore>, OwnedSemaphorePermit)>,
    key: String,
    slots: Arc<Slots>,
    _global: OwnedSemaphorePermit,
}

impl Slots {
    /// `global` requests at once, `per_host` to any one host, `max_waiting` callers queued.
    pub(crate) fn new(global: usize, per_host: usize, max_waiting: usize) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(global)),
            per_host,
            hosts: Mutex::new(HashMap::new()),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
        })
    }

    /// A place in the wait queue, or RESOURCE_EXHAUSTED when it is full.
    fn enqueue(&self) -> Result<Waiting, FetchError> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let place = Waiting(self.waiting.clone());
        if before >= self.max_waiting {
            return Err(FetchError::ResourceExhausted(format!(
                "{} calls already wait for an upstream connection slot (--fetch-max-queue)",
                self.max_waiting
            )));
        }
        Ok(place)
    }

    /// A permit of `sem`: at once if one is free, else after queueing until `until`.
    async fn take(
        &self,
        sem: &Arc<Semaphore>,
        until: Instant,
        timed_out: impl Fn() -> FetchError,
    ) -> Result<OwnedSemaphorePermit, FetchError> {
        let closed = || FetchError::Unavailable("the server is shutting down".into());
        match sem.clone().try_acquire_owned() {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::Closed) => return Err(closed()),
            Err(TryAcquireError::NoPermits) => {}
        }
        let _place = self.enqueue()?;
        tokio::time::timeout_at(until, sem.clone().acquire_owned())
            .await
            .map_err(|_| timed_out())?
            .map_err(|_| closed())
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
        let global = self.take(&self.global, until, timed_out).await?;
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
        // The permit is built before waiting so that its Drop tidies the map on every path.
        let host_permit = self.take(&sem, until, timed_out).await?;
        permit.host = Some((sem, host_permit));
        Ok(permit)
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
        let slots = Slots::new(10, 1, 10);
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
    async fn a_caller_beyond_the_queue_bound_is_refused_at_once() {
        let slots = Slots::new(1, 1, 2);
        let far = Instant::now() + Duration::from_secs(30);
        let held = slots.acquire("h:1", far, far).await.unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.acquire("h:1", far, far).await.map(drop) })
            })
            .collect();
        while slots.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        // The queue is full: no waiting, whatever the deadlines say.
        let err = slots.acquire("h:2", far, far).await.err().unwrap();
        assert!(
            matches!(&err, FetchError::ResourceExhausted(m) if m.contains("--fetch-max-queue")),
            "{err:?}"
        );
        drop(held);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        assert_eq!(slots.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn queue_wait_ending_at_the_deadline_is_deadline_exceeded() {
        let slots = Slots::new(1, 1, 10);
        let far = Instant::now() + Duration::from_secs(5);
        let _held = slots.acquire("h:1", far, far).await.unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        let err = slots.acquire("h:2", soon, far).await.err().unwrap();
        assert!(matches!(err, FetchError::DeadlineExceeded(_)), "{err:?}");
        assert_eq!(slots.tracked_hosts(), 1);
    }
}
