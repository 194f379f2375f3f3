//! Wake-ups across servers: one dedicated pub/sub connection per server with a single
//! pattern subscription covering every lock's channel. The release (or leave) script that
//! hands a lock to a waiter publishes the waiter's token on the lock's channel; this task
//! finds the local waiter with that token and wakes it. A waiter registers before it joins
//! the queue, so no announcement it needs can arrive before it listens.
//!
//! One pattern rather than a SUBSCRIBE per name keeps the subscription state trivial to
//! rebuild after a reconnect (no race between a late UNSUBSCRIBE and a new waiter), at the
//! cost of every server seeing every hand-off message (O(servers), never O(waiters)).
//! When the connection drops, the task reconnects with backoff, re-subscribes and wakes
//! every local waiter to re-check, since announcements may have been lost meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::Client;
use tokio::sync::Notify;
use tokio_stream::StreamExt;

use crate::shutdown::Shutdown;

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

// State 0: the listener has not finished its first attempt yet.
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The local waiters by token, and what the listener knows of Redis.
#[derive(Default)]
pub(super) struct Wakeups {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    state: AtomicU8,
}

impl Wakeups {
    fn waiters(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens for the hand-off announcing `token`; unregister with [`Self::unregister`].
    pub(super) fn register(&self, token: &str) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.waiters().insert(token.to_owned(), notify.clone());
        notify
    }

    pub(super) fn unregister(&self, token: &str) {
        self.waiters().remove(token);
    }

    /// False only once the listener has failed to reach Redis (not while it first tries),
    /// so calls can fail fast while Redis is known to be down.
    pub(super) fn redis_known_down(&self) -> bool {
        self.state.load(Ordering::Relaxed) == DOWN
    }

    /// Whether the listener currently has a live subscription.
    pub(super) fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    fn wake(&self, token: &str) {
        if let Some(n) = self.waiters().get(token) {
            n.notify_one();
        }
    }

    fn wake_all(&self) {
        for n in self.waiters().values() {
            n.notify_one();
        }
    }

    fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
    }
}

/// Runs the listener until shutdown. `on_connect` runs after each (re)subscription (the
/// backend uses it for its eviction-policy check). `first_attempt` fires after the first
/// attempt, whatever its outcome, so start-up can wait for it.
pub(super) async fn listen(
    client: Client,
    pattern: String,
    wakeups: Arc<Wakeups>,
    timeout: Duration,
    ping_every: Duration,
    shutdown: Shutdown,
    first_attempt: tokio::sync::oneshot::Sender<()>,
) {
    let mut first_attempt = Some(first_attempt);
    let mut backoff = Duration::from_millis(20);
    loop {
        let connected = tokio::select! {
            _ = shutdown.recv() => return,
            res = tokio::time::timeout(timeout, subscribe(&client, &pattern)) => res,
        };
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(20);
                wakeups.set_state(UP);
                if let Some(tx) = first_attempt.take() {
                    let _ = tx.send(());
                }
                // Hand-offs may have been announced while we were not listening.
                wakeups.wake_all();
                tracing::info!("lock wake-up subscription to Redis is live");
                match pump(pubsub, &wakeups, timeout, ping_every, &shutdown).await {
                    // Stopping is not an outage: Holds still release their locks on the way out.
                    Ended::Shutdown => return,
                    Ended::Lost(why) => {
                        wakeups.set_state(DOWN);
                        wakeups.wake_all();
                        tracing::warn!("lost the lock wake-up subscription ({why}); reconnecting")
                    }
                }
            }
            Ok(Err(e)) => {
                wakeups.set_state(DOWN);
                tracing::warn!("cannot subscribe to Redis for lock wake-ups: {e}; retrying");
            }
            Err(_) => {
                wakeups.set_state(DOWN);
                tracing::warn!(
                    "Redis did not answer the lock wake-up subscription in time; retrying"
                );
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

async fn subscribe(client: &Client, pattern: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
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
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.recv() => return Ended::Shutdown,
            msg = stream.next() => match msg {
                Some(msg) => {
                    if let Ok(token) = msg.get_payload::<String>() {
                        wakeups.wake(&token);
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
