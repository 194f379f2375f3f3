//! LockService metrics on a real `/metrics` endpoint: grants, the waiters gauge going back
//! down when a waiter is cancelled, and `streamgate_redis_up` following a Redis restart.

use crate::common;

use std::time::Duration;

use common::lock::{acquire, acquire_req, client_for, unique};
use common::metrics::Metered;
use common::{RedisServer, free_port};

/// A waiter queues behind a holder, shows in the gauge, and leaves it when its call is
/// cancelled; on both backends.
async fn a_cancelled_waiter_leaves_the_gauge(extra: &[&str]) {
    let m = Metered::start(extra).await;
    let name = unique("metrics-waiter");
    let mut holder = client_for(&m.server).await;
    let held = acquire(&mut holder, &name, 30_000, 0).await;
    assert!(held.acquired);
    m.wait_for("streamgate_lock_grants_total", &[], 1.0).await;
    m.wait_for("streamgate_lock_waiters", &[], 0.0).await;

    let mut waiter = client_for(&m.server).await;
    let req = acquire_req(&name, 30_000, 30_000);
    let call = tokio::spawn(async move { waiter.acquire_lock(req).await });
    let queued = m.wait_for("streamgate_lock_waiters", &[], 1.0).await;
    queued.assert_no_label_contains(&[&name, "metrics-waiter"]);

    // Dropping the call resets its stream: the server drops the acquire, and the waiter.
    call.abort();
    let left = m.wait_for("streamgate_lock_waiters", &[], 0.0).await;
    assert_eq!(left.value("streamgate_lock_grants_total", &[]), 1.0);
    assert!(left.value("streamgate_lock_wait_seconds_count", &[]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_waiter_shows_in_lock_waiters_and_leaves_when_cancelled_in_process() {
    a_cancelled_waiter_leaves_the_gauge(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_waiter_shows_in_lock_waiters_and_leaves_when_cancelled_on_redis() {
    let redis = RedisServer::start();
    a_cancelled_waiter_leaves_the_gauge(&["--redis-url", &redis.url()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_waiter_leaves_the_gauge() {
    let m = Metered::start(&[]).await;
    let name = unique("metrics-handoff");
    let mut holder = client_for(&m.server).await;
    let held = acquire(&mut holder, &name, 30_000, 0).await;
    let mut waiter = client_for(&m.server).await;
    let req = acquire_req(&name, 30_000, 30_000);
    let call = tokio::spawn(async move { waiter.acquire_lock(req).await });
    m.wait_for("streamgate_lock_waiters", &[], 1.0).await;

    assert!(common::lock::release(&mut holder, &name, &held.token).await);
    let granted = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the waiter is granted within 10 s")
        .expect("the task did not panic")
        .expect("AcquireLock succeeds")
        .into_inner();
    assert!(granted.acquired);
    let after = m.wait_for("streamgate_lock_waiters", &[], 0.0).await;
    assert_eq!(after.value("streamgate_lock_grants_total", &[]), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_up_goes_one_zero_one_across_a_redis_restart() {
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let m = Metered::start(&["--redis-url", &redis.url()]).await;
    m.wait_for("streamgate_redis_up", &[], 1.0).await;

    redis.kill();
    m.wait_for("streamgate_redis_up", &[], 0.0).await;

    let _redis = RedisServer::start_on(port);
    m.wait_for("streamgate_redis_up", &[], 1.0).await;
}
