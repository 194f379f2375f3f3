//! The Redis backend behind Sentinel (`redis+sentinel://H:P,H:P/MASTER`): locks work on the
//! primary the sentinels name, and across a `SENTINEL FAILOVER` in the middle of a run calls
//! answer UNAVAILABLE at worst, for a bounded time, then succeed on the new primary with
//! fences still rising.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::lock::*;
use common::redis_topology::{MASTER, RedisSentinels};
use common::{TestServer, until};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_are_granted_handed_over_and_fenced_on_the_primary_the_sentinels_name() {
    let set = RedisSentinels::start();
    let args = ["--redis-url", &set.url(), "--lock-recheck", "20s"];
    let a = TestServer::start_with_args(&args).await;
    let b = TestServer::start_with_args(&args).await;
    let name = unique("sentinel");
    let mut ca = client_for(&a).await;
    let held = acquire(&mut ca, &name, 30_000, 0).await;
    assert!(held.acquired);
    let mut cb = client_for(&b).await;
    assert!(!acquire(&mut cb, &name, 5_000, 0).await.acquired);

    let n = name.clone();
    let waiter = tokio::spawn(async move {
        let g = acquire(&mut cb, &n, 5_000, 10_000).await;
        (g, Instant::now())
    });
    let mut primary = set.primary.conn();
    let key = format!("{{streamgate:lock:{name}}}:queue");
    until(Duration::from_secs(10), "the waiter queues", || {
        let queued: u64 = redis::cmd("ZCARD").arg(&key).query(&mut primary).unwrap();
        queued >= 1
    })
    .await;
    let released_at = Instant::now();
    assert!(release(&mut ca, &name, &held.token).await);
    let (g, granted_at) = waiter.await.unwrap();
    assert!(g.acquired);
    assert!(g.fencing_token > held.fencing_token);
    // The re-check is 20 s: this is the announcement through the primary.
    assert!(granted_at - released_at < Duration::from_secs(1));
    // The lock lives on the primary, and replicates to the replica.
    let owner = format!("{{streamgate:lock:{name}}}:owner");
    let on_primary: bool = redis::cmd("EXISTS")
        .arg(&owner)
        .query(&mut primary)
        .unwrap();
    assert!(on_primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_master_name_is_unavailable_naming_it() {
    let set = RedisSentinels::start();
    let url = set.url().replace(&format!("/{MASTER}"), "/no-such-master");
    let server = TestServer::start_with_args(&["--redis-url", &url]).await;
    let mut c = client_for(&server).await;
    let err = c
        .acquire_lock(acquire_req("x", 5_000, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("no-such-master"),
        "{}",
        err.message()
    );
}

/// Longest time a call may take: the server's Redis timeout (2 s) plus slack. No call may
/// hang past it, failover or not.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_mid_run_gives_bounded_unavailability_and_fences_keep_rising() {
    let set = RedisSentinels::start();
    let args = ["--redis-url", &set.url()];
    let a = TestServer::start_with_args(&args).await;
    let b = TestServer::start_with_args(&args).await;
    let name = unique("failover");
    let old_primary = set.primary_port();

    // Fences granted before the failover was asked for, and the highest of them.
    let before_max = Arc::new(AtomicU64::new(0));
    let failing_over = Arc::new(AtomicBool::new(false));
    let failed_over = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicU32::new(0));
    let grants_after = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let mut c = client_for(if w % 2 == 0 { &a } else { &b }).await;
        let (name, before_max, failing_over, failed_over, unavailable, grants_after) = (
            name.clone(),
            before_max.clone(),
            failing_over.clone(),
            failed_over.clone(),
            unavailable.clone(),
            grants_after.clone(),
        );
        workers.spawn(async move {
            let mut last_fence = 0;
            let mut outage_began: Option<Instant> = None;
            let mut longest_outage = Duration::ZERO;
            // Bounded: stop after 30 grants following the failover, or 60 s in all.
            let stop = Instant::now() + Duration::from_secs(60);
            while Instant::now() < stop && grants_after.load(Ordering::Relaxed) < 30 {
                let asked_after_failover = failed_over.load(Ordering::Relaxed);
                let call = c.acquire_lock(acquire_req(&name, 2_000, 3_000));
                let res = tokio::time::timeout(CALL_DEADLINE, call)
                    .await
                    .unwrap_or_else(|_| panic!("worker {w}: a call hung past {CALL_DEADLINE:?}"));
                match res {
                    Ok(r) => {
                        let g = r.into_inner();
                        if let Some(began) = outage_began.take() {
                            longest_outage = longest_outage.max(began.elapsed());
                        }
                        if !g.acquired {
                            continue;
                        }
                        assert!(
                            g.fencing_token > last_fence,
                            "worker {w}: fence {} after {last_fence}",
                            g.fencing_token
                        );
                        last_fence = g.fencing_token;
                        if !failing_over.load(Ordering::Relaxed) {
                            before_max.fetch_max(g.fencing_token, Ordering::Relaxed);
                        }
                        if asked_after_failover {
                            let before = before_max.load(Ordering::Relaxed);
                            assert!(
                                g.fencing_token > before,
                                "worker {w}: fence {} after the failover, {before} before it",
                                g.fencing_token
                            );
                            grants_after.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        // A release may fail mid-failover; the lease then ends it.
                        let _ = c
                            .release(streamgate_client::proto::ReleaseRequest {
                                name: name.clone(),
                                token: g.token,
                            })
                            .await;
                    }
                    Err(e) => {
                        assert_eq!(e.code(), Code::Unavailable, "worker {w}: {e:?}");
                        unavailable.fetch_add(1, Ordering::Relaxed);
                        outage_began.get_or_insert_with(Instant::now);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            longest_outage
        });
    }

    // Let the run get going, then fail over.
    until(
        Duration::from_secs(10),
        "a grant before the failover",
        || before_max.load(Ordering::Relaxed) > 0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    failing_over.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::task::block_in_place(|| set.failover());
    failed_over.store(true, Ordering::Relaxed);
    eprintln!(
        "sentinels named the new primary after {:?}",
        started.elapsed()
    );
    assert_ne!(set.primary_port(), old_primary);
    assert_eq!(
        set.primary_port(),
        set.replica.port,
        "the replica was promoted"
    );

    let mut longest = Duration::ZERO;
    while let Some(res) = workers.join_next().await {
        longest = longest.max(res.unwrap());
    }
    assert!(
        grants_after.load(Ordering::Relaxed) >= 30,
        "locks were granted on the new primary"
    );
    eprintln!(
        "UNAVAILABLE answers during the failover: {}, longest outage seen by a worker: {longest:?}",
        unavailable.load(Ordering::Relaxed)
    );
    assert!(
        longest < Duration::from_secs(15),
        "UNAVAILABLE lasted {longest:?} for one worker"
    );
    // The grants now live on the promoted replica.
    let mut c = client_for(&a).await;
    let g = acquire(&mut c, &name, 30_000, 5_000).await;
    assert!(g.acquired);
    let owner = format!("{{streamgate:lock:{name}}}:owner");
    let token: Option<String> = redis::cmd("HGET")
        .arg(&owner)
        .arg("token")
        .query(&mut set.replica.conn())
        .unwrap();
    assert_eq!(
        token.as_deref(),
        Some(g.token.as_str()),
        "held on the new primary"
    );
}

/// What a call that starts when the primary dies may take: the sentinels' 1 s down-after,
/// their election and the promotion, then the retry that dials the new primary.
const RIDE_OUT_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_as_the_primary_dies_rides_out_the_failover_within_its_deadline() {
    let mut set = RedisSentinels::start();
    // More retries than the default 3 × 1.5 s: a loaded test machine may take longer than a
    // production set to elect and promote; what is tested is that the call retries through.
    let args = [
        "--redis-url",
        &set.url(),
        "--redis-retries",
        "20",
        "--redis-retry-interval",
        "1s",
    ];
    let a = TestServer::start_with_args(&args).await;
    // b makes calls before the failover and none during it.
    let b = TestServer::start_with_args(&args).await;
    let name = unique("ride-out");
    let mut ca = client_for(&a).await;
    let mut cb = client_for(&b).await;
    let before = acquire(&mut cb, &name, 1_000, 0).await;
    assert!(before.acquired);
    assert!(release(&mut cb, &name, &before.token).await);
    // Everything written so far is on the replica before the primary dies.
    let synced: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5_000)
        .query(&mut set.primary.conn())
        .expect("WAIT");
    assert_eq!(synced, 1, "the replica acknowledged the writes");

    set.primary.kill();
    let started = Instant::now();
    let mut call = tonic::Request::new(acquire_req(&name, 5_000, 0));
    call.set_timeout(RIDE_OUT_DEADLINE);
    let during = tokio::time::timeout(RIDE_OUT_DEADLINE, ca.acquire_lock(call))
        .await
        .expect("the call ends by its deadline")
        .unwrap_or_else(|e| {
            panic!(
                "the call made as the primary died failed after {:?}: {e:?}",
                started.elapsed()
            )
        })
        .into_inner();
    eprintln!(
        "a call made as the primary died answered after {:?}",
        started.elapsed()
    );
    assert!(during.acquired);
    assert!(during.fencing_token > before.fencing_token);
    assert!(release(&mut ca, &name, &during.token).await);

    // The sentinels name the replica now; b, idle throughout, is served at its first call.
    let deadline = Instant::now() + Duration::from_secs(30);
    while set.primary_port() != set.replica.port {
        assert!(
            Instant::now() < deadline,
            "the sentinels never named the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut first = tonic::Request::new(acquire_req(&name, 5_000, 0));
    first.set_timeout(RIDE_OUT_DEADLINE);
    let after = cb
        .acquire_lock(first)
        .await
        .expect("the idle server's first call after the failover")
        .into_inner();
    assert!(after.acquired);
    assert!(after.fencing_token > during.fencing_token);
}
