//! Where the lock scripts run: the pool (one server, or the primary Sentinel names) or the
//! cluster client. Both bound every call by `--redis-timeout` and answer UNAVAILABLE when
//! Redis cannot be reached, so the backend above is written once for every topology.

use std::sync::Arc;
use std::time::Duration;

use redis::{FromRedisValue, ScriptInvocation};

use super::cluster::Cluster;
use super::pool::{self, Pool};
use crate::lock::error::LockError;

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
        match self {
            Self::Pooled { pool, timeout } => pool::invoke(pool, inv, *timeout).await,
            Self::Cluster(cluster) => cluster.invoke(inv).await,
        }
    }

    /// Runs one command (on any node, in a cluster).
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, LockError> {
        match self {
            Self::Pooled { pool, timeout } => pool::query(pool, cmd, *timeout).await,
            Self::Cluster(cluster) => cluster.query(cmd).await,
        }
    }
}
