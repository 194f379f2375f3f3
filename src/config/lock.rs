//! Locks: lease bounds, waiting, and the Redis they may live in.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use clap::Args;

use super::topology::Topology;
use super::{ConfigError, at_least_one, longer_than_zero};

/// Default of `--lock-max-names`: lock names the in-process table tracks at once (held or
/// waited on). Far above what one server's callers hold in practice (each name is a lock some
/// caller holds right now), low enough that a caller inventing names cannot grow the table
/// without bound: each entry holds a name of at most 256 bytes twice (the table and the
/// expiry index) plus its queue.
pub(super) const DEFAULT_LOCK_MAX_NAMES: NonZeroUsize = NonZeroUsize::new(100_000).unwrap();

/// Default of `--redis-retries`: retries of a lock call that found Redis unreachable, after
/// the first attempt. Redisson's `retryAttempts` default; with [`DEFAULT_REDIS_RETRY_INTERVAL`]
/// it covers a Sentinel or Cluster failover of a few seconds.
pub(super) const DEFAULT_REDIS_RETRIES: u32 = 3;

/// Default of `--redis-retry-interval`: Redisson's `retryInterval` default (1.5 s). A retry
/// goes sooner when the wake-up listener sees Redis come back first. (Text: clap parses it
/// with humantime like every duration flag.)
pub(super) const DEFAULT_REDIS_RETRY_INTERVAL: &str = "1500ms";

/// A prefix naming the product, so the keys are found and never collide with an application's own.
pub(super) const DEFAULT_LOCK_KEY_PREFIX: &str = "streamgate:lock:";

/// 32 Redis connections: each script call takes one for well under a millisecond, so 32 serve
/// thousands of calls per second.
pub(super) const DEFAULT_REDIS_POOL_SIZE: NonZeroU32 = NonZeroU32::new(32).unwrap();

/// Two seconds per Redis call: far above a healthy round trip, short enough to report an outage
/// while the caller still waits.
pub(super) const DEFAULT_REDIS_TIMEOUT: &str = "2s";

/// Ten seconds: a crashed holder blocks the others briefly, a live one extends its lease (or holds
/// it with Hold).
pub(super) const DEFAULT_LOCK_DEFAULT_TTL: &str = "10s";

/// Below 10 ms a lease expires before the grant reaches the caller.
pub(super) const DEFAULT_LOCK_MIN_TTL: &str = "10ms";

/// An hour: long jobs hold one lease, a forgotten holder is freed the same day.
pub(super) const DEFAULT_LOCK_MAX_TTL: &str = "1h";

/// The same bound for waiting as for holding.
pub(super) const DEFAULT_LOCK_MAX_WAIT: &str = "1h";

/// Waiters re-check once a second in case a wake-up was lost (notifications do the usual work).
pub(super) const DEFAULT_LOCK_RECHECK: &str = "1s";

/// Ten thousand waiters per name: a fleet queueing at once fits, one name cannot hold unbounded
/// memory.
pub(super) const DEFAULT_LOCK_MAX_WAITERS: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

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
        default_value = DEFAULT_LOCK_KEY_PREFIX
    )]
    pub key_prefix: String,

    /// Connections in the Redis pool.
    #[arg(
        long = "redis-pool-size",
        env = "STREAMGATE_REDIS_POOL_SIZE",
        default_value_t = DEFAULT_REDIS_POOL_SIZE,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub redis_pool_size: NonZeroU32,

    /// Longest wait for a Redis connection or command before UNAVAILABLE.
    #[arg(long = "redis-timeout", env = "STREAMGATE_REDIS_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_REDIS_TIMEOUT)]
    pub redis_timeout: Duration,

    /// Lease when a request names none.
    #[arg(long = "lock-default-ttl", env = "STREAMGATE_LOCK_DEFAULT_TTL", value_parser = humantime::parse_duration, default_value = DEFAULT_LOCK_DEFAULT_TTL)]
    pub default_ttl: Duration,

    /// Shortest lease a request may ask for.
    #[arg(long = "lock-min-ttl", env = "STREAMGATE_LOCK_MIN_TTL", value_parser = longer_than_zero, default_value = DEFAULT_LOCK_MIN_TTL)]
    pub min_ttl: Duration,

    /// Longest lease a request may ask for.
    #[arg(long = "lock-max-ttl", env = "STREAMGATE_LOCK_MAX_TTL", value_parser = humantime::parse_duration, default_value = DEFAULT_LOCK_MAX_TTL)]
    pub max_ttl: Duration,

    /// Longest wait_timeout a request may ask for.
    #[arg(long = "lock-max-wait", env = "STREAMGATE_LOCK_MAX_WAIT", value_parser = humantime::parse_duration, default_value = DEFAULT_LOCK_MAX_WAIT)]
    pub max_wait: Duration,

    /// Upper bound on the time a waiter sleeps between re-checks when a wake-up
    /// notification is lost.
    #[arg(long = "lock-recheck", env = "STREAMGATE_LOCK_RECHECK", value_parser = longer_than_zero, default_value = DEFAULT_LOCK_RECHECK)]
    pub recheck: Duration,

    /// Waiters queued on one lock name at once; a caller beyond it gets RESOURCE_EXHAUSTED.
    #[arg(
        long = "lock-max-waiters",
        env = "STREAMGATE_LOCK_MAX_WAITERS",
        default_value_t = DEFAULT_LOCK_MAX_WAITERS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_waiters: NonZeroUsize,

    /// Lock names the in-process table tracks at once (held or waited on); a call that would
    /// add one more gets RESOURCE_EXHAUSTED naming this flag. Redis keeps its own bound
    /// (maxmemory).
    #[arg(
        long = "lock-max-names",
        env = "STREAMGATE_LOCK_MAX_NAMES",
        default_value_t = DEFAULT_LOCK_MAX_NAMES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_names: NonZeroUsize,

    /// Retries of a lock call that found Redis unreachable (a failover, a restart), after the
    /// first attempt, each after --redis-retry-interval or as soon as Redis is back, within
    /// the call's deadline. 0: answer UNAVAILABLE at once.
    #[arg(
        long = "redis-retries",
        env = "STREAMGATE_REDIS_RETRIES",
        default_value_t = DEFAULT_REDIS_RETRIES
    )]
    pub redis_retries: u32,

    /// Longest pause before a retry of --redis-retries.
    #[arg(long = "redis-retry-interval", env = "STREAMGATE_REDIS_RETRY_INTERVAL", value_parser = longer_than_zero, default_value = DEFAULT_REDIS_RETRY_INTERVAL)]
    pub redis_retry_interval: Duration,
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
    /// Names the in-process table tracks at once.
    pub max_names: NonZeroUsize,
}

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// What `--redis-url` names, parsed once here.
    pub topology: Topology,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Connections in the pool.
    pub pool_size: NonZeroU32,
    /// Longest wait for a connection or a command (non-zero).
    pub timeout: Duration,
    /// Retries of a call that found Redis unreachable.
    pub retries: u32,
    /// Longest pause before each retry (non-zero).
    pub retry_interval: Duration,
}

impl LockArgs {
    pub(super) fn settings(&self) -> Result<LockSettings, ConfigError> {
        let min_ttl = self.min_ttl;
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
                topology: checked_redis_url(url)?,
                key_prefix: self.key_prefix.clone(),
                pool_size: self.redis_pool_size,
                timeout: self.redis_timeout,
                retries: self.redis_retries,
                retry_interval: self.redis_retry_interval,
            }),
        };
        Ok(LockSettings {
            redis,
            default_ttl: self.default_ttl,
            min_ttl,
            max_ttl: self.max_ttl,
            max_wait: self.max_wait,
            recheck: self.recheck,
            max_waiters: self.max_waiters,
            max_names: self.max_names,
        })
    }
}

fn checked_redis_url(url: &str) -> Result<Topology, ConfigError> {
    Topology::parse(url).map_err(ConfigError)
}
