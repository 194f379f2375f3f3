//! The Redis backend beyond the conformance suite: two servers sharing one Redis, and what
//! happens when Redis dies, comes back, or is absent at start-up.

use crate::common;

use std::time::{Duration, Instant};

use common::lock::*;
use common::{RedisServer, TestServer, free_port};
use common::{eventually, wait_for_health};
use streamgate_client::proto::hold_event::Event;
use tonic::Code;
use tonic_health::ServingStatus;

const INCREMENTS_PER_WORKER: u64 = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_redis_keep_a_shared_counter_exact_with_rising_fences() {
    let redis = RedisServer::start();
    let a = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let b = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let name = unique("counter");
    let counter_key = format!("test:{name}");
    let client = redis::Client::open(redis.url()).unwrap();

    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let server = if w % 2 == 0 { &a } else { &b };
        let mut c = client_for(server).await;
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let (name, key) = (name.clone(), counter_key.clone());
        workers.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..INCREMENTS_PER_WORKER {
                let g = acquire(&mut c, &name, 5_000, 20_000).await;
                assert!(g.acquired, "worker {w} got the lock");
                // Read-modify-write with a gap: any overlap between holders loses an update.
                let v: Option<u64> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let v = v.unwrap_or(0);
                tokio::task::yield_now().await;
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(v + 1)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                seen.push((v, g.fencing_token));
                assert!(
                    release(&mut c, &name, &g.token).await,
                    "worker {w} still held it"
                );
            }
            seen
        });
    }
    let mut grants = Vec::new();
    while let Some(res) = workers.join_next().await {
        grants.extend(res.unwrap());
    }
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let total: u64 = redis::cmd("GET")
        .arg(&counter_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(total, 8 * INCREMENTS_PER_WORKER, "no increment was lost");
    // In lock order (the counter value each holder read), fences strictly increase.
    grants.sort_by_key(|(v, _)| *v);
    let values: Vec<u64> = grants.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, (0..8 * INCREMENTS_PER_WORKER).collect::<Vec<_>>());
    assert!(
        grants.windows(2).all(|w| w[0].1 < w[1].1),
        "fences rise: {grants:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_gives_unavailable_and_a_restarted_one_serves_again() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    // Without retries, each call is bounded by --redis-timeout alone (retries through an
    // outage: lock/sentinel.rs, lock/cluster.rs).
    let server =
        TestServer::start_with_args(&["--redis-url", &redis.url(), "--redis-retries", "0"]).await;
    let mut c = client_for(&server).await;
    let name = unique("fault");
    assert!(acquire(&mut c, &name, 5_000, 0).await.acquired);

    // A waiter queued when Redis dies must not hang for its whole wait.
    let mut w = client_for(&server).await;
    let wname = name.clone();
    let waiter =
        tokio::spawn(async move { w.acquire_lock(acquire_req(&wname, 5_000, 30_000)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;

    redis.kill();
    let started = Instant::now();
    let err = waiter.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for _ in 0..3 {
        let t = Instant::now();
        let err = c
            .acquire_lock(acquire_req(&unique("down"), 5_000, 0))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "bounded by --redis-timeout"
        );
    }

    let _redis = RedisServer::start_on(port);
    let (g, unavailable_after_restart) =
        through_unavailable(Duration::from_secs(10), "the service recovers", || {
            let (mut c, req) = (c.clone(), acquire_req(&unique("back"), 5_000, 0));
            async move { c.acquire_lock(req).await }
        })
        .await;
    assert!(g.acquired);
    eprintln!("UNAVAILABLE answers after the restart before recovery: {unavailable_after_restart}");
    server
        .stop()
        .await
        .expect("the server stops cleanly after the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_whose_redis_vanished_past_its_lease_reports_lost() {
    let mut redis = RedisServer::start();
    let server = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let mut c = client_for(&server).await;
    let mut events = c
        .hold(hold_req(&unique("hold-lost"), 300, 0))
        .await
        .unwrap()
        .into_inner();
    let first = events.message().await.unwrap().and_then(|e| e.event);
    assert!(matches!(first, Some(Event::Acquired(ref g)) if g.acquired));
    redis.kill();
    let started = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .expect("lost is reported within the lease plus a little")
        .unwrap()
        .and_then(|e| e.event);
    let Some(Event::Lost(lost)) = next else {
        panic!("expected lost, got {next:?}");
    };
    assert!(lost.reason.contains("renew"), "{}", lost.reason);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "not before the lease ran out"
    );
    assert!(
        events.message().await.unwrap().is_none(),
        "the stream ends after lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_while_redis_is_down_serves_locks_once_it_is_up() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let server = TestServer::start_with_args(&["--redis-url", &url]).await;
    let mut c = client_for(&server).await;
    let err = c
        .acquire_lock(acquire_req("early", 5_000, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let _redis = RedisServer::start_on(port);
    let (g, _) = through_unavailable(Duration::from_secs(10), "the service recovers", || {
        let (mut c, req) = (c.clone(), acquire_req("early", 5_000, 0));
        async move { c.acquire_lock(req).await }
    })
    .await;
    assert!(g.acquired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_ends_with_unavailable_when_its_server_stops_and_the_lock_is_released() {
    let redis = RedisServer::start();
    let stopping = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let other = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let name = unique("hold-shutdown");
    let mut c = client_for(&stopping).await;
    let mut events = c
        .hold(hold_req(&name, 30_000, 0))
        .await
        .unwrap()
        .into_inner();
    let first = events.message().await.unwrap().and_then(|e| e.event);
    assert!(matches!(first, Some(Event::Acquired(ref g)) if g.acquired));
    let mut o = client_for(&other).await;
    let waiter = tokio::spawn(async move { acquire(&mut o, &name, 5_000, 10_000).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::spawn(stopping.stop());
    let end = events.message().await.unwrap_err();
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    // The 30 s lease would outlast the waiter's 10 s wait: only a release explains a grant.
    assert!(waiter.await.unwrap().acquired);
    stopped.await.unwrap().unwrap();
}

/// Lua scripts Redis has run so far (EVALSHA, plus EVAL for a first load).
pub(super) async fn scripts_run(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_costs_two_scripts_whether_the_waiter_is_on_the_releasing_server_or_another() {
    let redis = RedisServer::start();
    // Re-checks far apart, so that every script counted below is one the hand-off needs.
    let args = ["--redis-url", &redis.url(), "--lock-recheck", "30s"];
    let a = TestServer::start_with_args(&args).await;
    let b = TestServer::start_with_args(&args).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut holder = client_for(&a).await;
    // Redis loads each script on its first EVALSHA (a NOSCRIPT round that counts as a call).
    let warm = unique("warm-up");
    let g = acquire(&mut holder, &warm, 10_000, 0).await;
    assert!(release(&mut holder, &warm, &g.token).await);

    for (label, waiter_server) in [("same server", &a), ("other server", &b)] {
        let name = unique("handoff-cost");
        let held = acquire(&mut holder, &name, 10_000, 0).await;
        assert!(held.acquired);
        let before = scripts_run(&mut conn).await;

        let mut w = client_for(waiter_server).await;
        let n = name.clone();
        let waiting = tokio::spawn(async move { acquire(&mut w, &n, 10_000, 5_000).await });
        wait_for_queued(&redis, &name, 1).await;
        assert!(release(&mut holder, &name, &held.token).await);
        let granted = waiting.await.unwrap();
        assert!(granted.acquired, "{label}: the waiter got the lock");
        assert!(granted.fencing_token > held.fencing_token);

        // The waiter's join and the release: the grant travels with the hand-off, so the
        // waiter's server does not run the acquire script again to learn it.
        let scripts = scripts_run(&mut conn).await - before;
        assert_eq!(scripts, 2, "{label}: scripts run for one hand-off");
        assert!(release(&mut holder, &name, &granted.token).await);
    }
}

type Health = tonic_health::pb::health_client::HealthClient<tonic::transport::Channel>;

const LOCK: &str = "streamgate.v1.LockService";

/// The health status `server` reports for `service`.
async fn status(health: &mut Health, service: &str) -> i32 {
    let req = tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    };
    health.check(req).await.unwrap().into_inner().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_service_health_is_not_serving_while_redis_is_down_and_serving_again_after() {
    const SERVING: i32 = 1;
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let server = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let mut health = Health::new(server.channel().await);
    assert_eq!(
        status(&mut health, "streamgate.v1.LockService").await,
        SERVING
    );

    redis.kill();
    wait_for_health(
        &server,
        LOCK,
        ServingStatus::NotServing,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        status(&mut health, "streamgate.v1.FetchService").await,
        SERVING,
        "FetchService does not depend on Redis"
    );

    let _redis = RedisServer::start_on(port);
    wait_for_health(
        &server,
        LOCK,
        ServingStatus::Serving,
        Duration::from_secs(10),
    )
    .await;
    let mut c = client_for(&server).await;
    let g = acquire(&mut c, &unique("after-outage"), 5_000, 0).await;
    assert!(g.acquired, "a SERVING LockService grants locks");
    server.stop().await.expect("the server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_head_learns_the_new_lease_from_the_hand_off_and_takes_over_when_it_expires() {
    let redis = RedisServer::start();
    let server =
        TestServer::start_with_args(&["--redis-url", &redis.url(), "--lock-recheck", "30s"]).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut c = client_for(&server).await;
    let warm = unique("warm-up");
    let g = acquire(&mut c, &warm, 10_000, 0).await;
    assert!(release(&mut c, &warm, &g.token).await);

    let name = unique("next-head");
    let held = acquire(&mut c, &name, 10_000, 0).await;
    // The first waiter will get a short lease; the second queues behind it.
    let mut waiters = Vec::new();
    for ttl in [400u64, 10_000] {
        let mut w = client_for(&server).await;
        let n = name.clone();
        waiters.push(tokio::spawn(async move {
            let g = acquire(&mut w, &n, ttl, 8_000).await;
            (g, Instant::now())
        }));
        wait_for_queued(&redis, &name, waiters.len()).await;
    }
    let before = scripts_run(&mut conn).await;
    assert!(release(&mut c, &name, &held.token).await);
    let second = waiters.pop().unwrap();
    let (first, first_at) = waiters.pop().unwrap().await.unwrap();
    assert!(first.acquired);
    // The release handed the lock on and told the new head the lease it waits behind: one
    // script, no re-check by either waiter.
    assert_eq!(scripts_run(&mut conn).await - before, 1);

    // The first waiter never releases; the second takes over when that 400 ms lease ends.
    let (second, second_at) = second.await.unwrap();
    assert!(second.acquired, "the second waiter got the lock on expiry");
    assert!(second.fencing_token > first.fencing_token);
    let waited = second_at - first_at;
    // The lease began a little before the first waiter heard of it; 100 ms covers that.
    assert!(
        waited >= Duration::from_millis(300),
        "not before the lease ended: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "well before the 30 s re-check: {waited:?}"
    );
}

/// Keys in `redis` (DBSIZE).
pub(super) async fn keys_in(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    redis::cmd("DBSIZE").query_async(conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_come_and_go_leave_no_keys_and_their_fences_keep_rising() {
    let redis = RedisServer::start();
    // Short waiter leases (2 x 200 ms + 500 ms), so queue state lapses within seconds.
    let server =
        TestServer::start_with_args(&with_url(&redis.url(), &SHORT_LEASE_REDIS_ARGS)).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut c = client_for(&server).await;

    // 200 random names, each granted, released or left to expire, some queued on.
    let mut last_fence = std::collections::HashMap::new();
    for i in 0..200 {
        let name = format!("{}-{i}", unique("transient"));
        let g = acquire(&mut c, &name, 100, 0).await;
        assert!(g.acquired);
        if i % 2 == 0 {
            assert!(release(&mut c, &name, &g.token).await);
        }
        if i % 10 == 0 {
            // A waiter that times out leaves a queue entry behind for its lease.
            let mut w = client_for(&server).await;
            let waited = acquire(&mut w, &name, 100, 20).await;
            if waited.acquired {
                assert!(release(&mut w, &name, &waited.token).await);
            }
        }
        last_fence.insert(name, g.fencing_token);
    }
    assert!(keys_in(&mut conn).await > 0, "the live leases hold keys");

    // Every lease (100 ms) and queue entry (twice the 900 ms waiter lease) ends in seconds.
    let what = "every key expires after every lease ended";
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

    // The names come back: fences still rise, with no per-name state kept meanwhile.
    for (name, fence) in &last_fence {
        let g = acquire(&mut c, name, 5_000, 0).await;
        assert!(g.acquired);
        assert!(
            g.fencing_token > *fence,
            "{name}: {} after {fence}",
            g.fencing_token
        );
        assert!(release(&mut c, name, &g.token).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fences_keep_rising_across_a_redis_restart_that_lost_every_key() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let server = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let mut c = client_for(&server).await;
    let name = unique("restart-fence");
    let mut last = 0;
    for _ in 0..5 {
        let g = acquire(&mut c, &name, 5_000, 0).await;
        assert!(g.fencing_token > last);
        last = g.fencing_token;
        assert!(release(&mut c, &name, &g.token).await);
    }
    redis.kill();
    let _redis = RedisServer::start_on(port);
    let (g, _) = through_unavailable(Duration::from_secs(10), "the service recovers", || {
        let (mut c, req) = (c.clone(), acquire_req(&name, 5_000, 0));
        async move { c.acquire_lock(req).await }
    })
    .await;
    assert!(g.acquired);
    assert!(
        g.fencing_token > last,
        "{} after {last} across a restart",
        g.fencing_token
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_resent_after_its_answer_was_lost_still_reports_released() {
    let redis = RedisServer::start();
    let server = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let mut c = client_for(&server).await;
    let name = unique("resent");
    let g = acquire(&mut c, &name, 30_000, 0).await;
    assert!(g.acquired);

    // The release script as the backend assembles it, run the way the cluster client re-sends
    // a command whose answer it lost: twice, with the same attempt id.
    let script = redis::Script::new(&format!(
        "local PUBLISH_CMD = 'PUBLISH'\n{}\n{}",
        include_str!("../../../src/lock/scripts/prelude.lua"),
        include_str!("../../../src/lock/scripts/release.lua")
    ));
    let tag = format!("{{streamgate:lock:{name}}}");
    let run = |attempt: &'static str| {
        let mut inv = script.prepare_invoke();
        for k in ["owner", "fence", "queue", "waiters", "releases"] {
            inv.key(format!("{tag}:{k}"));
        }
        inv.arg(format!("{tag}:wake"))
            .arg(&g.token)
            .arg(attempt)
            .arg(5_000);
        inv
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let first: Vec<i64> = run("attempt-1").invoke_async(&mut conn).await.unwrap();
    assert_eq!(first, vec![1], "the first run releases");
    let resent: Vec<i64> = run("attempt-1").invoke_async(&mut conn).await.unwrap();
    assert_eq!(
        resent,
        vec![1],
        "the re-sent copy answers as the first run did"
    );
    // Other holders take and release the lock before a late retry of the first call (its
    // answer lost to a timeout): the retry still hears what its first run did.
    for _ in 0..3 {
        let other = acquire(&mut c, &name, 30_000, 0).await;
        assert!(other.acquired);
        assert!(release(&mut c, &name, &other.token).await);
    }
    let late: Vec<i64> = run("attempt-1").invoke_async(&mut conn).await.unwrap();
    assert_eq!(
        late,
        vec![1],
        "a retry after other releases answers as the first run did"
    );
    let other: Vec<i64> = run("attempt-2").invoke_async(&mut conn).await.unwrap();
    assert_eq!(
        other,
        vec![0],
        "another release of the same token is not held"
    );
    assert!(
        !release(&mut c, &name, &g.token).await,
        "a second Release call hears false"
    );
}
