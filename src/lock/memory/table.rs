//! The in-process lock table: a plain state machine (no tasks, no I/O) that the memory
//! backend drives under one mutex. Per name it keeps the holder and a FIFO queue of waiters;
//! whenever a lock becomes free (release, expiry) it is handed straight to the head waiter
//! that is still listening, so a free lock is never up for grabs while someone queues.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;

use crate::lock::error::LockError;
use crate::lock::types::{Grant, LockName, LockToken, Ttl};

/// What `acquire` did.
pub(super) enum Admission {
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
    next_waiter: u64,
    /// Lease ends, earliest first: exactly one item per held lock, keyed by the holder's
    /// expiry and name, so an Extend moves its item instead of adding one and the set never
    /// holds more than the live leases (looping Extend cannot grow memory).
    expiries: BTreeSet<(Instant, LockName)>,
    /// Set when a lease ends earlier than any the reaper is sleeping towards.
    wake_reaper: bool,
}

impl Issuer {
    /// A fence above every earlier one, from the process-wide sequence shared with the
    /// semaphore and read-write table.
    fn next_fence(&mut self) -> u64 {
        super::fence::next_fence()
    }

    /// Starts tracking a lease that ends at `expires`.
    fn start_lease(&mut self, name: &LockName, expires: Instant) {
        if self.expiries.first().is_none_or(|(t, _)| expires < *t) {
            self.wake_reaper = true;
        }
        self.expiries.insert((expires, name.clone()));
    }

    /// Stops tracking the lease of `name` that ends at `expires`.
    fn end_lease(&mut self, name: &LockName, expires: Instant) {
        self.expiries.remove(&(expires, name.clone()));
    }

    /// A new grant of `ttl` from `now`; its lease is tracked once the holder is installed.
    fn issue(&mut self, ttl: Ttl, now: Instant) -> (Holder, Grant) {
        let token = LockToken::generate();
        let grant = Grant {
            token: token.clone(),
            fence: self.next_fence(),
            expires_at: SystemTime::now() + ttl.get(),
        };
        (
            Holder {
                token,
                expires: now + ttl.get(),
            },
            grant,
        )
    }

    /// Makes `holder` the holder of `entry` and tracks its lease.
    fn install(&mut self, entry: &mut Entry, name: &LockName, holder: Holder) {
        self.start_lease(name, holder.expires);
        entry.holder = Some(holder);
    }

    /// Takes the holder out of `entry` and stops tracking its lease.
    fn evict(&mut self, entry: &mut Entry, name: &LockName) {
        if let Some(old) = entry.holder.take() {
            self.end_lease(name, old.expires);
        }
    }
}

/// Every in-process lock.
pub(super) struct Table {
    locks: HashMap<LockName, Entry>,
    issuer: Issuer,
    max_waiters: usize,
    max_names: usize,
}

impl Table {
    /// An empty table allowing `max_waiters` queued callers per name and `max_names` names
    /// (held or waited on) in all.
    pub(super) fn new(max_waiters: usize, max_names: usize) -> Self {
        Self {
            locks: HashMap::new(),
            issuer: Issuer::default(),
            max_waiters,
            max_names,
        }
    }

    /// Grants the lock if it is free, else queues the caller when `queue` is set.
    pub(super) fn acquire(
        &mut self,
        name: &LockName,
        ttl: Ttl,
        now: Instant,
        queue: bool,
    ) -> Result<Admission, LockError> {
        if self.locks.len() >= self.max_names && !self.locks.contains_key(name) {
            // Every tracked name costs memory until it is idle again: a caller inventing
            // names must hit a bound, not the process's memory.
            return Err(LockError::TooManyNames {
                limit: self.max_names,
            });
        }
        let entry = self.locks.entry(name.clone()).or_default();
        hand_on(entry, &mut self.issuer, name, now);
        if entry.holder.is_none() {
            let (holder, grant) = self.issuer.issue(ttl, now);
            self.issuer.install(entry, name, holder);
            return Ok(Admission::Granted(grant));
        }
        if !queue {
            return Ok(Admission::Busy);
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
        Ok(Admission::Queued(id, rx))
    }

    /// Releases the grant `token` holds, handing the lock on.
    pub(super) fn release(&mut self, name: &LockName, token: &LockToken, now: Instant) -> bool {
        let Some(entry) = self.locks.get_mut(name) else {
            return false;
        };
        hand_on(entry, &mut self.issuer, name, now);
        let held = entry.holder.as_ref().is_some_and(|h| &h.token == token);
        if held {
            self.issuer.evict(entry, name);
            hand_on(entry, &mut self.issuer, name, now);
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
        hand_on(entry, &mut self.issuer, name, now);
        let holder = entry.holder.as_mut().filter(|h| &h.token == token)?;
        let before = std::mem::replace(&mut holder.expires, now + ttl.get());
        let after = holder.expires;
        self.issuer.end_lease(name, before);
        self.issuer.start_lease(name, after);
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
        while self
            .issuer
            .expiries
            .first()
            .is_some_and(|(at, _)| *at <= now)
        {
            // Taken out first, so the loop moves on even if the entry were gone.
            let Some((_, name)) = self.issuer.expiries.pop_first() else {
                break;
            };
            if let MapEntry::Occupied(mut slot) = self.locks.entry(name.clone()) {
                hand_on(slot.get_mut(), &mut self.issuer, &name, now);
                if slot.get().is_idle() {
                    slot.remove();
                }
            }
        }
        self.issuer.expiries.first().map(|(t, _)| *t)
    }

    /// Whether the reaper must wake to look at an earlier lease end (clears the flag).
    pub(super) fn take_reaper_wake(&mut self) -> bool {
        std::mem::take(&mut self.issuer.wake_reaper)
    }

    /// Whether `name` has a live holder or waiters, so that it cannot become a semaphore or
    /// read-write lock meanwhile.
    pub(super) fn in_use(&self, name: &LockName, now: Instant) -> bool {
        self.locks.get(name).is_some_and(|e| {
            e.holder.as_ref().is_some_and(|h| h.expires > now) || !e.waiters.is_empty()
        })
    }

    /// Names with a holder or waiters (for tests: idle names must not pile up).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.len()
    }

    /// Lease ends tracked (for tests: one per held lock, whatever was extended).
    #[cfg(test)]
    fn tracked_leases(&self) -> usize {
        self.issuer.expiries.len()
    }

    fn forget_if_idle(&mut self, name: &LockName) {
        if self.locks.get(name).is_some_and(Entry::is_idle) {
            self.locks.remove(name);
        }
    }
}

/// Ends an expired lease and, while the lock is free, hands it to the first waiter still
/// listening. A waiter whose receiver is gone is skipped, never granted.
fn hand_on(entry: &mut Entry, issuer: &mut Issuer, name: &LockName, now: Instant) {
    if entry.holder.as_ref().is_some_and(|h| h.expires <= now) {
        issuer.evict(entry, name);
    }
    while entry.holder.is_none() {
        let Some(waiter) = entry.waiters.pop_front() else {
            break;
        };
        if waiter.tx.is_closed() {
            continue;
        }
        let (holder, grant) = issuer.issue(waiter.ttl, now);
        if waiter.tx.send(grant).is_ok() {
            issuer.install(entry, name, holder);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ttl(ms: u64) -> Ttl {
        Ttl::unchecked(Duration::from_millis(ms))
    }

    fn name() -> LockName {
        LockName::new("n").unwrap()
    }

    fn granted(o: Admission) -> Grant {
        match o {
            Admission::Granted(g) => g,
            _ => panic!("expected a grant"),
        }
    }

    fn queued(o: Admission) -> (u64, oneshot::Receiver<Grant>) {
        match o {
            Admission::Queued(id, rx) => (id, rx),
            _ => panic!("expected to be queued"),
        }
    }

    #[test]
    fn release_hands_the_lock_to_the_head_waiter_with_a_larger_fence() {
        let mut t = Table::new(4, 100);
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
        let mut t = Table::new(4, 100);
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
        let mut t = Table::new(4, 100);
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
    fn looping_extend_keeps_one_tracked_lease_per_held_lock() {
        let mut t = Table::new(4, 100);
        let now = Instant::now();
        let a = granted(t.acquire(&name(), ttl(100), now, true).unwrap());
        let other = LockName::new("other").unwrap();
        let b = granted(t.acquire(&other, ttl(100), now, true).unwrap());
        for i in 0..10_000u64 {
            let at = now + Duration::from_micros(i);
            assert!(t.extend(&name(), &a.token, ttl(60_000), at).is_some());
            assert!(t.extend(&other, &b.token, ttl(60_000), at).is_some());
            assert!(
                t.tracked_leases() <= 2,
                "after {i} extends: {}",
                t.tracked_leases()
            );
        }
        assert!(t.release(&name(), &a.token, now));
        assert_eq!(
            t.tracked_leases(),
            1,
            "a released lease is no longer tracked"
        );
        assert_eq!(
            t.expire_due(now + Duration::from_secs(3600)),
            None,
            "the extended lease ended once, at its last expiry"
        );
        assert_eq!((t.tracked_leases(), t.len()), (0, 0));
    }

    #[test]
    fn the_queue_is_capped_per_name() {
        let mut t = Table::new(1, 100);
        let now = Instant::now();
        granted(t.acquire(&name(), ttl(100), now, true).unwrap());
        let (_, _rx) = queued(t.acquire(&name(), ttl(100), now, true).unwrap());
        assert!(matches!(
            t.acquire(&name(), ttl(100), now, true),
            Err(LockError::TooManyWaiters { .. })
        ));
    }

    #[test]
    fn names_are_capped_server_wide_and_freed_names_make_room() {
        let mut t = Table::new(4, 2);
        let now = Instant::now();
        let n = |s: &str| LockName::new(s).unwrap();
        let a = granted(t.acquire(&n("a"), ttl(100), now, false).unwrap());
        let b = granted(t.acquire(&n("b"), ttl(100), now, false).unwrap());
        let Err(err) = t.acquire(&n("c"), ttl(100), now, false) else {
            panic!("a third name is refused");
        };
        assert!(matches!(err, LockError::TooManyNames { limit: 2 }), "{err}");
        assert!(err.to_string().contains("--lock-max-names"), "{err}");
        // A name already tracked is still served (queued on, here).
        let (_, _waiting) = queued(t.acquire(&n("a"), ttl(100), now, true).unwrap());
        assert!(t.release(&n("a"), &a.token, now));
        assert!(
            t.acquire(&n("c"), ttl(100), now, false).is_err(),
            "a is still held (handed on)"
        );
        assert!(t.release(&n("b"), &b.token, now));
        assert!(
            t.acquire(&n("c"), ttl(100), now, false).is_ok(),
            "b's name is forgotten and makes room"
        );
    }
}
