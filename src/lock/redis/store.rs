//! Where the lock scripts run: the pool (one server, or the primary Sentinel names) or the
//! cluster client. Both bound every call by `--redis-timeout` and answer UNAVAILABLE when
//! Redis cannot be reached, so the backend above is written once for every topology.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::{Client, FromRedisValue, ScriptInvocation};
use tokio::task::JoinHandle;

use super::cluster::Cluster;
use super::pool::{self, Dialer, Pool};
use super::scripts::{Announce, LockKeys};
use super::sentinel::Sentinels;
use super::topology::Topology;
use super::wakeups::{self, Wakeups};
use crate::config::RedisSettings;
use crate::lock::error::LockError;
use crate::shutdown::Shutdown;
use crate::telemetry::semconv;

/// What [`open`] set up for a topology.
pub(super) struct Opened {
    /// Where the scripts run.
    pub(super) store: Store,
    /// Redis Cluster only: the sharded wake-up subscriptions.
    pub(super) cluster: Option<Arc<Cluster>>,
    /// How the scripts announce hand-offs.
    pub(super) announce: Announce,
    /// The background tasks started (listener or cluster maintenance, sentinel watch).
    pub(super) tasks: Vec<JoinHandle<()>>,
}

/// Sets up the connections and wake-up machinery for `redis.topology` without waiting for Redis;
/// `first_attempt` fires once the first attempt to reach it has ended, either way.
pub(super) fn open(
    redis: &RedisSettings,
    recheck: Duration,
    wakeups: &Arc<Wakeups>,
    shutdown: &Shutdown,
    first_attempt: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Opened> {
    let timeout = redis.timeout;
    // How often a silent connection is probed, and Sentinel's view re-read.
    let probe_every = recheck.min(super::MAX_PING_INTERVAL);
    let mut tasks = Vec::new();
    let dialer = match redis.topology.clone() {
        Topology::Cluster { seeds, auth } => {
            let cluster = Arc::new(Cluster::new(&seeds, &auth, timeout, wakeups.clone())?);
            tasks.push(tokio::spawn(cluster.clone().maintain(
                probe_every,
                shutdown.clone(),
                first_attempt,
            )));
            return Ok(Opened {
                store: Store::Cluster(cluster.clone()),
                cluster: Some(cluster),
                announce: Announce::ShardedPublish,
                tasks,
            });
        }
        Topology::Sentinel {
            sentinels,
            master,
            auth,
        } => {
            let sentinels = Arc::new(Sentinels::new(sentinels, master, auth, timeout));
            let listener = wakeups.clone();
            tasks.push(tokio::spawn(sentinels.clone().watch(
                move || listener.switch_primary(),
                probe_every,
                shutdown.clone(),
            )));
            Dialer::Sentinel(sentinels)
        }
        Topology::Single(url) => Dialer::Direct(
            Client::open(url.as_str()).context("--redis-url is not a valid Redis URL")?,
        ),
    };
    let pool = pool::build(
        dialer.clone(),
        redis.pool_size.get(),
        timeout,
        wakeups.outages(),
    );
    tasks.push(tokio::spawn(wakeups::listen(
        dialer,
        LockKeys::channel_pattern(&redis.key_prefix),
        wakeups.clone(),
        timeout,
        probe_every,
        shutdown.clone(),
        first_attempt,
    )));
    Ok(Opened {
        store: Store::Pooled { pool, timeout },
        cluster: None,
        announce: Announce::Publish,
        tasks,
    })
}

/// The connections the lock scripts run on.
pub(super) enum Store {
    /// A pool of connections to one server (single-server and Sentinel modes).
    Pooled { pool: Pool, timeout: Duration },
    /// The cluster client (Redis Cluster mode).
    Cluster(Arc<Cluster>),
}

impl Store {
    /// Runs a lock script.
    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, LockError> {
        let span = semconv::redis_script_span();
        let call = async {
            match self {
                Self::Pooled { pool, timeout } => pool::invoke(pool, inv, *timeout).await,
                Self::Cluster(cluster) => cluster.invoke(inv).await,
            }
        };
        let res = tracing::Instrument::instrument(call, span.clone()).await;
        if res.is_err() {
            semconv::record_redis_error(&span);
        }
        res
    }

    /// Runs one command (on any node, in a cluster).
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, LockError> {
        match self {
            Self::Pooled { pool, timeout } => pool::query(pool, cmd, *timeout).await,
            Self::Cluster(cluster) => cluster.query(cmd).await,
        }
    }
}
