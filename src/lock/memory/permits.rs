//! The in-process table of semaphores and read-write locks: a plain state machine (no tasks,
//! no I/O) the memory backend drives under one mutex, beside the mutex table.
//!
//! One admission rule serves both kinds: a name has a capacity (a semaphore's limit, or
//! [`RW_CAPACITY`] for a read-write lock, where a writer weighs all of it and a reader one
//! unit) and a grant is admitted when its weight fits in what is free. Waiters are served
//! strictly in arrival order: whenever permits come free (release, expiry, a waiter leaving)
//! every head waiter that now fits is granted at once, so freeing k permits wakes exactly the
//! waiters they serve, and a large request is never passed over by smaller ones behind it.
//! Read-write locks add the phase-fair rule: when a write phase ends, every queued reader is
//! admitted together, ahead of writers queued before them.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;

use super::fence::next_fence;
use super::table::Admission;
use crate::lock::claim::{Claim, LockKind};
use crate::lock::error::LockError;
use crate::lock::types::{Grant, LockName, LockToken, Ttl};

struct Holder {
    weight: u64,
    writer: bool,
    expires: Instant,
}

struct Waiter {
    id: u64,
    ttl: Ttl,
    claim: Claim,
    tx: oneshot::Sender<Grant>,
}

struct Entry {
    kind: LockKind,
    /// Sum of the holders' weights, never above `kind.capacity()`.
    used: u64,
    holders: HashMap<LockToken, Holder>,
    waiters: VecDeque<Waiter>,
    /// Whether the latest grant went to a writer: its end starts a read phase.
    last_writer: bool,
}

impl Entry {
    fn new(kind: LockKind) -> Self {
        Self {
            kind,
            used: 0,
            holders: HashMap::new(),
            waiters: VecDeque::new(),
            last_writer: false,
        }
    }

    fn is_idle(&self) -> bool {
        self.holders.is_empty() && self.waiters.is_empty()
    }

    fn fits(&self, claim: Claim) -> bool {
        self.used + claim.weight() <= self.kind.capacity()
    }
}

/// Lease ends of every grant, earliest first, one item per live grant.
#[derive(Default)]
struct Leases {
    ends: BTreeSet<(Instant, LockName, String)>,
    /// Set when a lease ends earlier than any the reaper is sleeping towards.
    wake_reaper: bool,
}

impl Leases {
    fn start(&mut self, name: &LockName, token: &LockToken, at: Instant) {
        if self.ends.first().is_none_or(|(t, _, _)| at < *t) {
            self.wake_reaper = true;
        }
        self.ends
            .insert((at, name.clone(), token.as_str().to_owned()));
    }

    fn end(&mut self, name: &LockName, token: &LockToken, at: Instant) {
        self.ends
            .remove(&(at, name.clone(), token.as_str().to_owned()));
    }
}

/// Every in-process semaphore and read-write lock.
pub(super) struct Permits {
    names: HashMap<LockName, Entry>,
    leases: Leases,
    next_waiter: u64,
    max_waiters: usize,
}

impl Permits {
    /// An empty table allowing `max_waiters` queued callers per name.
    pub(super) fn new(max_waiters: usize) -> Self {
        Self {
            names: HashMap::new(),
            leases: Leases::default(),
            next_waiter: 0,
            max_waiters,
        }
    }

    /// The kind of `name` while anyone holds or waits on it.
    pub(super) fn kind_in_use(&self, name: &LockName) -> Option<LockKind> {
        self.names.get(name).map(|e| e.kind)
    }

    /// Grants `claim` at once if it fits and nobody queues ahead, else queues the caller when
    /// `queue` is set. A name in use as another kind is [`LockError::KindMismatch`].
    pub(super) fn acquire(
        &mut self,
        name: &LockName,
        claim: Claim,
        ttl: Ttl,
        now: Instant,
        queue: bool,
    ) -> Result<Admission, LockError> {
        let entry = self
            .names
            .entry(name.clone())
            .or_insert_with(|| Entry::new(claim.kind()));
        if entry.kind != claim.kind() {
            return Err(LockError::KindMismatch {
                name: name.to_string(),
                held: entry.kind,
                asked: claim.kind(),
            });
        }
        hand_on(entry, &mut self.leases, name, now);
        if entry.waiters.is_empty() && entry.fits(claim) {
            let (token, grant, holder) = issue(claim, ttl, now);
            install(entry, &mut self.leases, name, token, holder);
            return Ok(Admission::Granted(grant));
        }
        if !queue {
            self.forget_if_idle(name);
            return Ok(Admission::Busy);
        }
        if entry.waiters.len() >= self.max_waiters {
            entry.waiters.retain(|w| !w.tx.is_closed());
            if entry.waiters.len() >= self.max_waiters {
                return Err(LockError::TooManyWaiters {
                    name: name.to_string(),
                    limit: self.max_waiters,
                });
            }
        }
        let id = self.next_waiter;
        self.next_waiter += 1;
        let (tx, rx) = oneshot::channel();
        entry.waiters.push_back(Waiter { id, ttl, claim, tx });
        Ok(Admission::Queued(id, rx))
    }

    /// Releases the grant `token` holds, granting what its permits now serve.
    pub(super) fn release(&mut self, name: &LockName, token: &LockToken, now: Instant) -> bool {
        let Some(entry) = self.names.get_mut(name) else {
            return false;
        };
        hand_on(entry, &mut self.leases, name, now);
        let held = match entry.holders.remove(token) {
            Some(holder) => {
                evicted(entry, &mut self.leases, name, token, &holder);
                hand_on(entry, &mut self.leases, name, now);
                true
            }
            None => false,
        };
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
        let entry = self.names.get_mut(name)?;
        hand_on(entry, &mut self.leases, name, now);
        let holder = entry.holders.get_mut(token)?;
        let before = std::mem::replace(&mut holder.expires, now + ttl.get());
        self.leases.end(name, token, before);
        self.leases.start(name, token, now + ttl.get());
        Some(SystemTime::now() + ttl.get())
    }

    /// Takes waiter `id` out of the queue because its caller went away; a grant handed to it
    /// meanwhile (unread in `rx`) is released and its permits passed on at once.
    pub(super) fn leave(
        &mut self,
        name: &LockName,
        id: u64,
        rx: Option<oneshot::Receiver<Grant>>,
        now: Instant,
    ) {
        if let Some(entry) = self.names.get_mut(name) {
            entry.waiters.retain(|w| w.id != id);
            // The leaver may have been the head that blocked smaller requests behind it.
            hand_on(entry, &mut self.leases, name, now);
        }
        if let Some(grant) = rx.and_then(|mut rx| rx.try_recv().ok()) {
            self.release(name, &grant.token, now);
        }
        self.forget_if_idle(name);
    }

    /// Ends every lease due by `now` (granting what the freed permits serve) and returns when
    /// the next ends.
    pub(super) fn expire_due(&mut self, now: Instant) -> Option<Instant> {
        while self
            .leases
            .ends
            .first()
            .is_some_and(|(at, _, _)| *at <= now)
        {
            let Some(first) = self.leases.ends.first().cloned() else {
                break;
            };
            if let Some(entry) = self.names.get_mut(&first.1) {
                hand_on(entry, &mut self.leases, &first.1, now);
            }
            // Progress even if the item had no holder behind it.
            if self.leases.ends.first() == Some(&first) {
                self.leases.ends.pop_first();
            }
            self.forget_if_idle(&first.1);
        }
        self.leases.ends.first().map(|(t, _, _)| *t)
    }

    /// Whether the reaper must wake to look at an earlier lease end (clears the flag).
    pub(super) fn take_reaper_wake(&mut self) -> bool {
        std::mem::take(&mut self.leases.wake_reaper)
    }

    fn forget_if_idle(&mut self, name: &LockName) {
        if self.names.get(name).is_some_and(Entry::is_idle) {
            self.names.remove(name);
        }
    }

    /// Names in use (for tests: idle names must not pile up).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.names.len()
    }

    /// Lease ends tracked (for tests: one per live grant).
    #[cfg(test)]
    fn tracked_leases(&self) -> usize {
        self.leases.ends.len()
    }
}

/// A new grant of `claim` for `ttl` from `now`.
fn issue(claim: Claim, ttl: Ttl, now: Instant) -> (LockToken, Grant, Holder) {
    let token = LockToken::generate_for_permits();
    let grant = Grant {
        token: token.clone(),
        fence: next_fence(),
        expires_at: SystemTime::now() + ttl.get(),
    };
    let holder = Holder {
        weight: claim.weight(),
        writer: claim.is_writer(),
        expires: now + ttl.get(),
    };
    (token, grant, holder)
}

/// Makes `holder` a holder of `entry`, taking its permits and tracking its lease.
fn install(
    entry: &mut Entry,
    leases: &mut Leases,
    name: &LockName,
    token: LockToken,
    holder: Holder,
) {
    entry.used += holder.weight;
    entry.last_writer = holder.writer;
    leases.start(name, &token, holder.expires);
    entry.holders.insert(token, holder);
}

/// Gives back the permits of a holder just taken out of `entry`.
fn evicted(
    entry: &mut Entry,
    leases: &mut Leases,
    name: &LockName,
    token: &LockToken,
    holder: &Holder,
) {
    entry.used -= holder.weight;
    leases.end(name, token, holder.expires);
}

/// Hands `waiter` its grant, unless its caller has gone (nothing is taken then).
fn grant_to(entry: &mut Entry, leases: &mut Leases, name: &LockName, waiter: Waiter, now: Instant) {
    if waiter.tx.is_closed() {
        return;
    }
    let (token, grant, holder) = issue(waiter.claim, waiter.ttl, now);
    if waiter.tx.send(grant).is_ok() {
        install(entry, leases, name, token, holder);
    }
}

/// Ends expired leases, then grants waiters while permits allow: after a write phase every
/// queued reader first (phase-fair), then the head of the queue while it fits.
fn hand_on(entry: &mut Entry, leases: &mut Leases, name: &LockName, now: Instant) {
    let expired: Vec<LockToken> = entry
        .holders
        .iter()
        .filter(|(_, h)| h.expires <= now)
        .map(|(t, _)| t.clone())
        .collect();
    for token in expired {
        if let Some(holder) = entry.holders.remove(&token) {
            evicted(entry, leases, name, &token, &holder);
        }
    }
    if entry.kind == LockKind::ReadWrite
        && entry.used == 0
        && entry.last_writer
        && entry.waiters.iter().any(|w| !w.claim.is_writer())
    {
        let (readers, writers): (VecDeque<Waiter>, VecDeque<Waiter>) =
            entry.waiters.drain(..).partition(|w| !w.claim.is_writer());
        entry.waiters = writers;
        for reader in readers {
            grant_to(entry, leases, name, reader, now);
        }
    }
    while let Some(head) = entry.waiters.front() {
        if !head.tx.is_closed() && !entry.fits(head.claim) {
            break;
        }
        let Some(waiter) = entry.waiters.pop_front() else {
            break;
        };
        grant_to(entry, leases, name, waiter, now);
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

    fn sem(limit: u32, permits: u32) -> Claim {
        Claim::Permits { limit, permits }
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
    fn a_semaphore_grants_up_to_its_limit_with_rising_fences() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let a = granted(t.acquire(&name(), sem(3, 1), ttl(100), now, true).unwrap());
        let b = granted(t.acquire(&name(), sem(3, 2), ttl(100), now, true).unwrap());
        assert!(b.fence > a.fence);
        assert!(a.token.is_for_permits());
        assert!(matches!(
            t.acquire(&name(), sem(3, 1), ttl(100), now, false).unwrap(),
            Admission::Busy
        ));
        assert!(t.release(&name(), &a.token, now));
        assert!(!t.release(&name(), &a.token, now), "released once");
        granted(t.acquire(&name(), sem(3, 1), ttl(100), now, false).unwrap());
    }

    #[test]
    fn a_multi_permit_waiter_is_woken_once_enough_permits_are_free() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let a = granted(t.acquire(&name(), sem(3, 1), ttl(100), now, true).unwrap());
        let b = granted(t.acquire(&name(), sem(3, 1), ttl(100), now, true).unwrap());
        let (_, mut big) = queued(t.acquire(&name(), sem(3, 3), ttl(100), now, true).unwrap());
        let (_, mut small) = queued(t.acquire(&name(), sem(3, 1), ttl(100), now, true).unwrap());
        assert!(
            small.try_recv().is_err(),
            "FIFO: the small one does not pass the big one"
        );
        assert!(t.release(&name(), &a.token, now));
        assert!(big.try_recv().is_err(), "two of three free: not yet");
        assert!(t.release(&name(), &b.token, now));
        let g = big
            .try_recv()
            .expect("all three free: the big waiter has them");
        assert!(small.try_recv().is_err());
        assert!(t.release(&name(), &g.token, now));
        small.try_recv().expect("then the small one");
    }

    #[test]
    fn freeing_k_permits_wakes_every_waiter_they_serve() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let all = granted(t.acquire(&name(), sem(4, 4), ttl(100), now, true).unwrap());
        let mut rxs: Vec<_> = (0..5)
            .map(|_| queued(t.acquire(&name(), sem(4, 1), ttl(100), now, true).unwrap()).1)
            .collect();
        assert!(t.release(&name(), &all.token, now));
        let woken = rxs.iter_mut().filter_map(|rx| rx.try_recv().ok()).count();
        assert_eq!(woken, 4);
    }

    #[test]
    fn a_waiting_writer_stops_new_readers_and_a_write_phase_admits_every_queued_reader() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let r1 = granted(
            t.acquire(&name(), Claim::Read, ttl(100), now, true)
                .unwrap(),
        );
        let (_, mut w1) = queued(
            t.acquire(&name(), Claim::Write, ttl(100), now, true)
                .unwrap(),
        );
        let (_, mut r2) = queued(
            t.acquire(&name(), Claim::Read, ttl(100), now, true)
                .unwrap(),
        );
        let (_, mut w2) = queued(
            t.acquire(&name(), Claim::Write, ttl(100), now, true)
                .unwrap(),
        );
        let (_, mut r3) = queued(
            t.acquire(&name(), Claim::Read, ttl(100), now, true)
                .unwrap(),
        );
        assert!(t.release(&name(), &r1.token, now));
        let w1g = w1
            .try_recv()
            .expect("the writer goes when the readers are done");
        assert!(w1g.fence > r1.fence);
        assert!(r2.try_recv().is_err());
        assert!(t.release(&name(), &w1g.token, now));
        let r2g = r2.try_recv().expect("read phase");
        let r3g = r3.try_recv().expect("every queued reader, even behind w2");
        assert!(w2.try_recv().is_err(), "w2 waits for this read phase");
        assert!(t.release(&name(), &r2g.token, now));
        assert!(t.release(&name(), &r3g.token, now));
        assert!(w2.try_recv().unwrap().fence > r3g.fence);
    }

    #[test]
    fn kinds_and_limits_are_fixed_while_in_use_and_forgotten_when_idle() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let g = granted(t.acquire(&name(), sem(5, 1), ttl(100), now, true).unwrap());
        let err = match t.acquire(&name(), sem(3, 1), ttl(100), now, true) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("another limit is refused"),
        };
        assert!(err.contains("limit 5") && err.contains("limit 3"), "{err}");
        assert!(
            t.acquire(&name(), Claim::Read, ttl(100), now, true)
                .is_err()
        );
        assert!(t.release(&name(), &g.token, now));
        assert_eq!(t.len(), 0);
        granted(
            t.acquire(&name(), Claim::Read, ttl(100), now, true)
                .unwrap(),
        );
    }

    #[test]
    fn expiry_frees_exactly_the_expired_grant_and_idle_names_go() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let short = granted(t.acquire(&name(), sem(2, 1), ttl(10), now, true).unwrap());
        let long = granted(t.acquire(&name(), sem(2, 1), ttl(50), now, true).unwrap());
        let (_, mut rx) = queued(t.acquire(&name(), sem(2, 1), ttl(10), now, true).unwrap());
        let next = t.expire_due(now).expect("leases pending");
        assert_eq!(next, now + Duration::from_millis(10));
        t.expire_due(next);
        rx.try_recv()
            .expect("the expired permit went to the waiter");
        assert!(t.extend(&name(), &short.token, ttl(10), next).is_none());
        assert!(t.extend(&name(), &long.token, ttl(10), next).is_some());
        assert_eq!(t.expire_due(now + Duration::from_secs(1)), None);
        assert_eq!((t.len(), t.tracked_leases()), (0, 0));
    }

    #[test]
    fn a_grant_left_unread_by_a_departed_waiter_is_passed_on() {
        let mut t = Permits::new(8);
        let now = Instant::now();
        let g = granted(t.acquire(&name(), sem(2, 2), ttl(100), now, true).unwrap());
        let (id, rx) = queued(t.acquire(&name(), sem(2, 2), ttl(100), now, true).unwrap());
        let (_, mut next) = queued(t.acquire(&name(), sem(2, 1), ttl(100), now, true).unwrap());
        assert!(t.release(&name(), &g.token, now));
        t.leave(&name(), id, Some(rx), now);
        next.try_recv()
            .expect("the leaver's permits were passed on");
        assert_eq!(t.tracked_leases(), 1, "no permit leaked to the leaver");
    }
}
