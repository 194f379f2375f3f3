//! The in-process lock table: a plain state machine (no tasks, no I/O) that the memory
//! backend drives under one mutex. Per name it keeps the holder and a FIFO queue of waiters;
//! whenever a lock becomes free (release, expiry) it is handed straight to the head waiter
//! that is still listening, so a free lock is never up for grabs while someone queues.

use std::cmp::Reverse;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::lock::error::LockError;
use crate::lock::types::{Grant, LockName, LockToken, Ttl};

/// What `acquire` did.
pub(super) enum Outcome {
    /// The caller holds the lock.
    Granted(Grant),
    /// Taken (or others queue first) and the caller asked not to wait.
    Busy,
    /// The caller is queued; its grant arrives on the receiver.
    Queued(u64, oneshot::Receiver<Grant>),
}

struct Holder {
    token: LockToken,
    expires: Instant,
}

struct Waiter {
    id: u64,
    ttl: Ttl,
    tx: oneshot::Sender<Grant>,
}

#[derive(Default)]
struct Entry {
    holder: Option<Holder>,
    waiters: VecDeque<Waiter>,
}

impl Entry {
    fn is_idle(&self) -> bool {
        self.holder.is_none() && self.waiters.is_empty()
    }
}

/// Issues fences and tracks lease ends, apart from the per-name entries so both can be
/// borrowed mutably at once.
#[derive(Default)]
struct Issuer {
    last_fence: u64,
    next_waiter: u64,
    /// Lease ends to act on; stale items (released or extended grants) are skipped when popped.
    expiries: BinaryHeap<Reverse<(Instant, LockName)>>,
    /// Set when a lease ends earlier than any the reaper is sleeping towards.
    wake_reaper: bool,
}

impl Issuer {
    /// A fence above every earlier one. Seeded from the wall clock in microseconds so that a
    /// restarted server still issues larger fences than its previous life did (as long as
    /// the clock does not step back and grants average below a million per second).
    fn next_fence(&mut self) -> u64 {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.last_fence = (self.last_fence + 1).max(micros);
        self.last_fence
    }

    fn track_expiry(&mut self, name: &LockName, expires: Instant) {
        let earliest = self.expiries.peek().map(|Reverse((t, _))| *t);
        if earliest.is_none_or(|t| expires < t) {
            self.wake_reaper = true;
        }
        self.expiries.push(Reverse((expires, name.clone())));
    }

    fn issue(
        &mut self,
        name: &LockName,
        token: LockToken,
        ttl: Ttl,
        now: Instant,
    ) -> (Holder, Grant) {
        let expires = now + ttl.get();
        self.track_expiry(name, expires);
        let grant = Grant {
            token: token.clone(),
            fence: self.next_fence(),
            expires_at: SystemTime::now() + ttl.get(),
        };
        (Holder { token, expires }, grant)
    }
}

/// Every in-process lock.
pub(super) struct Table {
    locks: HashMap<LockName, Entry>,
    issuer: Issuer,
    max_waiters: usize,
}

impl Table {
    /// An empty table allowing `max_waiters` queued callers per name.
    pub(super) fn new(max_waiters: usize) -> Self {
        Self {
            locks: HashMap::new(),
            issuer: Issuer::default(),
            max_waiters,
        }
    }

    /// Grants the lock if it is free, else queues the caller when `queue` is set.
    pub(super) fn acquire(
        &mut self,
        name: &LockName,
        ttl: Ttl,
        now: Instant,
        queue: bool,
    ) -> Result<Outcome, LockError> {
        let entry = self.locks.entry(name.clone()).or_default();
        settle(entry, &mut self.issuer, name, now);
        if entry.holder.is_none() {
            let (holder, grant) = self.issuer.issue(name, LockToken::generate(), ttl, now);
            entry.holder = Some(holder);
            return Ok(Outcome::Granted(grant));
        }
        if !queue {
            return Ok(Outcome::Busy);
        }
        if entry.waiters.len() >= self.max_waiters {
            // Drop waiters whose callers have gone before refusing a live one.
            entry.waiters.retain(|w| !w.tx.is_closed());
            if entry.waiters.len() >= self.max_waiters {
                return Err(LockError::TooManyWaiters {
                    name: name.to_string(),
                    limit: self.max_waiters,
                });
            }
        }
        let id = self.issuer.next_waiter;
        self.issuer.next_waiter += 1;
        let (tx, rx) = oneshot::channel();
        entry.waiters.push_back(Waiter { id, ttl, tx });
        Ok(Outcome::Queued(id, rx))
    }

    /// Releases the grant `token` holds, handing the lock on.
    pub(super) fn release(&mut self, name: &LockName, token: &LockToken, now: Instant) -> bool {
        let Some(entry) = self.locks.get_mut(name) else {
            return false;
        };
        settle(entry, &mut self.issuer, name, now);
        let held = entry.holder.as_ref().is_some_and(|h| &h.token == token);
        if held {
            entry.holder = None;
            settle(entry, &mut self.issuer, name, now);
        }
        self.forget_if_idle(name);
        held
    }

    /// Renews the grant `token` holds to `ttl` from now.
    pub(super) fn extend(
        &mut self,
        name: &LockName,
        token: &LockToken,
        ttl: Ttl,
        now: Instant,
    ) -> Option<SystemTime> {
        let entry = self.locks.get_mut(name)?;
        settle(entry, &mut self.issuer, name, now);
        let holder = entry.holder.as_mut().filter(|h| &h.token == token)?;
        holder.expires = now + ttl.get();
        let expires = holder.expires;
        self.issuer.track_expiry(name, expires);
        Some(SystemTime::now() + ttl.get())
    }

    /// Takes waiter `id` out of the queue because its caller went away. A grant that was
    /// handed to it meanwhile (still unread in `rx`) is released and passed on at once.
    pub(super) fn leave(
        &mut self,
        name: &LockName,
        id: u64,
        rx: Option<oneshot::Receiver<Grant>>,
        now: Instant,
    ) {
        if let Some(entry) = self.locks.get_mut(name) {
            entry.waiters.retain(|w| w.id != id);
        }
        if let Some(grant) = rx.and_then(|mut rx| rx.try_recv().ok()) {
            self.release(name, &grant.token, now);
        }
        self.forget_if_idle(name);
    }

    /// Ends every lease due by `now` (handing each lock on) and returns when the next ends.
    pub(super) fn expire_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((at, _))) = self.issuer.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, name))) = self.issuer.expiries.pop() else {
                break;
            };
            if let MapEntry::Occupied(mut slot) = self.locks.entry(name.clone()) {
                settle(slot.get_mut(), &mut self.issuer, &name, now);
                if slot.get().is_idle() {
                    slot.remove();
                }
            }
        }
        self.issuer.expiries.peek().map(|Reverse((t, _))| *t)
    }

    /// Whether the reaper must wake to look at an earlier lease end (clears the flag).
    pub(super) fn take_reaper_wake(&mut self) -> bool {
        std::mem::take(&mut self.issuer.wake_reaper)
    }

    /// Names with a holder or waiters (for tests: idle names must not pile up).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.len()
    }

    fn forget_if_idle(&mut self, name: &LockName) {
        if self.locks.get(name).is_some_and(Entry::is_idle) {
            self.locks.remove(name);
        }
    }
}

/// Ends an expired lease and, while the lock is free, hands it to the first waiter still
/// listening. A waiter whose receiver is gone is skipped, never granted.
fn settle(entry: &mut Entry, issuer: &mut Issuer, name: &LockName, now: Instant) {
    if entry.holder.as_ref().is_some_and(|h| h.expires <= now) {
        entry.holder = None;
    }
    while entry.holder.is_none() {
        let Some(waiter) = entry.waiters.pop_front() else {
            break;
        };
        if waiter.tx.is_closed() {
            continue;
        }
        let (holder, grant) = issuer.issue(name, LockToken::generate(), waiter.ttl, now);
        if waiter.tx.send(grant).is_ok() {
            entry.holder = Some(holder);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lock::types::LockLimits;

    fn ttl(ms: u64) -> Ttl {
        let limits = LockLimits {
            default_ttl: Duration::from_secs(1),
            min_ttl: Duration::from_millis(1),
            max_ttl: Duration::from_secs(60),
            max_wait: Duration::from_secs(60),
            max_waiters: 4,
        };
        limits.ttl("ttl", Some(Duration::from_millis(ms))).unwrap()
    }

    fn name() -> LockName {
        LockName::new("n").unwrap()
    }

    fn granted(o: Outcome) -> Grant {
        match o {
            Outcome::Granted(g) => g,
            _ => panic!("expected a grant"),
        }
    }

    fn queued(o: Outcome) -> (u64, oneshot::Receiver<Grant>) {
        match o {
            Outcome::Queued(id, rx) => (id, rx),
            _ => panic!("expected to be queued"),
        }
    }

    #[test]
    fn release_hands_the_lock_to_the_head_waiter_with_a_larger_fence() {
        let mut t = Table::new(4);
        let now = Instant::now();
        let g = granted(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (_, mut rx1) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (_, mut rx2) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        assert!(t.release(&name(), &g.token, now));
        let g1 = rx1.try_recv().expect("head waiter got the lock");
        assert!(g1.fence > g.fence);
        assert!(rx2.try_recv().is_err(), "second waiter still waits");
        assert!(
            !t.release(&name(), &g.token, now),
            "old token no longer holds it"
        );
    }

    #[test]
    fn a_waiter_that_left_is_skipped_and_a_grant_it_missed_is_passed_on() {
        let mut t = Table::new(4);
        let now = Instant::now();
        let g = granted(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (id1, rx1) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (id2, rx2) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (_, mut rx3) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        drop(rx1); // cancelled before the hand-off: skipped
        assert!(t.release(&name(), &g.token, now));
        // waiter 2 was granted, but leaves before reading it: passed on to waiter 3
        t.leave(&name(), id2, Some(rx2), now);
        t.leave(&name(), id1, None, now);
        assert!(rx3.try_recv().is_ok());
    }

    #[test]
    fn expiry_hands_over_and_idle_names_are_forgotten() {
        let mut t = Table::new(4);
        let now = Instant::now();
        granted(t.acquire(&name(), ttl(10), now, true).unwrap());
        let (_, mut rx) = queued(t.acquire(&name(), ttl(10), now, true).unwrap());
        let next = t.expire_due(now).expect("a lease is pending");
        assert_eq!(next, now + Duration::from_millis(10));
        t.expire_due(next);
        let g = rx.try_recv().expect("expiry handed the lock over");
        assert_eq!(t.len(), 1);
        t.expire_due(next + Duration::from_millis(10));
        assert_eq!(t.len(), 0, "expired, no waiters: the name is dropped");
        assert!(t.extend(&name(), &g.token, ttl(10), now).is_none());
    }

    #[test]
    fn the_queue_is_capped_per_name() {
        let mut t = Table::new(1);
        let now = Instant::now();
        granted(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (_, _rx) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        assert!(matches!(
            t.acquire(&name(), ttl(100), now, true),
            Err(LockError::TooManyWaiters { .. })
        ));
    }
}
