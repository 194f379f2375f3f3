//! Redis Cluster (`redis+cluster://H:P,H:P`): one redis-rs cluster client, whose two
//! connections (scripts, subscriptions) each multiplex one connection per node and follow
//! MOVED/ASK and nodes going away, and wake-ups over sharded pub/sub.
//!
//! Why sharded pub/sub: a plain PUBLISH in a cluster is broadcast to every node over the
//! cluster bus, so the single pattern subscription of single-server mode would cost every
//! node every hand-off. SPUBLISH stays on the node that owns the lock's slot (the channel
//! carries the lock's hash tag), so the lock scripts announce hand-offs with SPUBLISH and a
//! server SSUBSCRIBEs to the channel of each name one of its callers waits on. There is no
//! pattern form of SSUBSCRIBE, hence the per-name interest counting below:
//! - a waiter takes an [`Interest`] in its lock's channel before it joins the queue, and the
//!   subscription is confirmed before that, so no hand-off it needs can go unheard;
//! - channels nobody waits on any more linger for [`LINGER`] (a hot name is not
//!   re-subscribed for every call), then a sweep unsubscribes them;
//! - when a slot moves (Redis sends `sunsubscribe` for its channels) or a node connection
//!   drops, every wanted channel is subscribed again (the client routes it to the slot's new
//!   owner) and every local waiter re-checks, since announcements may have been missed.
//!
//! Subscribing and unsubscribing happen under one async mutex, so a late SUNSUBSCRIBE can
//! never undo the SSUBSCRIBE of a waiter that arrived meanwhile.
//!
//! Subscriptions live on a cluster connection of their own, never the one that runs the lock
//! scripts. The client takes any `sunsubscribe` push for the answer to the oldest command in
//! flight on its node connection, and Redis sends one unasked when a slot moves: on a shared
//! connection every later answer would go to the command after its own (a moving slot once
//! gave a Release the reply of a queued Acquire). On the subscription connection the only
//! commands are (un)subscriptions, whose answers carry nothing this server reads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{FromRedisValue, PushInfo, PushKind, ScriptInvocation, Value};
use tokio::sync::{Notify, OnceCell};

use super::pool::{bounded, is_demoted, is_transport};
use super::topology::{Auth, NodeAddr};
use super::wakeups::{Reach, Wake, Wakeups};
use crate::lock::error::LockError;
use crate::shutdown::Shutdown;

/// How long a channel nobody waits on stays subscribed.
const LINGER: Duration = Duration::from_secs(10);
/// Retries of one command inside the cluster client (MOVED/ASK, TRYAGAIN, a reconnect);
/// the whole call is bounded by `--redis-timeout` in any case.
const RETRIES: u32 = 6;

/// The channels this server wants, shared with the push handler.
#[derive(Default)]
struct Channels {
    /// Channel -> local waiters interested, and since when nobody is.
    wanted: Mutex<HashMap<String, Want>>,
    /// Channels subscribed now; the mutex serialises every (un)subscription.
    active: tokio::sync::Mutex<HashSet<String>>,
    /// Set when subscriptions may have been lost; the maintenance task renews them.
    resync: AtomicBool,
    changed: Notify,
}

struct Want {
    waiters: usize,
    idle_since: Instant,
}

impl Channels {
    fn wanted(&self) -> MutexGuard<'_, HashMap<String, Want>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_wanted(&self, channel: &str) -> bool {
        self.wanted()
            .get(channel)
            .is_some_and(|w| w.waiters > 0 || w.idle_since.elapsed() < LINGER)
    }

    fn request_resync(&self) {
        self.resync.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }
}

/// The cluster client, its connections once reached, and the sharded subscriptions.
pub(super) struct Cluster {
    client: redis::cluster::ClusterClient,
    conn: OnceCell<Conns>,
    channels: Arc<Channels>,
    wakeups: Arc<Wakeups>,
    timeout: Duration,
}

/// Two cluster connections, each multiplexing one connection per node.
struct Conns {
    /// Lock scripts and health checks.
    commands: ClusterConnection,
    /// SSUBSCRIBE and SUNSUBSCRIBE only.
    subscriptions: ClusterConnection,
}

/// A waiter's interest in its lock's channel; dropping it lets the channel lapse.
pub(super) struct Interest {
    channels: Arc<Channels>,
    channel: String,
}

impl Drop for Interest {
    fn drop(&mut self) {
        if let Some(w) = self.channels.wanted().get_mut(&self.channel) {
            w.waiters = w.waiters.saturating_sub(1);
            if w.waiters == 0 {
                w.idle_since = Instant::now();
            }
        }
    }
}

impl Cluster {
    /// Builds the client (no dialling: the maintenance task connects, and keeps trying).
    pub(super) fn new(
        seeds: &[NodeAddr],
        auth: &Auth,
        timeout: Duration,
        wakeups: Arc<Wakeups>,
    ) -> anyhow::Result<Self> {
        let channels = Arc::new(Channels::default());
        let push = push_handler(channels.clone(), wakeups.clone());
        let mut builder = ClusterClientBuilder::new(seeds.iter().map(|s| s.url(auth)))
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(push)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(RETRIES)
            .min_retry_wait(10)
            .max_retry_wait(200);
        if let Some(user) = &auth.username {
            builder = builder.username(user);
        }
        if let Some(password) = &auth.password {
            builder = builder.password(password);
        }
        let client = builder
            .build()
            .map_err(|e| anyhow::anyhow!("--redis-url: cannot set up the cluster client: {e}"))?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            channels,
            wakeups,
            timeout,
        })
    }

    /// The connection for lock scripts and health checks.
    fn conn(&self) -> Result<ClusterConnection, LockError> {
        self.conns().map(|c| c.commands.clone())
    }

    /// The connection for (un)subscriptions only (see the module documentation).
    fn subscriptions(&self) -> Result<ClusterConnection, LockError> {
        self.conns().map(|c| c.subscriptions.clone())
    }

    fn conns(&self) -> Result<&Conns, LockError> {
        self.conn.get().ok_or_else(|| {
            LockError::Unavailable("no node of the Redis Cluster has been reached yet".into())
        })
    }

    /// Runs a lock script on the node owning its keys' slot.
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, LockError> {
        let mut conn = self.conn()?;
        bounded(self.timeout, async move {
            inv.invoke_async(&mut conn).await.map_err(unavailable)
        })
        .await
    }

    /// Runs one command where the cluster client routes it.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, LockError> {
        let mut conn = self.conn()?;
        bounded(self.timeout, async move {
            cmd.query_async(&mut conn).await.map_err(unavailable)
        })
        .await
    }

    /// Registers interest in `channel` and returns once it is subscribed.
    pub(super) async fn join(&self, channel: &str) -> Result<Interest, LockError> {
        self.channels
            .wanted()
            .entry(channel.to_owned())
            .and_modify(|w| w.waiters += 1)
            .or_insert(Want {
                waiters: 1,
                idle_since: Instant::now(),
            });
        let interest = Interest {
            channels: self.channels.clone(),
            channel: channel.to_owned(),
        };
        let mut conn = self.subscriptions()?;
        bounded(self.timeout, async {
            let mut active = self.channels.active.lock().await;
            if !active.contains(channel) {
                conn.ssubscribe(channel).await.map_err(unavailable)?;
                active.insert(channel.to_owned());
            }
            Ok(())
        })
        .await?;
        Ok(interest)
    }

    /// Connects, watches the masters' health, renews lost subscriptions and sweeps idle
    /// ones, until shutdown. `first_attempt` fires after the first connection attempt.
    pub(super) async fn maintain(
        self: Arc<Self>,
        ping_every: Duration,
        shutdown: Shutdown,
        first_attempt: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut first_attempt = Some(first_attempt);
        let mut tick = tokio::time::interval(ping_every.min(LINGER));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let up = self.check_health().await;
            if let Some(tx) = first_attempt.take() {
                let _ = tx.send(());
            }
            if up {
                if self.channels.resync.swap(false, Ordering::Relaxed) {
                    self.resubscribe().await;
                }
                self.sweep().await;
            }
            tokio::select! {
                _ = shutdown.recv() => return,
                _ = tick.tick() => {}
                _ = self.channels.changed.notified() => {}
            }
        }
    }

    /// Asks every slot's master who it is (connecting first if need be); the cluster is up
    /// when all answer, as Redis Cluster itself refuses queries while a slot has no reachable
    /// owner.
    async fn check_health(&self) -> bool {
        let result = tokio::time::timeout(self.timeout, async {
            let mut conn = match self.conn.get() {
                Some(conns) => conns.commands.clone(),
                None => {
                    let conns = Conns {
                        commands: self.client.get_async_connection().await?,
                        subscriptions: self.client.get_async_connection().await?,
                    };
                    let conns = self.conn.get_or_init(|| async { conns }).await;
                    conns.commands.clone()
                }
            };
            every_master_answers(&mut conn).await
        })
        .await;
        let up = matches!(result, Ok(Ok(_)));
        let was_down = !self.wakeups.is_up();
        if up && was_down {
            tracing::info!("Redis Cluster reachable: all masters answer");
            // Subscriptions may not have survived the outage, nor announcements reached us.
            self.channels.resync.store(true, Ordering::Relaxed);
        } else if !up && self.wakeups.is_up() {
            let why = match result {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer in time".into(),
            };
            tracing::warn!("Redis Cluster unhealthy ({why}); lock calls answer UNAVAILABLE");
            self.wakeups.wake_all();
        }
        self.wakeups
            .set_state(if up { Reach::Up } else { Reach::Down });
        up
    }

    /// Subscribes again to every wanted channel and has every local waiter re-check.
    async fn resubscribe(&self) {
        let Ok(mut conn) = self.subscriptions() else {
            return;
        };
        let mut active = self.channels.active.lock().await;
        active.clear();
        let wanted: Vec<String> = self
            .channels
            .wanted()
            .iter()
            .filter(|(_, w)| w.waiters > 0)
            .map(|(c, _)| c.clone())
            .collect();
        for channel in wanted {
            match tokio::time::timeout(self.timeout, conn.ssubscribe(&channel)).await {
                Ok(Ok(())) => {
                    active.insert(channel);
                }
                _ => {
                    let line = self
                        .wakeups
                        .outage_lines
                        .check(&super::wakeups::OutageLine::ClusterResubscribe);
                    if let crate::log_limit::Verdict::Log { .. } = line {
                        tracing::warn!(
                            "could not renew a lock wake-up subscription; retrying{}",
                            line.suffix()
                        );
                    }
                    self.channels.resync.store(true, Ordering::Relaxed);
                }
            }
        }
        drop(active);
        self.wakeups.wake_all();
    }

    /// Unsubscribes channels nobody has waited on for [`LINGER`].
    async fn sweep(&self) {
        let Ok(mut conn) = self.subscriptions() else {
            return;
        };
        let mut active = self.channels.active.lock().await;
        let idle: Vec<String> = {
            let mut wanted = self.channels.wanted();
            let idle: Vec<String> = wanted
                .iter()
                .filter(|(_, w)| w.waiters == 0 && w.idle_since.elapsed() >= LINGER)
                .map(|(c, _)| c.clone())
                .collect();
            for c in &idle {
                wanted.remove(c);
            }
            idle
        };
        for channel in idle {
            if active.remove(&channel) {
                // A failure leaves a stray subscription whose messages find no waiter.
                let _ = tokio::time::timeout(self.timeout, conn.sunsubscribe(&channel)).await;
            }
        }
    }
}

/// Turns the cluster client's pushes into wake-ups; runs on the client's reader, so it
/// never blocks.
fn push_handler(
    channels: Arc<Channels>,
    wakeups: Arc<Wakeups>,
) -> impl Fn(PushInfo) -> Result<(), std::convert::Infallible> + Send + Sync + 'static {
    move |push: PushInfo| {
        match push.kind {
            PushKind::SMessage => {
                if let Some(payload) = push.data.get(1).and_then(text) {
                    let (token, wake) = Wake::parse(&payload);
                    wakeups.wake(token, wake);
                }
            }
            // Our own sweep unsubscribes only channels nobody wants; a wanted one going means
            // its slot moved to another node.
            PushKind::SUnsubscribe
                if push
                    .data
                    .first()
                    .and_then(text)
                    .is_some_and(|c| channels.is_wanted(&c)) =>
            {
                channels.request_resync()
            }
            PushKind::Disconnection => channels.request_resync(),
            _ => {}
        }
        Ok(())
    }
}

/// Reads one key of a slot of each master in the cluster's slot map (`CLUSTER SLOTS` from
/// any node). Not a PING to all masters: the client sends that only to the nodes it holds a
/// connection to, so a master that went away and was dropped would never be asked again, and
/// a client that connected while the cluster was forming would never learn of the rest. A
/// keyed command goes where the client believes the slot lives, reconnecting if need be, and
/// a wrong guess is corrected by MOVED (which also refreshes the client's slot map); it
/// succeeds only when the slot's owner answers.
async fn every_master_answers(conn: &mut ClusterConnection) -> redis::RedisResult<()> {
    let slots = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let (masters, covered) = masters_of(&slots).ok_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::Parse,
            "CLUSTER SLOTS answered in an unknown shape",
        ))
    })?;
    if covered < 16_384 {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "slots without a master",
            format!("{covered} of 16384 covered"),
        )));
    }
    for (slot, _) in masters {
        let _: bool = redis::cmd("EXISTS")
            .arg(key_in_slot(slot))
            .query_async(conn)
            .await?;
    }
    Ok(())
}

/// A key that hashes to `slot` (found by trying names, remembered per slot).
fn key_in_slot(slot: u16) -> String {
    static KEYS: Mutex<Option<HashMap<u16, String>>> = Mutex::new(None);
    let mut keys = KEYS.lock().unwrap_or_else(|p| p.into_inner());
    let keys = keys.get_or_insert_with(HashMap::new);
    if let Some(key) = keys.get(&slot) {
        return key.clone();
    }
    let want = Slot::new(slot);
    let key = (0u64..)
        .map(|i| format!("streamgate-health-{i}"))
        .find(|k| Some(Slot::for_key(k)) == want)
        .expect("every slot has a key");
    keys.insert(slot, key.clone());
    key
}

/// Each distinct master of a `CLUSTER SLOTS` answer with one slot it serves, and how many
/// slots the answer covers.
fn masters_of(slots: &Value) -> Option<(Vec<(u16, String)>, u32)> {
    let Value::Array(ranges) = slots else {
        return None;
    };
    let mut masters: Vec<(u16, String)> = Vec::new();
    let mut covered = 0u32;
    for range in ranges {
        let Value::Array(fields) = range else {
            return None;
        };
        let (Value::Int(start), Value::Int(end), Value::Array(master)) =
            (fields.first()?, fields.get(1)?, fields.get(2)?)
        else {
            return None;
        };
        covered += u32::try_from(end - start + 1).ok()?;
        let id = text(master.get(2)?)?;
        if !masters.iter().any(|(_, known)| *known == id) {
            masters.push((u16::try_from(*start).ok()?, id));
        }
    }
    Some((masters, covered))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn unavailable(e: redis::RedisError) -> LockError {
    let what = if is_transport(&e) || is_demoted(&e) {
        "Redis Cluster node unreachable or failing over"
    } else {
        "Redis Cluster"
    };
    LockError::Unavailable(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::BulkString(b"127.0.0.1".to_vec()),
            Value::Int(port),
            Value::BulkString(id.as_bytes().to_vec()),
        ])
    }

    fn range(start: i64, end: i64, master: Value, replicas: Vec<Value>) -> Value {
        let mut fields = vec![Value::Int(start), Value::Int(end), master];
        fields.extend(replicas);
        Value::Array(fields)
    }

    #[test]
    fn masters_are_listed_once_each_with_the_slots_covered() {
        let slots = Value::Array(vec![
            range(0, 5460, node(7000, "a"), vec![node(7003, "d")]),
            range(5461, 10922, node(7001, "b"), vec![]),
            range(10923, 16382, node(7002, "c"), vec![]),
            // A slot moved to "a": the same master again, in a range of one.
            range(16383, 16383, node(7000, "a"), vec![]),
        ]);
        let (masters, covered) = masters_of(&slots).unwrap();
        assert_eq!(covered, 16_384);
        assert_eq!(
            masters,
            vec![(0, "a".into()), (5461, "b".into()), (10923, "c".into())]
        );
    }

    #[test]
    fn a_partial_map_covers_fewer_slots_and_a_strange_answer_is_none() {
        let slots = Value::Array(vec![range(0, 5460, node(7000, "a"), vec![])]);
        assert_eq!(masters_of(&slots).unwrap().1, 5461);
        assert_eq!(masters_of(&Value::Int(1)), None);
        let broken = Value::Array(vec![Value::Array(vec![Value::Int(0)])]);
        assert_eq!(masters_of(&broken), None);
    }

    #[test]
    fn the_health_key_of_a_slot_hashes_to_it() {
        for slot in [0u16, 1, 5461, 16_383] {
            let key = key_in_slot(slot);
            assert_eq!(Some(Slot::for_key(&key)), Slot::new(slot), "{key}");
            assert_eq!(key_in_slot(slot), key, "remembered");
        }
    }
}
