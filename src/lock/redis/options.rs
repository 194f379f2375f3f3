//! The Redis backend's settings as plain values, so that any assembly of the server (the
//! binary, tests, benches) can build a [`super::RedisBackend`] without the whole settings.

use std::time::Duration;

use crate::config::RedisSettings;

/// What the Redis backend is built from: plain values, so any assembly of the server can
/// build one (see [`RedisOptions::from_settings`] for the flags they come from).
#[derive(Clone, Debug)]
pub(crate) struct RedisOptions {
    /// `--redis-url`: `redis://`, `rediss://`, `redis+cluster://` or `redis+sentinel://`.
    pub url: String,
    /// `--lock-key-prefix`: the start of every key and channel.
    pub key_prefix: String,
    /// `--redis-pool-size`: pooled connections (single server and Sentinel).
    pub pool_size: u32,
    /// `--redis-timeout`: the bound on every Redis call, dial included.
    pub timeout: Duration,
    /// `--lock-recheck`: a waiter's fallback re-check period.
    pub recheck: Duration,
    /// `--lock-max-waiters`: waiters queued on one name at most.
    pub max_waiters: usize,
    /// `--redis-retries`: retries of a call that found Redis unreachable.
    pub retries: u32,
    /// `--redis-retry-interval`: the longest pause before each retry.
    pub retry_interval: Duration,
}

impl RedisOptions {
    /// The options the server's settings name.
    pub(crate) fn from_settings(
        redis: &RedisSettings,
        recheck: Duration,
        max_waiters: usize,
    ) -> Self {
        Self {
            url: redis.url.clone(),
            key_prefix: redis.key_prefix.clone(),
            pool_size: redis.pool_size.get(),
            timeout: redis.timeout,
            recheck,
            max_waiters,
            retries: redis.retries,
            retry_interval: redis.retry_interval,
        }
    }
}
