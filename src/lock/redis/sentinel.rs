//! Finding the primary through Sentinel (`redis+sentinel://H:P,H:P/MASTER`).
//!
//! Every new connection (pooled or the wake-up subscription) asks the sentinels, in turn,
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`, dials the answer and checks with `ROLE` that it really
//! is a primary now. Nothing is cached: a failover is followed because the old primary's
//! connections end (Sentinel kills the clients of an instance it reconfigures, and writes on
//! a demoted primary fail with READONLY, which marks the pooled connection broken), and the
//! next dial asks again. While the sentinels still name a demoted or unreachable primary,
//! dials fail within `--redis-timeout` and calls answer UNAVAILABLE.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult};

use super::topology::{Auth, NodeAddr};

/// Asks the sentinels for the primary and dials it.
pub(super) struct Sentinels {
    sentinels: Vec<NodeAddr>,
    master: String,
    auth: Auth,
    config: AsyncConnectionConfig,
    /// The sentinel that answered last, asked first next time.
    preferred: AtomicUsize,
}

impl Sentinels {
    pub(super) fn new(
        sentinels: Vec<NodeAddr>,
        master: String,
        auth: Auth,
        timeout: Duration,
    ) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        Self {
            sentinels,
            master,
            auth,
            config,
            preferred: AtomicUsize::new(0),
        }
    }

    /// The primary's address as the first sentinel that knows it says.
    async fn primary_addr(&self) -> RedisResult<NodeAddr> {
        let n = self.sentinels.len();
        let first = self.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut last_err = None;
        for i in (0..n).map(|k| (first + k) % n) {
            match self.ask(&self.sentinels[i]).await {
                Ok(addr) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(addr);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            RedisError::from((ErrorKind::EmptySentinelList, "no sentinel in --redis-url"))
        }))
    }

    async fn ask(&self, sentinel: &NodeAddr) -> RedisResult<NodeAddr> {
        let client = Client::open(sentinel.url(&Auth::default()))?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master)
            .query_async(&mut conn)
            .await?;
        let (host, port) = reply.ok_or_else(|| {
            RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "sentinel does not monitor the master named in --redis-url",
                format!("{sentinel} knows no master {:?}", self.master),
            ))
        })?;
        Ok(NodeAddr { host, port })
    }

    /// A client for the current primary, for the wake-up subscription.
    pub(super) async fn primary_client(&self) -> RedisResult<Client> {
        let addr = self.primary_addr().await?;
        Client::open(addr.url(&self.auth))
    }

    /// A multiplexed connection to the current primary, refused when the instance the
    /// sentinels named is not (or no longer) a primary.
    pub(super) async fn dial_primary(
        &self,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection> {
        let client = self.primary_client().await?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        match role.first() {
            Some(redis::Value::BulkString(r)) if r == b"master" => Ok(conn),
            Some(redis::Value::SimpleString(r)) if r == "master" => Ok(conn),
            _ => Err(RedisError::from((
                ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                "the sentinels named an instance that is not a primary (failover in progress)",
            ))),
        }
    }
}
