//! The bb8 pool of multiplexed Redis connections the lock scripts run on.
//!
//! bb8-redis's own manager never reports a connection as broken and PINGs on every
//! check-out (one more round trip per lock call). This manager instead marks a connection
//! broken when a command on it fails at the transport level, so bb8 drops it and the next
//! call dials afresh: a restarted Redis is picked up without a probe per call. Connections
//! dialled before an outage the wake-up listener saw are dropped at check-out, unused, so
//! the first calls after Redis comes back do not fail on them. Behind Sentinel, each dial
//! asks the sentinels for the primary, and a READONLY answer (a demoted primary) also marks
//! the connection broken, so the pool follows a failover by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ErrorKind, FromRedisValue, RedisError, ScriptInvocation,
};

use super::sentinel::Sentinels;
use crate::lock::error::LockError;

/// Where new connections go: one fixed server, or the primary the sentinels name now.
#[derive(Clone)]
pub(super) enum Dialer {
    /// `redis://` / `rediss://`: always the same server.
    Direct(Client),
    /// `redis+sentinel://`: asked afresh on every dial.
    Sentinel(Arc<Sentinels>),
}

impl Dialer {
    /// A client for the server to talk to now (the wake-up listener dials with it).
    pub(super) async fn client(&self) -> redis::RedisResult<Client> {
        match self {
            Self::Direct(client) => Ok(client.clone()),
            Self::Sentinel(sentinels) => sentinels.primary_client().await,
        }
    }

    async fn dial(
        &self,
        config: &AsyncConnectionConfig,
    ) -> redis::RedisResult<MultiplexedConnection> {
        match self {
            Self::Direct(client) => {
                client
                    .get_multiplexed_async_connection_with_config(config)
                    .await
            }
            Self::Sentinel(sentinels) => sentinels.dial_primary(config).await,
        }
    }
}

/// A pooled connection and whether a transport error has been seen on it.
pub(super) struct PooledConn {
    conn: MultiplexedConnection,
    broken: bool,
    /// The outage count when it was dialled.
    born: u64,
}

/// Dials connections with the server's Redis timeouts.
pub(super) struct Manager {
    dialer: Dialer,
    config: AsyncConnectionConfig,
    outages: Arc<AtomicU64>,
}

impl Manager {
    pub(super) fn new(dialer: Dialer, timeout: Duration, outages: Arc<AtomicU64>) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        Self {
            dialer,
            config,
            outages,
        }
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = PooledConn;
    type Error = RedisError;

    async fn connect(&self) -> Result<PooledConn, RedisError> {
        let born = self.outages.load(Ordering::Relaxed);
        let conn = self.dialer.dial(&self.config).await?;
        Ok(PooledConn {
            conn,
            broken: false,
            born,
        })
    }

    async fn is_valid(&self, conn: &mut PooledConn) -> Result<(), RedisError> {
        redis::cmd("PING").query_async::<()>(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut PooledConn) -> bool {
        conn.broken || is_stale(&self.outages, conn)
    }
}

fn is_stale(outages: &AtomicU64, conn: &PooledConn) -> bool {
    conn.born != outages.load(Ordering::Relaxed)
}

/// The pool, and the outage count its connections are checked against.
pub(super) struct Pool {
    pool: bb8::Pool<Manager>,
    outages: Arc<AtomicU64>,
}

/// Builds the pool without dialling: a Redis that is down at start-up must not stop the
/// server.
pub(super) fn build(dialer: Dialer, size: u32, timeout: Duration, outages: Arc<AtomicU64>) -> Pool {
    let pool = bb8::Pool::builder()
        .max_size(size)
        .min_idle(None)
        .connection_timeout(timeout)
        .test_on_check_out(false)
        .retry_connection(false)
        .build_unchecked(Manager::new(dialer, timeout, outages.clone()));
    Pool { pool, outages }
}

/// Runs `inv` on a pooled connection, bounded by `timeout` in all (check-out included).
pub(super) async fn invoke<T: FromRedisValue>(
    pool: &Pool,
    inv: &ScriptInvocation<'_>,
    timeout: Duration,
) -> Result<T, LockError> {
    bounded(timeout, async {
        let mut pooled = checkout(pool).await?;
        let res = inv.invoke_async(&mut pooled.conn).await;
        settle(&mut pooled, res)
    })
    .await
}

/// Runs one command on a pooled connection, bounded like [`invoke`].
pub(super) async fn query<T: FromRedisValue>(
    pool: &Pool,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<T, LockError> {
    bounded(timeout, async {
        let mut pooled = checkout(pool).await?;
        let res = cmd.query_async(&mut pooled.conn).await;
        settle(&mut pooled, res)
    })
    .await
}

async fn checkout(pool: &Pool) -> Result<bb8::PooledConnection<'_, Manager>, LockError> {
    // Each stale connection is dropped on the way (bb8 discards it as broken), so this
    // loop ends after at most the pool's size of them.
    loop {
        let mut pooled = pool
            .pool
            .get()
            .await
            .map_err(|e| LockError::Unavailable(format!("no Redis connection: {e}")))?;
        if !is_stale(&pool.outages, &pooled) {
            return Ok(pooled);
        }
        pooled.broken = true;
    }
}

/// Maps a command's result, marking the connection broken on a transport failure.
fn settle<T>(conn: &mut PooledConn, res: redis::RedisResult<T>) -> Result<T, LockError> {
    res.map_err(|e| {
        if is_transport(&e) || is_demoted(&e) {
            conn.broken = true;
        }
        LockError::Unavailable(format!("Redis: {e}"))
    })
}

pub(super) async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, LockError>>,
) -> Result<T, LockError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(LockError::Unavailable(format!(
                "Redis did not answer within {}",
                humantime::format_duration(timeout)
            )))
        })
}

/// Whether the server is no longer (or not yet) the writable primary: a failover under
/// Sentinel demoted it, or Redis Cluster has not settled.
pub(super) fn is_demoted(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown)
    ) || e.to_string().contains("READONLY")
}

/// Whether the connection itself failed (as opposed to a command error on a good one).
pub(super) fn is_transport(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}
