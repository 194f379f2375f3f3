//! Redisson #3004: a live waiter dropped from the queue as expired. On Redis a queued waiter's
//! entry carries a liveness deadline, a waiter lease of `2 × --lock-recheck + --redis-timeout`
//! that its server refreshes at every re-check, and the queue keys expire twice that lease
//! after the last refresh; an entry past its deadline is skipped as a crashed server's. Here
//! the lease is short (100 ms re-checks and a 500 ms timeout: 700 ms) and waiters queue for
//! several times it: each must keep its place and be granted in arrival order. The in-process
//! backend has no waiter lease (a waiter leaves only with its call); it runs the same cases,
//! and so do Redis Cluster and Sentinel.

use crate::common;

use std::time::Duration;

use common::lock::*;
use streamgate_client::proto::{AcquireLockResponse, LockMode};
use tokio::sync::mpsc;

/// The Redis servers' flags: a 700 ms waiter lease.
const SHORT_WAITER_LEASE: [&str; 4] = ["--lock-recheck", "100ms", "--redis-timeout", "500ms"];
/// How long the waiters queue before anything is freed: over four waiter leases, and over
/// twice the 1.4 s the queue keys last without a refresh.
const OUTLAST: Duration = Duration::from_secs(3);
/// Longest a waiter may take to hear of a grant that is its turn.
const WOKEN_WITHIN: Duration = Duration::from_secs(5);
/// Lease of every grant: far longer than the test, so only a release frees anything.
const TTL_MS: u64 = 60_000;
/// Wait of every queued waiter: over the whole test.
const WAIT_MS: u64 = 30_000;

/// Queued waiters in `name`'s permit queue and waiter entries in Redis (None in-process).
async fn queued_in_redis(env: &LockEnv, name: &str) -> Option<(u64, u64)> {
    let redis = env.redis.as_ref()?;
    let client = ::redis::Client::open(redis.url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
    let tag = format!("{{streamgate:lock:{name}}}");
    let queued: u64 = ::redis::cmd("ZCARD")
        .arg(format!("{tag}:pqueue"))
        .query_async(&mut conn)
        .await
        .expect("ZCARD");
    let entries: u64 = ::redis::cmd("HLEN")
        .arg(format!("{tag}:pwaiters"))
        .query_async(&mut conn)
        .await
        .expect("HLEN");
    Some((queued, entries))
}

/// Starts waiter `i` on `name` with `req`; its grant (never released) arrives on `tx`.
async fn queue_waiter(
    env: &LockEnv,
    tx: &mpsc::Sender<(usize, AcquireLockResponse)>,
    i: usize,
    req: streamgate_client::proto::AcquireLockRequest,
) -> tokio::task::JoinHandle<()> {
    let mut c = env.client().await;
    let tx = tx.clone();
    let name = req.name.clone();
    let task = tokio::spawn(async move {
        let g = acquire_with(&mut c, req).await;
        let _ = tx.send((i, g)).await;
    });
    env.wait_for_permit_waiters(&name, i + 1).await;
    task
}

/// The next grant to arrive; it must be waiter `expected`'s, and granted.
async fn next_grant(
    rx: &mut mpsc::Receiver<(usize, AcquireLockResponse)>,
    expected: usize,
) -> AcquireLockResponse {
    let [g] = next_grants(rx, [expected]).await;
    g
}

/// The next `N` grants to arrive, made in one step (their callers may hear of them in any
/// order); they must be those of waiters `expected`, each granted. In `expected`'s order.
async fn next_grants<const N: usize>(
    rx: &mut mpsc::Receiver<(usize, AcquireLockResponse)>,
    expected: [usize; N],
) -> [AcquireLockResponse; N] {
    let mut seen = Vec::new();
    for _ in 0..N {
        let next = tokio::time::timeout(WOKEN_WITHIN, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("waiters {expected:?} not granted within {WOKEN_WITHIN:?}"))
            .expect("a waiter is still running");
        seen.push(next);
    }
    seen.sort_by_key(|(i, _)| *i);
    let who: Vec<usize> = seen.iter().map(|(i, _)| *i).collect();
    assert_eq!(who, expected, "granted out of arrival order");
    for (i, g) in &seen {
        assert!(g.acquired, "waiter {i} outlasted its wait: {g:?}");
    }
    let grants: Vec<AcquireLockResponse> = seen.into_iter().map(|(_, g)| g).collect();
    grants
        .try_into()
        .unwrap_or_else(|_| unreachable!("N grants were received"))
}

/// Waits [`OUTLAST`] with every waiter queued, then checks that none was granted or dropped.
async fn outlast_the_waiter_lease(
    env: &LockEnv,
    name: &str,
    waiters: u64,
    rx: &mut mpsc::Receiver<(usize, AcquireLockResponse)>,
) {
    tokio::time::sleep(OUTLAST).await;
    assert!(
        rx.try_recv().is_err(),
        "nothing was freed: nobody is granted"
    );
    if let Some(seen) = queued_in_redis(env, name).await {
        assert_eq!(
            seen,
            (waiters, waiters),
            "every live waiter is still queued"
        );
    }
}

async fn live_semaphore_waiters_outlasting_the_waiter_lease_are_granted_in_arrival_order(
    env: &LockEnv,
) {
    let mut c = env.client().await;
    let name = unique("sem-long-wait");
    let all = acquire_with(&mut c, permits_req(&name, 2, 2, TTL_MS, 0)).await;
    assert!(all.acquired);
    let (tx, mut rx) = mpsc::channel(8);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let req = permits_req(&name, 2, 1, TTL_MS, WAIT_MS);
        tasks.push(queue_waiter(env, &tx, i, req).await);
    }
    outlast_the_waiter_lease(env, &name, 4, &mut rx).await;

    // Two permits freed: the first two waiters, in order; then one each.
    assert!(release(&mut c, &name, &all.token).await);
    // Granted in one step: arrival order shows in their fences.
    let [first, second] = next_grants(&mut rx, [0, 1]).await;
    assert!(rx.try_recv().is_err(), "two permits serve two waiters");
    assert!(release(&mut c, &name, &first.token).await);
    let third = next_grant(&mut rx, 2).await;
    assert!(release(&mut c, &name, &second.token).await);
    let fourth = next_grant(&mut rx, 3).await;
    let fences = [all, first, second, third, fourth].map(|g| g.fencing_token);
    assert!(fences.windows(2).all(|w| w[0] < w[1]), "{fences:?}");
    for task in tasks {
        task.await.expect("a waiter panicked");
    }
}

async fn live_read_write_waiters_outlasting_the_waiter_lease_are_granted_in_arrival_order(
    env: &LockEnv,
) {
    let mut c = env.client().await;
    let name = unique("rw-long-wait");
    let reader = acquire_with(&mut c, rw_req(&name, LockMode::Shared, TTL_MS, 0)).await;
    assert!(reader.acquired);
    let (tx, mut rx) = mpsc::channel(8);
    let mut tasks = Vec::new();
    let modes = [LockMode::Exclusive, LockMode::Shared, LockMode::Exclusive];
    for (i, mode) in modes.into_iter().enumerate() {
        let req = rw_req(&name, mode, TTL_MS, WAIT_MS);
        tasks.push(queue_waiter(env, &tx, i, req).await);
    }
    outlast_the_waiter_lease(env, &name, 3, &mut rx).await;

    // Arrival order is also the phase-fair order here: writer, reader, writer.
    assert!(release(&mut c, &name, &reader.token).await);
    let w1 = next_grant(&mut rx, 0).await;
    assert!(rx.try_recv().is_err(), "the writer is alone");
    assert!(release(&mut c, &name, &w1.token).await);
    let r2 = next_grant(&mut rx, 1).await;
    assert!(rx.try_recv().is_err(), "no writer beside the reader");
    assert!(release(&mut c, &name, &r2.token).await);
    let w3 = next_grant(&mut rx, 2).await;
    let fences = [reader, w1, r2, w3].map(|g| g.fencing_token);
    assert!(fences.windows(2).all(|w| w[0] < w[1]), "{fences:?}");
    for task in tasks {
        task.await.expect("a waiter panicked");
    }
}

macro_rules! on_backends {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&LockEnv::start(Backend::Memory).await).await;
                }
            )*
        }
        mod redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = LockEnv::start_with(Backend::Redis, &SHORT_WAITER_LEASE).await;
                    super::$case(&env).await;
                }
            )*
        }
        // The same scripts behind Cluster and Sentinel, where a waiter's re-check also
        // crosses a slot's node or a pool that asks the sentinels for the primary. The
        // queue's keys are not counted there (the order and the grants are).
        mod cluster {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = LockEnv::start_with(Backend::Cluster, &SHORT_WAITER_LEASE).await;
                    super::$case(&env).await;
                }
            )*
        }
        mod sentinel {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = LockEnv::start_with(Backend::Sentinel, &SHORT_WAITER_LEASE).await;
                    super::$case(&env).await;
                }
            )*
        }
    };
}

on_backends!(
    live_semaphore_waiters_outlasting_the_waiter_lease_are_granted_in_arrival_order,
    live_read_write_waiters_outlasting_the_waiter_lease_are_granted_in_arrival_order,
);
