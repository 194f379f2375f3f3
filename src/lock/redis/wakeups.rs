//! Wake-ups across servers: one dedicated pub/sub connection per server with a single
//! pattern subscription covering every lock's channel. The script that hands a lock to a
//! waiter publishes the grant (`token:fence:ttl_ms`) on the lock's channel; this task finds
//! the local waiter with that token and gives it the grant, so the waiter answers its caller
//! without another script call. A bare token asks that waiter to re-check. A waiter registers
//! before it joins the queue, so no announcement it needs can arrive before it listens.
//!
//! One pattern rather than a SUBSCRIBE per name keeps the subscription state trivial to
//! rebuild after a reconnect (no race between a late UNSUBSCRIBE and a new waiter), at the
//! cost of every server seeing every hand-off message (O(servers), never O(waiters)).
//! When the connection drops, the task reconnects with backoff, re-subscribes and wakes
//! every local waiter to re-check, since announcements may have been lost meanwhile.
//!
//! The rest of the wake-up path: `scripts.rs` (the Lua that publishes a hand-off),
//! `mod.rs` (a waiter registers here before it queues, and answers from the grant),
//! `store.rs` (starts this listener for the topology), `sentinel.rs` (tells it the primary
//! moved), `cluster.rs` (Redis Cluster: sharded pub/sub instead of this pattern).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_stream::StreamExt;

use super::pool::Dialer;
use crate::log_limit::{RepeatLimiter, Verdict};
use crate::shutdown::Shutdown;

/// The kinds of outage line, rate-limited in [`Wakeups::outage_lines`]: a Redis that stays
/// down must cost a few lines a minute, not one per reconnection attempt or per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum OutageLine {
    /// The wake-up subscription cannot be (re)established.
    Subscribe,
    /// A lock call found Redis unreachable and will try again.
    CallRetried,
    /// A Redis Cluster subscription could not be renewed.
    ClusterResubscribe,
}

/// First pause between reconnection attempts: short, so a Redis restart costs waiters
/// little; doubled per failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Whether Redis is reachable, as the wake-up listener last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Reach {
    /// The listener has not finished its first attempt yet.
    Unknown = 0,
    /// Subscribed (or, on a cluster, every master answers).
    Up = 1,
    /// The last attempt or the subscription failed.
    Down = 2,
}

impl Reach {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Up,
            2 => Self::Down,
            _ => Self::Unknown,
        }
    }
}

/// A lock handed to a waiter by a script: its fence and lease as the script set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Handed {
    pub(super) fence: u64,
    pub(super) ttl_ms: u64,
}

/// What a channel message tells one waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wake {
    /// The lock is the waiter's (`token:fence:ttl_ms`).
    Granted(Handed),
    /// The waiter now heads the queue and the holder's lease ends in this many ms
    /// (`token:0:pttl_ms`): time the expiry re-check by it, no script needed.
    Head { holder_pttl_ms: u64 },
    /// Anything else (a bare token): re-check with the acquire script.
    Recheck,
}

impl Wake {
    /// Parses a channel message into the waiter's token and what it says.
    pub(super) fn parse(payload: &str) -> (&str, Wake) {
        let mut parts = payload.rsplitn(3, ':');
        let (Some(ttl), Some(fence), Some(token)) = (parts.next(), parts.next(), parts.next())
        else {
            return (payload, Wake::Recheck);
        };
        match (fence.parse::<u64>(), ttl.parse::<u64>()) {
            (Ok(0), Ok(holder_pttl_ms)) => (token, Wake::Head { holder_pttl_ms }),
            (Ok(fence), Ok(ttl_ms)) => (token, Wake::Granted(Handed { fence, ttl_ms })),
            _ => (payload, Wake::Recheck),
        }
    }
}

/// Where one local waiter is woken, and the news it was given, if any.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) notify: Notify,
    news: Mutex<Option<Wake>>,
}

impl Slot {
    /// What the last wake-up said (a grant is kept until taken), once.
    pub(super) fn take(&self) -> Option<Wake> {
        self.news.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The local waiters by token, and what the listener knows of Redis.
#[derive(Default)]
pub(super) struct Wakeups {
    waiters: Mutex<HashMap<String, Arc<Slot>>>,
    /// A [`Reach`], as its `u8`.
    state: AtomicU8,
    /// Whether the subscription is live, for health (starts false: not yet known).
    up: tokio::sync::watch::Sender<bool>,
    /// Outages seen so far; pooled connections dialled before the last one are stale.
    outages: Arc<AtomicU64>,
    /// Signalled when the sentinels name a new primary: the listener drops its connection,
    /// which counts as an outage, so the pool's connections to the old primary go too.
    primary_switched: Notify,
    /// Primary switches seen so far, so a permit left from an earlier switch is ignored.
    switches: AtomicU64,
    /// Why the last attempt to reach Redis failed, for the callers' UNAVAILABLE message.
    last_failure: Mutex<Option<String>>,
    /// Repeated outage lines, each kind logged at most once per interval.
    pub(crate) outage_lines: RepeatLimiter<OutageLine>,
}

impl Wakeups {
    fn waiters(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens for the hand-off announcing `token`; unregister with [`Self::unregister`].
    pub(super) fn register(&self, token: &str) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        self.waiters().insert(token.to_owned(), slot.clone());
        slot
    }

    pub(super) fn unregister(&self, token: &str) {
        self.waiters().remove(token);
    }

    /// False only once the listener has failed to reach Redis (not while it first tries),
    /// so calls can fail fast while Redis is known to be down.
    pub(super) fn redis_known_down(&self) -> bool {
        self.reach() == Reach::Down
    }

    /// Whether the listener currently has a live subscription.
    pub(super) fn is_up(&self) -> bool {
        self.reach() == Reach::Up
    }

    /// Wakes the local waiter `token` (if this server has it) with `wake`. The releasing
    /// server calls this straight away with the grant; the channel message that follows finds
    /// the same grant again or no waiter at all, both harmless. A grant is never replaced by
    /// lesser news.
    pub(super) fn wake(&self, token: &str, wake: Wake) {
        if let Some(slot) = self.waiters().get(token) {
            let mut news = slot.news.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(*news, Some(Wake::Granted(_))) {
                *news = Some(wake);
            }
            drop(news);
            slot.notify.notify_one();
        }
    }

    /// Has every local waiter re-check (announcements may have been missed).
    pub(super) fn wake_all(&self) {
        for slot in self.waiters().values() {
            slot.notify.notify_one();
        }
    }

    /// The outage count the pool compares its connections' birth against.
    pub(super) fn outages(&self) -> Arc<AtomicU64> {
        self.outages.clone()
    }

    fn reach(&self) -> Reach {
        Reach::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Records whether Redis is reachable.
    pub(super) fn set_state(&self, state: Reach) {
        if state == Reach::Down && self.reach() != Reach::Down {
            self.outages.fetch_add(1, Ordering::Relaxed);
        }
        self.state.store(state as u8, Ordering::Relaxed);
        self.up.send_if_modified(|up| {
            let changed = *up != (state == Reach::Up);
            *up = state == Reach::Up;
            changed
        });
    }

    /// Why Redis could not be reached last time, if it could not.
    pub(super) fn last_failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_failure(&self, why: Option<String>) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Tells the listener that the primary changed (Sentinel mode).
    pub(super) fn switch_primary(&self) {
        self.switches.fetch_add(1, Ordering::Relaxed);
        self.primary_switched.notify_one();
    }

    /// Follows whether the subscription (and so Redis) is up.
    pub(super) fn availability(&self) -> tokio::sync::watch::Receiver<bool> {
        self.up.subscribe()
    }
}

/// Runs the listener until shutdown. `first_attempt` fires after the first attempt,
/// whatever its outcome, so start-up can wait for it.
pub(super) async fn listen(
    dialer: Dialer,
    pattern: String,
    wakeups: Arc<Wakeups>,
    timeout: Duration,
    ping_every: Duration,
    shutdown: Shutdown,
    first_attempt: tokio::sync::oneshot::Sender<()>,
) {
    let mut first_attempt = Some(first_attempt);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let connected = tokio::select! {
            _ = shutdown.recv() => return,
            res = tokio::time::timeout(timeout, subscribe(&dialer, &pattern)) => res,
        };
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = FIRST_BACKOFF;
                wakeups.set_failure(None);
                wakeups.set_state(Reach::Up);
                if let Some(tx) = first_attempt.take() {
                    let _ = tx.send(());
                }
                // Hand-offs may have been announced while we were not listening.
                wakeups.wake_all();
                // The next outage gets its first line at once.
                let unlogged = wakeups.outage_lines.reset(&OutageLine::Subscribe);
                if unlogged == 0 {
                    tracing::info!("lock wake-up subscription to Redis is live");
                } else {
                    tracing::info!(
                        "lock wake-up subscription to Redis is live ({unlogged} failed attempts before it not logged)"
                    );
                }
                match pump(pubsub, &wakeups, timeout, ping_every, &shutdown).await {
                    // Stopping is not an outage: Holds still release their locks on the way out.
                    Ended::Shutdown => return,
                    Ended::Lost(why) => {
                        wakeups.set_state(Reach::Down);
                        wakeups.wake_all();
                        tracing::warn!("lost the lock wake-up subscription ({why}); reconnecting")
                    }
                }
            }
            Ok(Err(e)) => {
                wakeups.set_state(Reach::Down);
                wakeups.set_failure(Some(e.to_string()));
                let line = wakeups.outage_lines.check(&OutageLine::Subscribe);
                if let Verdict::Log { .. } = line {
                    tracing::warn!(
                        "cannot subscribe to Redis for lock wake-ups: {e}; retrying{}",
                        line.suffix()
                    );
                }
            }
            Err(_) => {
                wakeups.set_state(Reach::Down);
                let line = wakeups.outage_lines.check(&OutageLine::Subscribe);
                if let Verdict::Log { .. } = line {
                    tracing::warn!(
                        "Redis did not answer the lock wake-up subscription in time; retrying{}",
                        line.suffix()
                    );
                }
            }
        }
        if let Some(tx) = first_attempt.take() {
            let _ = tx.send(());
        }
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(dialer: &Dialer, pattern: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = dialer.client().await?.get_async_pubsub().await?;
    pubsub.psubscribe(pattern).await?;
    Ok(pubsub)
}

enum Ended {
    Shutdown,
    Lost(String),
}

/// Delivers messages until the connection fails; a PING every `ping_every` notices a
/// connection that died without closing.
async fn pump(
    pubsub: redis::aio::PubSub,
    wakeups: &Wakeups,
    timeout: Duration,
    ping_every: Duration,
    shutdown: &Shutdown,
) -> Ended {
    let (mut sink, mut stream) = pubsub.split();
    // Dialled after the sentinels were last asked: switches before now are already followed.
    let switches = wakeups.switches.load(Ordering::Relaxed);
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.recv() => return Ended::Shutdown,
            _ = wakeups.primary_switched.notified() => {
                if wakeups.switches.load(Ordering::Relaxed) != switches {
                    return Ended::Lost("the sentinels named a new primary".into());
                }
            }
            msg = stream.next() => match msg {
                Some(msg) => {
                    if let Ok(payload) = msg.get_payload::<String>() {
                        let (token, wake) = Wake::parse(&payload);
                        wakeups.wake(token, wake);
                    }
                }
                None => return Ended::Lost("connection closed".into()),
            },
            _ = ping.tick() => {
                match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("PING timed out".into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANT: Wake = Wake::Granted(Handed {
        fence: 42,
        ttl_ms: 10_000,
    });

    #[test]
    fn messages_say_granted_head_or_recheck() {
        assert_eq!(Wake::parse("abc-1:42:10000"), ("abc-1", GRANT));
        assert_eq!(
            Wake::parse("abc-1:0:750"),
            (
                "abc-1",
                Wake::Head {
                    holder_pttl_ms: 750
                }
            )
        );
        assert_eq!(Wake::parse("abc-1"), ("abc-1", Wake::Recheck));
        assert_eq!(Wake::parse("a:b:c"), ("a:b:c", Wake::Recheck));
        assert_eq!(Wake::parse("t:0:-2"), ("t:0:-2", Wake::Recheck));
    }

    #[test]
    fn a_delivered_grant_is_taken_once_and_never_replaced_by_lesser_news() {
        let w = Wakeups::default();
        let slot = w.register("t");
        w.wake("t", Wake::Head { holder_pttl_ms: 5 });
        w.wake("t", GRANT);
        w.wake("t", Wake::Recheck);
        assert_eq!(slot.take(), Some(GRANT));
        assert_eq!(slot.take(), None);
        w.unregister("t");
        w.wake("t", GRANT);
        assert_eq!(slot.take(), None);
    }
}
