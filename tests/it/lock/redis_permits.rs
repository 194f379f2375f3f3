//! Semaphores and read-write locks on Redis, beyond the conformance suite: every key of a
//! name has a TTL and expires with the name's state, and each operation is one script, as
//! `redis.rs` shows for the mutex.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::lock::*;
use common::{RedisServer, TestServer, eventually};
use streamgate_client::proto::hold_event::Event;
use streamgate_client::proto::{AcquireLockRequest, HoldRequest, LockMode};

use super::redis::{keys_in, scripts_run};

/// Keys in `redis` that have no TTL (`PTTL` -1), with their names.
async fn keys_without_ttl(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(conn).await.unwrap();
    let mut immortal = Vec::new();
    for key in keys {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap();
        // -2: it expired between KEYS and PTTL.
        if pttl == -1 {
            immortal.push(key);
        }
    }
    immortal
}

/// The request of name number `i` in the come-and-go run, which cycles through the kinds:
/// the whole of a semaphore of 3, a reader, a writer.
fn come_and_go_req(name: &str, i: usize, ttl_ms: u64, wait_ms: u64) -> AcquireLockRequest {
    match i % 3 {
        0 => permits_req(name, 3, 3, ttl_ms, wait_ms),
        1 => rw_req(name, LockMode::Shared, ttl_ms, wait_ms),
        _ => rw_req(name, LockMode::Exclusive, ttl_ms, wait_ms),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_and_read_write_names_that_come_and_go_leave_no_keys_and_none_without_a_ttl() {
    let redis = RedisServer::start();
    // Short waiter leases (2 x 200 ms + 500 ms), so queue state lapses within seconds.
    let server =
        TestServer::start_with_args(&with_url(&redis.url(), &SHORT_LEASE_REDIS_ARGS)).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut c = client_for(&server).await;

    // 90 names of the three kinds, each granted, then released, extended, left to expire,
    // queued on by a waiter that gives up, or held by a Hold whose client goes away.
    let mut last_fence = HashMap::new();
    for i in 0..90 {
        let name = format!("{}-{i}", unique("transient-permits"));
        let g = acquire_with(&mut c, come_and_go_req(&name, i, 100, 0)).await;
        assert!(g.acquired, "name {i}");
        let mut fence = g.fencing_token;
        if i % 4 == 0 {
            // A waiter of the other side (or for a permit beyond the three) that times out
            // leaves a queue entry behind for its lease.
            let waiter = match i % 3 {
                0 => permits_req(&name, 3, 1, 100, 20),
                1 => rw_req(&name, LockMode::Exclusive, 100, 20),
                _ => rw_req(&name, LockMode::Shared, 100, 20),
            };
            let mut w = client_for(&server).await;
            let waited = acquire_with(&mut w, waiter).await;
            if waited.acquired {
                fence = fence.max(waited.fencing_token);
                assert!(release(&mut w, &name, &waited.token).await);
            }
        }
        match i % 5 {
            0 | 1 => assert!(release(&mut c, &name, &g.token).await, "name {i}"),
            2 => assert!(
                extend(&mut c, &name, &g.token, 150).await.extended,
                "name {i}"
            ),
            3 => {}
            _ => {
                assert!(release(&mut c, &name, &g.token).await, "name {i}");
                let hold = HoldRequest {
                    limit: [3, 0, 0][i % 3],
                    mode: [0, LockMode::Shared.into(), LockMode::Exclusive.into()][i % 3],
                    ..hold_req(&name, 100, 1_000)
                };
                let holder = client_for(&server).await;
                let mut events = holder.clone().hold(hold).await.unwrap().into_inner();
                let first = events.message().await.unwrap().and_then(|e| e.event);
                let Some(Event::Acquired(held)) = first else {
                    panic!("name {i}: the hold's first event is acquired: {first:?}");
                };
                assert!(held.acquired, "name {i}");
                fence = fence.max(held.fencing_token);
                drop(events);
                drop(holder);
            }
        }
        let immortal = keys_without_ttl(&mut conn).await;
        assert!(
            immortal.is_empty(),
            "after name {i}: keys without a TTL: {immortal:?}"
        );
        last_fence.insert(name, (i, fence));
    }
    assert!(keys_in(&mut conn).await > 0, "the live leases hold keys");

    // Every lease (at most 150 ms) and queue entry (twice the 900 ms waiter lease) ends in
    // seconds; the disconnected holds are released at once.
    let what = "every key expires after every lease and queue entry ended";
    eventually(Duration::from_secs(20), what, || {
        let mut conn = conn.clone();
        async move {
            match keys_in(&mut conn).await {
                0 => Ok(()),
                n => Err(format!("{n} keys remain")),
            }
        }
    })
    .await;

    // The names come back, each as another kind than before: fences still rise, and no kind
    // was remembered.
    for (name, (i, fence)) in &last_fence {
        let g = acquire_with(&mut c, come_and_go_req(name, i + 1, 5_000, 0)).await;
        assert!(g.acquired, "{name}");
        assert!(
            g.fencing_token > *fence,
            "{name}: {} after {fence}",
            g.fencing_token
        );
        assert!(release(&mut c, name, &g.token).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_semaphore_and_read_write_operation_is_one_script() {
    let redis = RedisServer::start();
    // Re-checks far apart, so that every script counted below is one the operation needs.
    let args = ["--redis-url", &redis.url(), "--lock-recheck", "30s"];
    let server = TestServer::start_with_args(&args).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut c = client_for(&server).await;
    // Redis loads each script on its first EVALSHA (a NOSCRIPT round that counts as a call).
    let warm = unique("warm-up");
    let g = acquire_with(&mut c, permits_req(&warm, 2, 1, 10_000, 0)).await;
    assert!(extend(&mut c, &warm, &g.token, 10_000).await.extended);
    assert!(release(&mut c, &warm, &g.token).await);

    for kind in 0..3 {
        let name = unique("permit-scripts");
        let (label, held_req, busy_req) = holder_and_waiter(kind, &name, 0);
        let (_, _, queued_req) = holder_and_waiter(kind, &name, 5_000);

        let before = scripts_run(&mut conn).await;
        let held = acquire_with(&mut c, held_req).await;
        assert!(held.acquired, "{label}");
        assert_scripts(&mut conn, before, 1, &format!("{label}: a grant")).await;

        let before = scripts_run(&mut conn).await;
        assert!(extend(&mut c, &name, &held.token, 30_000).await.extended);
        assert_scripts(&mut conn, before, 1, &format!("{label}: an Extend")).await;

        let before = scripts_run(&mut conn).await;
        assert!(!acquire_with(&mut c, busy_req).await.acquired, "{label}");
        assert_scripts(&mut conn, before, 1, &format!("{label}: a refusal")).await;

        // A hand-off: the waiter's join, and the release that grants it (and tells its
        // server in the same script).
        let before = scripts_run(&mut conn).await;
        let mut w = client_for(&server).await;
        let waiting = tokio::spawn(async move { acquire_with(&mut w, queued_req).await });
        wait_for_permit_queue(&redis, &name).await;
        assert!(release(&mut c, &name, &held.token).await);
        let granted = waiting.await.unwrap();
        assert!(granted.acquired, "{label}: the waiter got it");
        assert!(granted.fencing_token > held.fencing_token);
        assert_scripts(&mut conn, before, 2, &format!("{label}: a hand-off")).await;

        let before = scripts_run(&mut conn).await;
        assert!(release(&mut c, &name, &granted.token).await);
        assert_scripts(&mut conn, before, 1, &format!("{label}: a Release")).await;

        let before = scripts_run(&mut conn).await;
        assert!(!release(&mut c, &name, &granted.token).await);
        assert!(!extend(&mut c, &name, &granted.token, 30_000).await.extended);
        assert_scripts(
            &mut conn,
            before,
            2,
            &format!("{label}: a dead Release and Extend"),
        )
        .await;
    }
}

/// Kind number `kind` of three for `name`, as its label, a holder's request and a request
/// that this holder keeps out (try once when `wait_ms` is 0).
fn holder_and_waiter(
    kind: usize,
    name: &str,
    wait_ms: u64,
) -> (&'static str, AcquireLockRequest, AcquireLockRequest) {
    match kind {
        0 => (
            "semaphore",
            permits_req(name, 2, 2, 30_000, 0),
            permits_req(name, 2, 1, 30_000, wait_ms),
        ),
        1 => (
            "read-write, a reader then a writer",
            rw_req(name, LockMode::Shared, 30_000, 0),
            rw_req(name, LockMode::Exclusive, 30_000, wait_ms),
        ),
        _ => (
            "read-write, a writer then a reader",
            rw_req(name, LockMode::Exclusive, 30_000, 0),
            rw_req(name, LockMode::Shared, 30_000, wait_ms),
        ),
    }
}

/// Asserts that `scripts` scripts ran in Redis since it had run `before`.
async fn assert_scripts(
    conn: &mut redis::aio::MultiplexedConnection,
    before: u64,
    scripts: u64,
    what: &str,
) {
    assert_eq!(
        scripts_run(conn).await - before,
        scripts,
        "scripts run for {what}"
    );
}

/// Waits (at most 10 s) until someone queues on the semaphore or read-write lock `name`.
async fn wait_for_permit_queue(redis: &RedisServer, name: &str) {
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{{streamgate:lock:{name}}}:pqueue");
    eventually(Duration::from_secs(10), "a waiter queues", || {
        let (mut conn, key) = (conn.clone(), key.clone());
        async move {
            let n: u64 = redis::cmd("ZCARD")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if n > 0 { Ok(()) } else { Err(n) }
        }
    })
    .await;
}
