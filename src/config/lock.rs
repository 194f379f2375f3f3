//! Locks: lease bounds, waiting, and the Redis they may live in.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::Args;

use super::{ConfigError, at_least_one, longer_than_zero};

/// The lock flags.
#[derive(Clone, Debug, Args)]
pub struct LockArgs {
    /// Redis for locks shared by every server naming it: redis:// or rediss:// (one server),
    /// redis+cluster://H:P,H:P (Redis Cluster seeds), redis+sentinel://H:P,H:P/MASTER (Sentinel);
    /// unset = locks live in this process.
    #[arg(long, env = "STREAMGATE_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key streamgate writes.
    #[arg(
        long = "lock-key-prefix",
        env = "STREAMGATE_LOCK_KEY_PREFIX",
        default_value = "streamgate:lock:"
    )]
    pub key_prefix: String,

    /// Connections in the Redis pool.
    #[arg(
        long = "redis-pool-size",
        env = "STREAMGATE_REDIS_POOL_SIZE",
        default_value_t = 32
    )]
    pub redis_pool_size: u32,

    /// Longest wait for a Redis connection or command before UNAVAILABLE.
    #[arg(long = "redis-timeout", env = "STREAMGATE_REDIS_TIMEOUT", value_parser = humantime::parse_duration, default_value = "2s")]
    pub redis_timeout: Duration,

    /// Lease when a request names none.
    #[arg(long = "lock-default-ttl", env = "STREAMGATE_LOCK_DEFAULT_TTL", value_parser = humantime::parse_duration, default_value = "10s")]
    pub default_ttl: Duration,

    /// Shortest lease a request may ask for.
    #[arg(long = "lock-min-ttl", env = "STREAMGATE_LOCK_MIN_TTL", value_parser = humantime::parse_duration, default_value = "10ms")]
    pub min_ttl: Duration,

    /// Longest lease a request may ask for.
    #[arg(long = "lock-max-ttl", env = "STREAMGATE_LOCK_MAX_TTL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub max_ttl: Duration,

    /// Longest wait_timeout a request may ask for.
    #[arg(long = "lock-max-wait", env = "STREAMGATE_LOCK_MAX_WAIT", value_parser = humantime::parse_duration, default_value = "1h")]
    pub max_wait: Duration,

    /// Upper bound on the time a waiter sleeps between re-checks when a wake-up
    /// notification is lost.
    #[arg(long = "lock-recheck", env = "STREAMGATE_LOCK_RECHECK", value_parser = humantime::parse_duration, default_value = "1s")]
    pub recheck: Duration,

    /// Waiters queued on one lock name at once; a caller beyond it gets RESOURCE_EXHAUSTED.
    #[arg(
        long = "lock-max-waiters",
        env = "STREAMGATE_LOCK_MAX_WAITERS",
        default_value_t = 10_000
    )]
    pub max_waiters: usize,
}

/// The checked settings of LockService.
#[derive(Clone, Debug)]
pub struct LockSettings {
    /// Where locks live: `None` = in this process.
    pub redis: Option<RedisSettings>,
    /// Lease when a request names none (within `min_ttl..=max_ttl`).
    pub default_ttl: Duration,
    /// Shortest lease (non-zero, ≤ `max_ttl`).
    pub min_ttl: Duration,
    /// Longest lease.
    pub max_ttl: Duration,
    /// Longest wait a request may ask for.
    pub max_wait: Duration,
    /// Longest sleep between re-checks when a wake-up is lost (non-zero).
    pub recheck: Duration,
    /// Waiters queued on one name at once.
    pub max_waiters: NonZeroUsize,
}

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// The Redis URL.
    pub url: String,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Connections in the pool.
    pub pool_size: NonZeroU32,
    /// Longest wait for a connection or a command (non-zero).
    pub timeout: Duration,
}

impl LockArgs {
    pub(super) fn settings(&self) -> Result<LockSettings, ConfigError> {
        let min_ttl = longer_than_zero("lock-min-ttl", self.min_ttl)?;
        if min_ttl > self.max_ttl {
            return Err(ConfigError(
                "--lock-min-ttl must not exceed --lock-max-ttl".into(),
            ));
        }
        if self.default_ttl < min_ttl || self.default_ttl > self.max_ttl {
            return Err(ConfigError(
                "--lock-default-ttl must lie between --lock-min-ttl and --lock-max-ttl".into(),
            ));
        }
        let redis = match &self.redis_url {
            None => None,
            Some(url) => Some(RedisSettings {
                url: checked_redis_url(url)?,
                key_prefix: self.key_prefix.clone(),
                pool_size: NonZeroU32::new(at_least_one("redis-pool-size", self.redis_pool_size)?)
                    .expect("checked non-zero"),
                timeout: longer_than_zero("redis-timeout", self.redis_timeout)?,
            }),
        };
        // Checked with or without Redis, so a bad value is caught before Redis is added.
        at_least_one("redis-pool-size", self.redis_pool_size)?;
        longer_than_zero("redis-timeout", self.redis_timeout)?;
        Ok(LockSettings {
            redis,
            default_ttl: self.default_ttl,
            min_ttl,
            max_ttl: self.max_ttl,
            max_wait: self.max_wait,
            recheck: longer_than_zero("lock-recheck", self.recheck)?,
            max_waiters: NonZeroUsize::new(at_least_one("lock-max-waiters", self.max_waiters)?)
                .expect("checked non-zero"),
        })
    }
}

fn checked_redis_url(url: &str) -> Result<String, ConfigError> {
    super::topology::Topology::parse(url).map_err(ConfigError)?;
    Ok(url.to_string())
}
