//! Finding the primary through Sentinel (`redis+sentinel://H:P,H:P/MASTER`).
//!
//! Every new connection (pooled or the wake-up subscription) asks the sentinels, in turn,
//! `SENTINEL GET-MASTER-ADDR-BY-NAME`, dials the answer and checks with `ROLE` that it really
//! is a primary now. A failover is followed three ways, whichever comes first:
//! - [`Sentinels::watch`] hears `+switch-master` (or, every re-check period, sees the
//!   sentinels name another address) and has the wake-up listener reconnect; that counts as
//!   an outage, so the pool drops every connection to the old primary. This matters because
//!   Sentinel demotes a reachable old primary only seconds after promoting the replica, and
//!   writes it takes meanwhile are lost;
//! - a write on a demoted primary fails with READONLY, which marks the connection broken;
//! - Sentinel kills the clients of every instance it reconfigures.
//!
//! While the sentinels name no usable primary, dials fail within `--redis-timeout` and calls
//! answer UNAVAILABLE.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult};
use tokio_stream::StreamExt;

use super::topology::{Auth, NodeAddr};
use crate::shutdown::Shutdown;

/// Asks the sentinels for the primary and dials it.
pub(super) struct Sentinels {
    sentinels: Vec<NodeAddr>,
    master: String,
    auth: Auth,
    config: AsyncConnectionConfig,
    timeout: Duration,
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
            timeout,
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
                "the sentinels monitor no master by the name in --redis-url",
                format!("{:?}", self.master),
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

impl Sentinels {
    /// Follows the sentinels' view of the primary until shutdown, calling `on_switch` when it
    /// changes: from a `+switch-master` subscription on one sentinel (the next one when it
    /// fails) and, in case a message is missed, by asking every `every`. A callback rather
    /// than the wake-up listener itself, so that dialling (which needs the sentinels) and
    /// listening (which dials) do not import each other.
    pub(super) async fn watch(
        self: Arc<Self>,
        on_switch: impl Fn() + Send,
        every: Duration,
        shutdown: Shutdown,
    ) {
        let mut known: Option<NodeAddr> = None;
        let mut note = |addr: NodeAddr| {
            if known.as_ref().is_some_and(|k| *k != addr) {
                tracing::warn!(primary = %addr, "the sentinels switched the Redis primary; reconnecting");
                on_switch();
            }
            known = Some(addr);
        };
        let mut next = 0usize;
        loop {
            let sentinel = &self.sentinels[next % self.sentinels.len()];
            next += 1;
            let subscribed = tokio::time::timeout(self.timeout, async {
                let client = Client::open(sentinel.url(&Auth::default()))?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe("+switch-master").await?;
                RedisResult::Ok(pubsub)
            })
            .await;
            let mut messages = match subscribed {
                Ok(Ok(pubsub)) => Some(pubsub.into_on_message()),
                _ => None,
            };
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let message = async {
                    match messages.as_mut() {
                        Some(m) => m.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.recv() => return,
                    msg = message => match msg {
                        // "<name> <old-ip> <old-port> <new-ip> <new-port>"
                        Some(msg) => {
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if let Some(addr) = parse_switch(&payload, &self.master) {
                                note(addr);
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        if let Ok(Ok(addr)) =
                            tokio::time::timeout(self.timeout, self.primary_addr()).await
                        {
                            note(addr);
                        }
                        if messages.is_none() {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// The new primary in a `+switch-master` payload for `master`.
fn parse_switch(payload: &str, master: &str) -> Option<NodeAddr> {
    let parts: Vec<&str> = payload.split_whitespace().collect();
    match parts.as_slice() {
        [name, _, _, host, port] if *name == master => Some(NodeAddr {
            host: (*host).to_owned(),
            port: port.parse().ok()?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_master_messages_name_the_new_primary_of_our_master_only() {
        assert_eq!(
            parse_switch("locks 127.0.0.1 6379 127.0.0.1 6380", "locks"),
            Some(NodeAddr {
                host: "127.0.0.1".into(),
                port: 6380
            })
        );
        assert_eq!(
            parse_switch("other 127.0.0.1 6379 127.0.0.1 6380", "locks"),
            None
        );
        assert_eq!(parse_switch("locks 1 2 3", "locks"), None);
    }
}
