//! Lock test helpers: a server on either backend, a client, and request builders.

use std::time::{Duration, SystemTime};

use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::{
    AcquireLockRequest, AcquireLockResponse, ExtendRequest, ExtendResponse, HoldRequest, LockMode,
    ReleaseRequest,
};
use tonic::transport::Channel;

use super::redis_topology::{RedisCluster, RedisSentinels};
use super::{RedisServer, TestServer};

/// Which lock backend a server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In-process (no `--redis-url`).
    Memory,
    /// A real redis-server spawned for the test.
    Redis,
    /// A three-master Redis Cluster spawned for the test.
    Cluster,
    /// A primary, its replica and three sentinels spawned for the test, named by
    /// `redis+sentinel://`.
    Sentinel,
}

/// A streamgate server on one backend (and the redis-server behind it, if any).
pub struct LockEnv {
    /// The server.
    pub server: TestServer,
    /// The Redis behind it (Redis backend only).
    pub redis: Option<RedisServer>,
    /// The Redis Cluster behind it (cluster backend only).
    pub cluster: Option<RedisCluster>,
    /// The Sentinel-managed Redis behind it (Sentinel backend only).
    pub sentinels: Option<RedisSentinels>,
}

impl LockEnv {
    /// Starts a server on `backend`. The Redis backend's fallback re-check is set to 20 s so
    /// that a test seeing a wake-up within a second has seen a notification, not a poll.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &["--lock-recheck", "20s"]).await
    }

    /// Starts a server on `backend`, with `redis_args` after `--redis-url` on the Redis
    /// backends (the in-process one has no re-check or waiter lease to set).
    pub async fn start_with(backend: Backend, redis_args: &[&str]) -> Self {
        match backend {
            Backend::Memory => Self {
                server: TestServer::start().await,
                redis: None,
                cluster: None,
                sentinels: None,
            },
            Backend::Redis => {
                let redis = RedisServer::start();
                let url = redis.url();
                let server = TestServer::start_with_args(&with_url(&url, redis_args)).await;
                Self {
                    server,
                    redis: Some(redis),
                    cluster: None,
                    sentinels: None,
                }
            }
            Backend::Cluster => {
                let cluster = RedisCluster::start();
                let url = cluster.url();
                let server = TestServer::start_with_args(&with_url(&url, redis_args)).await;
                Self {
                    server,
                    redis: None,
                    cluster: Some(cluster),
                    sentinels: None,
                }
            }
            Backend::Sentinel => {
                // The set starts blocking (it waits for replication and the sentinels).
                let set = tokio::task::block_in_place(RedisSentinels::start);
                let url = set.url();
                let server = TestServer::start_with_args(&with_url(&url, redis_args)).await;
                Self {
                    server,
                    redis: None,
                    cluster: None,
                    sentinels: Some(set),
                }
            }
        }
    }

    /// Waits until `n` callers queue on `name`. On Redis this watches the queue itself
    /// (bounded to 10 s); the in-process table has no outside view, so there it leaves the
    /// waiters 50 ms to arrive.
    pub async fn wait_for_waiters(&self, name: &str, n: usize) {
        self.wait_for_queue(name, n, |queued| queued >= n).await;
    }

    /// Waits until nobody queues on `name` (as [`Self::wait_for_waiters`]).
    pub async fn wait_for_empty_queue(&self, name: &str) {
        self.wait_for_queue(name, 0, |queued| queued == 0).await;
    }

    /// Waits until `n` callers queue on the semaphore or read-write lock `name` (as
    /// [`Self::wait_for_waiters`], on that kind's queue).
    pub async fn wait_for_permit_waiters(&self, name: &str, n: usize) {
        self.wait_for_key(name, "pqueue", n, |queued| queued >= n)
            .await;
    }

    /// Waits until nobody queues on the semaphore or read-write lock `name`.
    pub async fn wait_for_empty_permit_queue(&self, name: &str) {
        self.wait_for_key(name, "pqueue", 0, |queued| queued == 0)
            .await;
    }

    async fn wait_for_queue(&self, name: &str, n: usize, done: impl Fn(usize) -> bool) {
        self.wait_for_key(name, "queue", n, done).await;
    }

    async fn wait_for_key(&self, name: &str, suffix: &str, n: usize, done: impl Fn(usize) -> bool) {
        if let Some(set) = &self.sentinels {
            // No failover here: the primary the set started with holds the keys.
            let url = format!("redis://127.0.0.1:{}/", set.primary.port);
            return watch_queue(&url, name, suffix, n, done).await;
        }
        match (&self.redis, &self.cluster) {
            (Some(redis), _) => watch_queue(&redis.url(), name, suffix, n, done).await,
            (None, Some(cluster)) => {
                let what = format!("the queue of {name} reaches {n}");
                let done = &done;
                super::eventually(Duration::from_secs(10), &what, move || async move {
                    let queued = cluster.queued_in(name, suffix);
                    if done(queued) { Ok(()) } else { Err(queued) }
                })
                .await
            }
            (None, None) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    /// A client on a fresh connection.
    pub async fn client(&self) -> LockServiceClient<Channel> {
        client_for(&self.server).await
    }
}

/// `--redis-url URL` followed by `args`.
/// The server flags of the Redis tests whose queue state must lapse within seconds: a waiter
/// lease of 2 × 200 ms + 500 ms.
pub const SHORT_LEASE_REDIS_ARGS: [&str; 4] =
    ["--lock-recheck", "200ms", "--redis-timeout", "500ms"];

/// `--redis-url url` followed by `args`.
pub fn with_url<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--redis-url", url];
    all.extend_from_slice(args);
    all
}

/// Waits (at most 10 s) until at least `n` callers queue on `name` in `redis`.
pub async fn wait_for_queued(redis: &RedisServer, name: &str, n: usize) {
    watch_queue(&redis.url(), name, "queue", n, |queued| queued >= n).await;
}

/// Polls the length of `name`'s queue (the key ending `suffix`) in the Redis at `url` until
/// `done` holds (at most 10 s).
async fn watch_queue(url: &str, name: &str, suffix: &str, n: usize, done: impl Fn(usize) -> bool) {
    let client = redis::Client::open(url).expect("redis url");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
    let key = format!("{{streamgate:lock:{name}}}:{suffix}");
    let what = format!("the queue of {name} reaches {n}");
    let done = &done;
    super::eventually(Duration::from_secs(10), &what, move || {
        let mut conn = conn.clone();
        let key = key.clone();
        async move {
            let queued: usize = redis::cmd("ZCARD")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("ZCARD");
            if done(queued) { Ok(()) } else { Err(queued) }
        }
    })
    .await
}

/// A lock client on a fresh connection to `server`.
pub async fn client_for(server: &TestServer) -> LockServiceClient<Channel> {
    LockServiceClient::new(server.channel().await)
}

/// A protobuf duration of `ms` milliseconds.
pub fn ms(ms: u64) -> prost_types::Duration {
    prost_types::Duration::try_from(Duration::from_millis(ms)).expect("small durations convert")
}

/// A lock name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// An AcquireLock request; `wait_ms` 0 = try once.
pub fn acquire_req(name: &str, ttl_ms: u64, wait_ms: u64) -> AcquireLockRequest {
    AcquireLockRequest {
        name: name.into(),
        ttl: Some(ms(ttl_ms)),
        wait_timeout: (wait_ms > 0).then(|| ms(wait_ms)),
        owner: "test".into(),
        ..Default::default()
    }
}

/// An AcquireLock request for `permits` of a semaphore of `limit` permits.
pub fn permits_req(
    name: &str,
    limit: u32,
    permits: u32,
    ttl_ms: u64,
    wait_ms: u64,
) -> AcquireLockRequest {
    AcquireLockRequest {
        limit,
        permits,
        ..acquire_req(name, ttl_ms, wait_ms)
    }
}

/// An AcquireLock request for one side of a read-write lock.
pub fn rw_req(name: &str, mode: LockMode, ttl_ms: u64, wait_ms: u64) -> AcquireLockRequest {
    AcquireLockRequest {
        mode: mode.into(),
        ..acquire_req(name, ttl_ms, wait_ms)
    }
}

/// AcquireLock of any kind that must succeed as an RPC.
pub async fn acquire_with(
    client: &mut LockServiceClient<Channel>,
    req: AcquireLockRequest,
) -> AcquireLockResponse {
    client
        .acquire_lock(req)
        .await
        .expect("AcquireLock RPC succeeds")
        .into_inner()
}

/// A Hold request.
pub fn hold_req(name: &str, ttl_ms: u64, wait_ms: u64) -> HoldRequest {
    HoldRequest {
        name: name.into(),
        ttl: Some(ms(ttl_ms)),
        wait_timeout: (wait_ms > 0).then(|| ms(wait_ms)),
        owner: "test".into(),
        ..Default::default()
    }
}

/// AcquireLock that must succeed as an RPC.
pub async fn acquire(
    client: &mut LockServiceClient<Channel>,
    name: &str,
    ttl_ms: u64,
    wait_ms: u64,
) -> AcquireLockResponse {
    client
        .acquire_lock(acquire_req(name, ttl_ms, wait_ms))
        .await
        .expect("AcquireLock RPC succeeds")
        .into_inner()
}

/// An Extend that must succeed as an RPC (its answer may still be `extended = false`).
pub async fn extend(
    client: &mut LockServiceClient<Channel>,
    name: &str,
    token: &str,
    ttl_ms: u64,
) -> ExtendResponse {
    client
        .extend(ExtendRequest {
            name: name.into(),
            token: token.into(),
            ttl: Some(ms(ttl_ms)),
        })
        .await
        .expect("Extend RPC succeeds")
        .into_inner()
}

/// Release that must succeed as an RPC; returns `released`.
pub async fn release(client: &mut LockServiceClient<Channel>, name: &str, token: &str) -> bool {
    client
        .release(ReleaseRequest {
            name: name.into(),
            token: token.into(),
        })
        .await
        .expect("Release RPC succeeds")
        .into_inner()
        .released
}

/// A response's `expires_at` as a wall-clock time.
pub fn expires_at(resp: &AcquireLockResponse) -> SystemTime {
    let ts = resp.expires_at.expect("a grant carries expires_at");
    SystemTime::try_from(ts).expect("expires_at is a valid time")
}

/// Runs `call` until it answers anything but UNAVAILABLE (what a Redis outage, a failover or
/// a slot on the move answer), for at most `within`; returns that answer and how many
/// UNAVAILABLE answers came first. Any other error fails the test.
pub async fn through_unavailable<T, F, Fut>(within: Duration, what: &str, call: F) -> (T, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    // Atomic only so the caller's future stays Send (tests spawn it).
    let unavailable = &std::sync::atomic::AtomicU32::new(0);
    let mut call = call;
    let answer = super::eventually(within, what, move || {
        let answer = call();
        async move {
            match answer.await {
                Ok(r) => Ok(r.into_inner()),
                Err(e) if e.code() == tonic::Code::Unavailable => {
                    unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Err(e)
                }
                Err(e) => panic!("{what}: {e:?}"),
            }
        }
    })
    .await;
    (
        answer,
        unavailable.load(std::sync::atomic::Ordering::Relaxed),
    )
}
