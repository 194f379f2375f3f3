//! The Redis backend's settings as plain values, so that any assembly of the server (the
//! binary, tests, benches) can build a [`super::RedisBackend`] without a whole `Config`.

use std::time::Duration;

use super::topology::Topology;
use crate::config::Config;

/// Checks `--redis-url` names a topology streamgate can use; the error says why not.
pub fn validate_url(url: &str) -> Result<(), String> {
    Topology::parse(url).map(|_| ())
}

/// What the Redis backend is built from: plain values, so any assembly of the server can
/// build one (see [`RedisOptions::from_config`] for the flags they come from).
#[derive(Clone, Debug)]
pub struct RedisOptions {
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
}

impl RedisOptions {
    /// The options the server's flags name, for the Redis at `url`.
    pub fn from_config(url: &str, config: &Config) -> Self {
        Self {
            url: url.to_owned(),
            key_prefix: config.lock_key_prefix.clone(),
            pool_size: config.redis_pool_size,
            timeout: config.redis_timeout,
            recheck: config.lock_recheck,
            max_waiters: config.lock_max_waiters,
        }
    }
}
