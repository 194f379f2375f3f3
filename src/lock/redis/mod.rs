//! The Redis backend (`--redis-url`): locks shared by every server naming the same Redis.
//!
//! Each operation is one Lua script (see `scripts/`). Waiters queue in a per-name sorted set
//! ordered by arrival; a release hands the lock straight to the head waiter inside the script
//! and announces it on the lock's channel, so one hand-off costs O(1) Redis work. A waiter
//! that misses the announcement still finds out: the head of the queue re-checks when the
//! holder's lease ends (the script tells it when), every waiter re-checks at least every
//! `--lock-recheck`, and each re-check also refreshes the waiter's queue entry so entries of
//! a crashed server lapse.
//!
//! `--redis-url` picks the topology ([`topology::Topology`]): one server and a Sentinel-managed primary
//! run the scripts on a pool and hear hand-offs through one pattern subscription
//! (`wakeups`); Redis Cluster runs them through the cluster client and hears hand-offs over
//! sharded pub/sub (`cluster`). The lock semantics are the same on each.

mod cluster;
mod pool;
mod scripts;
mod sentinel;
mod store;
use crate::config::topology;
mod wakeups;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::backend::LockBackend;
use super::claim::Claim;
use super::error::LockError;
use super::types::{AcquireRequest, Grant, LockName, LockToken, Ttl};
use crate::config::RedisSettings;
use crate::log_limit::Verdict;
use crate::shutdown::Shutdown;
use cluster::Cluster;
use scripts::{AcquireReply, LockKeys, ReleaseReply, Scripts};
use store::Store;
use wakeups::{Handed, OutageLine, Slot, Wake, Wakeups};

/// Departed waiters whose queue entries await removal; beyond this, entries are left to lapse
/// on their own (within a waiter lease).
const LEAVE_QUEUE: usize = 1024;

/// The wake-up listener pings Redis at least this often (more often with a short
/// `--lock-recheck`), so a dead subscription is noticed within it even when no lock is busy.
pub(super) const MAX_PING_INTERVAL: Duration = Duration::from_secs(5);
/// Leave scripts run at once by the janitor.
const LEAVE_CONCURRENCY: usize = 16;

struct BackendCore {
    store: Store,
    /// Redis Cluster only: the sharded wake-up subscriptions.
    cluster: Option<Arc<Cluster>>,
    scripts: Scripts,
    wakeups: Arc<Wakeups>,
    prefix: String,
    recheck: Duration,
    waiter_lease: Duration,
    max_waiters: usize,
    leave_tx: mpsc::Sender<(LockName, LockToken)>,
    /// `--redis-retries`: retries of a call that found Redis unreachable.
    retries: u32,
    /// `--redis-retry-interval`: the longest pause before each.
    retry_interval: Duration,
}

/// Locks in Redis, shared by every streamgate naming it.
pub(crate) struct RedisBackend {
    inner: Arc<BackendCore>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl RedisBackend {
    /// Sets up the connections and the wake-up listener for the topology `--redis-url`
    /// names (parsed once, into the settings). Fails only when a client cannot be built:
    /// when Redis is down, this logs a warning, lock calls answer UNAVAILABLE, and everything
    /// reconnects by itself.
    pub(crate) async fn connect(
        redis: &RedisSettings,
        recheck: Duration,
        max_waiters: usize,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let timeout = redis.timeout;
        let wakeups = Arc::new(Wakeups::default());
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let store::Opened {
            store,
            cluster,
            announce,
            mut tasks,
        } = store::open(redis, recheck, &wakeups, &shutdown, first_tx)?;
        let (leave_tx, leave_rx) = mpsc::channel(LEAVE_QUEUE);
        let inner = Arc::new(BackendCore {
            store,
            cluster,
            scripts: Scripts::new(announce),
            wakeups: wakeups.clone(),
            prefix: redis.key_prefix.clone(),
            recheck,
            // Refreshed at least every re-check; two missed refreshes and a timeout's grace
            // before another server may treat the entry as dead.
            waiter_lease: recheck * 2 + timeout,
            max_waiters,
            leave_tx,
            retries: redis.retries,
            retry_interval: redis.retry_interval,
        });
        let janitor = tokio::spawn(janitor(inner.clone(), leave_rx));
        let _ = first_rx.await;
        if wakeups.is_up() {
            inner.warn_if_eviction_can_drop_locks().await;
        } else {
            tracing::warn!(
                "Redis at --redis-url is unreachable at start-up; lock calls answer UNAVAILABLE until it is back"
            );
        }
        tasks.push(janitor);
        Ok(Self { inner, tasks })
    }
}

impl BackendCore {
    fn keys(&self, name: &LockName) -> LockKeys {
        LockKeys::new(&self.prefix, name)
    }

    fn check_reachable(&self) -> Result<(), LockError> {
        if self.wakeups.redis_known_down() {
            let why = match self.wakeups.last_failure() {
                Some(why) => format!("Redis is unreachable (reconnecting): {why}"),
                None => "Redis is unreachable (reconnecting)".into(),
            };
            return Err(LockError::Unavailable(why));
        }
        Ok(())
    }

    /// Runs `op` again while it finds Redis unreachable: at most `--redis-retries` times,
    /// each after `--redis-retry-interval` or as soon as the wake-up listener sees Redis
    /// back, whichever comes first, and never past `until`. This is what lets a call ride
    /// out a failover (Sentinel promoting a replica, a Cluster replica taking over a slot):
    /// every retry dials afresh, so it asks the sentinels or the cluster for the primary of
    /// the moment, as Redisson's `retryAttempts`/`retryInterval` do. Retrying a script is
    /// safe: each is idempotent for its token (acquire answers "granted" again to the token
    /// that already holds the lock; release and extend check the token).
    async fn retrying<T, F, Fut>(&self, until: Option<Instant>, mut op: F) -> Result<T, LockError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LockError>>,
    {
        let mut left = self.retries;
        loop {
            let why = match op().await {
                Err(LockError::Unavailable(why)) if left > 0 => why,
                other => return other,
            };
            let pause_end = Instant::now() + self.retry_interval;
            if until.is_some_and(|u| pause_end >= u) {
                return Err(LockError::Unavailable(why));
            }
            left -= 1;
            let line = self.wakeups.outage_lines.check(&OutageLine::CallRetried);
            if let Verdict::Log { .. } = line {
                tracing::warn!(
                    "a lock call found Redis unreachable ({why}); retrying{}",
                    line.suffix()
                );
            }
            self.pause_for_redis(pause_end).await;
        }
    }

    /// Waits until `until`, or until the wake-up listener sees Redis come back when it is
    /// known to be down now.
    async fn pause_for_redis(&self, until: Instant) {
        let mut up = self.wakeups.availability();
        let down_now = !*up.borrow_and_update();
        let back = async move {
            if down_now {
                let _ = up.wait_for(|up| *up).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = back => {}
        }
    }

    /// Locks vanish if Redis may evict keys with a TTL; say so loudly once connected.
    async fn warn_if_eviction_can_drop_locks(&self) {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("maxmemory-policy");
        match self.store.query::<Vec<String>>(&cmd).await {
            Ok(reply) => {
                let policy = reply.get(1).map(String::as_str).unwrap_or("");
                if policy != "noeviction" && !policy.is_empty() {
                    tracing::warn!(
                        "Redis maxmemory-policy is {policy:?}: under memory pressure Redis may evict lock keys, \
                         silently freeing held locks; set it to \"noeviction\""
                    );
                }
            }
            Err(e) => tracing::info!(
                "could not read Redis maxmemory-policy ({e}); check it is noeviction"
            ),
        }
    }

    async fn try_acquire(
        &self,
        keys: &LockKeys,
        token: &LockToken,
        req: &AcquireRequest,
        join: bool,
        until: Option<Instant>,
    ) -> Result<AcquireReply, LockError> {
        self.retrying(until, || async {
            self.check_reachable()?;
            let inv = self.scripts.acquire(
                keys,
                token,
                req.claim,
                req.ttl,
                join,
                self.waiter_lease,
                self.max_waiters,
            );
            let reply: Vec<i64> = self.store.invoke(&inv).await?;
            match AcquireReply::parse(&reply)? {
                AcquireReply::KindMismatch(held) => Err(LockError::KindMismatch {
                    name: req.name.to_string(),
                    held,
                    asked: req.claim.kind(),
                }),
                reply => Ok(reply),
            }
        })
        .await
    }

    async fn acquire(&self, req: &AcquireRequest) -> Result<Option<Grant>, LockError> {
        let keys = self.keys(&req.name);
        let token = match req.claim {
            Claim::Mutex => LockToken::generate(),
            _ => LockToken::generate_for_permits(),
        };
        if req.wait.is_zero() {
            return match self.try_acquire(&keys, &token, req, false, None).await? {
                AcquireReply::Granted { fence, pttl_ms } => Ok(Some(grant(token, fence, pttl_ms))),
                _ => Ok(None),
            };
        }
        let deadline = Instant::now() + req.wait;
        let mut waiter = Waiter::register(self, &req.name, token);
        // On Redis Cluster, hand-offs are heard only on channels subscribed to: subscribe
        // before joining the queue, so the announcement of our grant cannot be missed.
        let _interest = match &self.cluster {
            Some(cluster) => Some(
                self.retrying(Some(deadline), || async {
                    self.check_reachable()?;
                    cluster.join(&keys.channel).await
                })
                .await?,
            ),
            None => None,
        };
        loop {
            let checked = Instant::now();
            let reply = self
                .try_acquire(&keys, &waiter.token, req, true, Some(deadline))
                .await?;
            let mut next_check = match reply {
                AcquireReply::Granted { fence, pttl_ms } => {
                    return Ok(Some(grant(waiter.succeed(), fence, pttl_ms)));
                }
                AcquireReply::QueueFull => {
                    return Err(LockError::TooManyWaiters {
                        name: req.name.to_string(),
                        limit: self.max_waiters,
                    });
                }
                // The head re-checks the moment the holder's lease ends, so an expiry is
                // noticed within milliseconds; the rest only need to refresh their entry.
                AcquireReply::Busy {
                    holder_pttl_ms,
                    rank: Some(0),
                } if holder_pttl_ms >= 0 => self.until_lease_end(holder_pttl_ms.unsigned_abs()),
                AcquireReply::Busy { .. } | AcquireReply::KindMismatch(_) => self.recheck,
            };
            // Wait for news; being told we head the queue only re-times the wait. The entry
            // is refreshed (by the script above) at least every `recheck` all the same.
            loop {
                let now = Instant::now();
                if now >= deadline {
                    // Dropping the waiter removes its entry and releases a grant that raced in.
                    return Ok(None);
                }
                let wake_at = (now + next_check).min(checked + self.recheck).min(deadline);
                tokio::select! {
                    _ = waiter.slot.notify.notified() => {}
                    _ = tokio::time::sleep_until(wake_at.into()) => break,
                }
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                match waiter.slot.take() {
                    // Handed over by a script: the grant is already ours in Redis.
                    Some(Wake::Granted(Handed { fence, ttl_ms })) => {
                        return Ok(Some(grant(waiter.succeed(), fence, ttl_ms)));
                    }
                    Some(Wake::Head { holder_pttl_ms }) => {
                        next_check = self.until_lease_end(holder_pttl_ms);
                    }
                    Some(Wake::Recheck) | None => break,
                }
            }
        }
    }

    /// How long the head of the queue waits before checking whether the holder's lease,
    /// ending in `holder_pttl_ms`, has run out.
    fn until_lease_end(&self, holder_pttl_ms: u64) -> Duration {
        self.recheck
            .min(Duration::from_millis(holder_pttl_ms.saturating_add(1)))
    }
}

fn grant(token: LockToken, fence: u64, pttl_ms: u64) -> Grant {
    Grant {
        token,
        fence,
        expires_at: SystemTime::now() + Duration::from_millis(pttl_ms),
    }
}

/// A queued caller on this server. Dropped without success (deadline, cancel, error), it
/// asks the janitor to take its entry out of the queue and to release a grant that was handed
/// to it meanwhile, so no lock is ever left with a holder that is gone.
struct Waiter<'a> {
    inner: &'a BackendCore,
    name: LockName,
    token: LockToken,
    slot: Arc<Slot>,
    done: bool,
}

impl<'a> Waiter<'a> {
    fn register(inner: &'a BackendCore, name: &LockName, token: LockToken) -> Self {
        let slot = inner.wakeups.register(token.as_str());
        Self {
            inner,
            name: name.clone(),
            token,
            slot,
            done: false,
        }
    }

    fn succeed(&mut self) -> LockToken {
        self.done = true;
        self.token.clone()
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.inner.wakeups.unregister(self.token.as_str());
        if !self.done {
            let job = (self.name.clone(), self.token.clone());
            if self.inner.leave_tx.try_send(job).is_err() {
                tracing::warn!(lock = ?self.name.as_str(), "leave queue full; the waiter's entry will lapse by itself");
            }
        }
    }
}

/// Runs the leave script for departed waiters, a few at a time.
async fn janitor(inner: Arc<BackendCore>, mut rx: mpsc::Receiver<(LockName, LockToken)>) {
    let mut running = JoinSet::new();
    while let Some((name, token)) = rx.recv().await {
        while running.len() >= LEAVE_CONCURRENCY {
            running.join_next().await;
        }
        while running.try_join_next().is_some() {}
        let inner = inner.clone();
        running.spawn(async move {
            let keys = inner.keys(&name);
            let inv = inner.scripts.leave(&keys, &token);
            match inner.store.invoke::<i64>(&inv).await {
                Ok(1) => tracing::debug!(lock = ?name.as_str(), "released a grant its waiter left behind"),
                Ok(_) => {}
                Err(e) => tracing::warn!(lock = ?name.as_str(), error = %e, "could not remove a departed waiter; its entry will lapse"),
            }
        });
    }
}

impl LockBackend for RedisBackend {
    fn acquire<'a>(
        &'a self,
        req: &'a AcquireRequest,
    ) -> BoxFuture<'a, Result<Option<Grant>, LockError>> {
        Box::pin(self.inner.acquire(req))
    }

    fn release<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let inner = &self.inner;
            // One id for the whole call, retries included: a retry after an answer lost to a
            // timeout then hears "released" from the run that did release, not "not held".
            let attempt = uuid::Uuid::new_v4().simple().to_string();
            let reply: Vec<redis::Value> = inner
                .retrying(None, || async {
                    inner.check_reachable()?;
                    let inv = inner.scripts.release(
                        &inner.keys(name),
                        token,
                        &attempt,
                        inner.waiter_lease,
                    );
                    inner.store.invoke(&inv).await
                })
                .await?;
            match ReleaseReply::parse(&reply)? {
                ReleaseReply::NotHeld => Ok(false),
                ReleaseReply::Freed => Ok(true),
                ReleaseReply::HandedTo(next) => {
                    // The next holders may be waiting on this very server: answer them now
                    // rather than after the announcement's trip through Redis. Waiters of
                    // other servers are not here, and hear the announcement.
                    for (token, handed) in next {
                        inner.wakeups.wake(&token, Wake::Granted(handed));
                    }
                    Ok(true)
                }
            }
        })
    }

    fn extend<'a>(
        &'a self,
        name: &'a LockName,
        token: &'a LockToken,
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<Option<SystemTime>, LockError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let pttl: i64 = inner
                .retrying(None, || async {
                    inner.check_reachable()?;
                    let inv = inner.scripts.extend(&inner.keys(name), token, ttl);
                    inner.store.invoke(&inv).await
                })
                .await?;
            Ok((pttl > 0).then(|| SystemTime::now() + Duration::from_millis(pttl.unsigned_abs())))
        })
    }

    fn availability(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.inner.wakeups.availability())
    }
}
