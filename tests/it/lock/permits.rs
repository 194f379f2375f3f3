//! Semaphores and read-write locks, as conformance cases: `conformance.rs` runs each on every
//! backend (in-process, Redis, Redis Cluster). Several cases reproduce a bug other lock
//! services shipped (named on the case) so that ours is shown not to have it.

use crate::common;

use std::time::{Duration, Instant};

use common::lock::*;
use streamgate_client::proto::hold_event::Event;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::{AcquireLockRequest, AcquireLockResponse, HoldRequest, LockMode};
use tonic::Code;
use tonic::transport::Channel;

/// Longest a notified waiter may take to hear of its grant here: far below the 20 s re-check
/// the test servers use, so only a notification explains a grant this soon.
const WOKEN_WITHIN: Duration = Duration::from_secs(3);

pub async fn a_semaphore_grants_up_to_its_limit_each_grant_with_a_rising_fence(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-limit");
    let mut last = 0;
    let mut grants = Vec::new();
    for i in 0..3 {
        let g = acquire_with(&mut c, permits_req(&name, 3, 1, 10_000, 0)).await;
        assert!(g.acquired, "permit {i} of 3");
        assert!(g.token.starts_with("p-"), "{}", g.token);
        assert!(
            g.fencing_token > last,
            "grant {i}: {} after {last}",
            g.fencing_token
        );
        last = g.fencing_token;
        grants.push(g);
    }
    let fourth = acquire_with(&mut c, permits_req(&name, 3, 1, 10_000, 0)).await;
    assert!(!fourth.acquired, "a fourth permit of three is not granted");
    assert!(release(&mut c, &name, &grants[1].token).await);
    assert!(
        !release(&mut c, &name, &grants[1].token).await,
        "released once"
    );
    let again = acquire_with(&mut c, permits_req(&name, 3, 1, 10_000, 0)).await;
    assert!(again.acquired, "the freed permit is granted again");
    assert!(again.fencing_token > last);
}

pub async fn another_kind_or_limit_is_failed_precondition_naming_both(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-kind");
    let g = acquire_with(&mut c, permits_req(&name, 5, 1, 10_000, 0)).await;
    assert!(g.acquired);
    let refused = [
        permits_req(&name, 3, 1, 10_000, 0),
        acquire_req(&name, 10_000, 0),
        rw_req(&name, LockMode::Shared, 10_000, 0),
    ];
    let asked = ["a semaphore with limit 3", "a mutex", "a read-write lock"];
    for (req, asked) in refused.into_iter().zip(asked) {
        let err = c.acquire_lock(req).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert!(
            err.message().contains("a semaphore with limit 5") && err.message().contains(asked),
            "{}",
            err.message()
        );
    }
    assert!(release(&mut c, &name, &g.token).await);
    // Idle again: the name may become anything.
    let mutex = acquire(&mut c, &name, 10_000, 0).await;
    assert!(mutex.acquired);
    assert!(
        mutex.fencing_token > g.fencing_token,
        "fences rise across kinds"
    );
    let err = c
        .acquire_lock(permits_req(&name, 2, 1, 10_000, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("is a mutex"), "{}", err.message());
    assert!(release(&mut c, &name, &mutex.token).await);
}

/// Redisson #6664: a waiter for several permits was woken for one and left asleep.
pub async fn a_multi_permit_waiter_is_granted_once_enough_permits_are_free(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-multi");
    let a = acquire_with(&mut c, permits_req(&name, 3, 1, 30_000, 0)).await;
    let b = acquire_with(&mut c, permits_req(&name, 3, 1, 30_000, 0)).await;
    assert!(a.acquired && b.acquired);
    let mut w = env.client().await;
    let w_name = name.clone();
    let big = tokio::spawn(async move {
        acquire_with(&mut w, permits_req(&w_name, 3, 3, 30_000, 20_000)).await
    });
    env.wait_for_permit_waiters(&name, 1).await;
    assert!(release(&mut c, &name, &a.token).await);
    // Two of three free: the big waiter still waits, and FIFO keeps a newcomer behind it.
    let newcomer = acquire_with(&mut c, permits_req(&name, 3, 1, 30_000, 0)).await;
    assert!(
        !newcomer.acquired,
        "a one-permit newcomer does not pass the queued waiter"
    );
    assert!(!big.is_finished());
    let freed = Instant::now();
    assert!(release(&mut c, &name, &b.token).await);
    let g = big.await.unwrap();
    assert!(g.acquired, "all three permits went to the waiter");
    assert!(freed.elapsed() < WOKEN_WITHIN, "{:?}", freed.elapsed());
    assert!(g.fencing_token > b.fencing_token);
}

/// Redisson #3730 (lost wake-ups): freeing k permits must wake every waiter they serve.
pub async fn freeing_k_permits_wakes_every_waiter_they_serve(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-wake");
    let all = acquire_with(&mut c, permits_req(&name, 4, 4, 30_000, 0)).await;
    assert!(all.acquired);
    let mut waiters = tokio::task::JoinSet::new();
    for i in 0..5 {
        let mut w = env.client().await;
        let w_name = name.clone();
        waiters.spawn(async move {
            acquire_with(&mut w, permits_req(&w_name, 4, 1, 30_000, 4_000)).await
        });
        env.wait_for_permit_waiters(&name, i + 1).await;
    }
    let freed = Instant::now();
    assert!(release(&mut c, &name, &all.token).await);
    let mut granted = Vec::new();
    while let Some(res) = waiters.join_next().await {
        let g = res.unwrap();
        if g.acquired {
            granted.push((freed.elapsed(), g.fencing_token));
        }
    }
    assert_eq!(granted.len(), 4, "four permits freed, four waiters served");
    for (after, _) in &granted {
        assert!(*after < WOKEN_WITHIN, "woken {after:?} after the release");
    }
    let mut fences: Vec<u64> = granted.iter().map(|(_, f)| *f).collect();
    fences.sort_unstable();
    fences.dedup();
    assert_eq!(fences.len(), 4, "one fence per grant");
    assert!(fences[0] > all.fencing_token);
}

pub async fn an_expired_grant_frees_exactly_its_own_permits(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-expiry");
    let short = acquire_with(&mut c, permits_req(&name, 2, 1, 150, 0)).await;
    let long = acquire_with(&mut c, permits_req(&name, 2, 1, 30_000, 0)).await;
    assert!(short.acquired && long.acquired);
    let next = acquire_with(
        &mut c,
        permits_req(&name, 2, 1, 30_000, WOKEN_WITHIN.as_millis() as u64),
    )
    .await;
    assert!(next.acquired, "the short grant's expiry freed its permit");
    assert!(
        !release(&mut c, &name, &short.token).await,
        "the expired token is dead"
    );
    let third = acquire_with(&mut c, permits_req(&name, 2, 1, 30_000, 0)).await;
    assert!(!third.acquired, "the long grant still holds its permit");
    assert!(release(&mut c, &name, &long.token).await);
    assert!(release(&mut c, &name, &next.token).await);
}

pub async fn readers_share_and_a_writer_is_alone(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("rw-share");
    let r1 = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    let r2 = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    assert!(r1.acquired && r2.acquired, "readers share");
    assert!(
        r2.fencing_token > r1.fencing_token,
        "each reader has its own fence"
    );
    let w = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, 30_000, 0)).await;
    assert!(!w.acquired, "no writer beside readers");
    assert!(release(&mut c, &name, &r1.token).await);
    assert!(release(&mut c, &name, &r2.token).await);
    let w = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, 30_000, 0)).await;
    assert!(w.acquired);
    assert!(
        w.fencing_token > r2.fencing_token,
        "a writer's fence is above every reader's"
    );
    let r = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    assert!(!r.acquired, "no reader beside a writer");
    assert!(release(&mut c, &name, &w.token).await);
}

pub async fn a_waiting_writer_stops_new_readers_and_its_end_admits_every_queued_reader(
    env: &LockEnv,
) {
    let mut c = env.client().await;
    let name = unique("rw-phase");
    let r1 = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    assert!(r1.acquired);
    let w1 = spawn_rw(env.client().await, &name, LockMode::Exclusive);
    env.wait_for_permit_waiters(&name, 1).await;
    let late = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    assert!(!late.acquired, "a waiting writer stops new readers");
    let r2 = spawn_rw(env.client().await, &name, LockMode::Shared);
    env.wait_for_permit_waiters(&name, 2).await;
    let w2 = spawn_rw(env.client().await, &name, LockMode::Exclusive);
    env.wait_for_permit_waiters(&name, 3).await;
    let r3 = spawn_rw(env.client().await, &name, LockMode::Shared);
    env.wait_for_permit_waiters(&name, 4).await;
    assert!(release(&mut c, &name, &r1.token).await);
    let w1 = w1.await.unwrap();
    assert!(w1.acquired && w1.fencing_token > r1.fencing_token);
    let ended = Instant::now();
    assert!(release(&mut c, &name, &w1.token).await);
    // Phase-fair: both queued readers, r3 too although w2 queued before it.
    let (r2, r3) = (r2.await.unwrap(), r3.await.unwrap());
    assert!(r2.acquired && r3.acquired);
    assert!(ended.elapsed() < WOKEN_WITHIN, "{:?}", ended.elapsed());
    assert!(!w2.is_finished(), "w2 waits for the read phase");
    assert!(release(&mut c, &name, &r2.token).await);
    assert!(release(&mut c, &name, &r3.token).await);
    let w2 = w2.await.unwrap();
    assert!(w2.acquired);
    assert!(w2.fencing_token > r2.fencing_token.max(r3.fencing_token));
    assert!(release(&mut c, &name, &w2.token).await);
}

/// Starts a queued AcquireLock for one side of read-write lock `name` on `client`.
fn spawn_rw(
    mut client: LockServiceClient<Channel>,
    name: &str,
    mode: LockMode,
) -> tokio::task::JoinHandle<AcquireLockResponse> {
    let name = name.to_owned();
    tokio::spawn(
        async move { acquire_with(&mut client, rw_req(&name, mode, 30_000, 20_000)).await },
    )
}

/// Curator CURATOR-315, -462, -595: permits leaked by interrupted or cancelled acquires.
pub async fn cancelled_and_timed_out_permit_waiters_leak_nothing(env: &LockEnv) {
    let mut c = env.client().await;
    let name = unique("sem-cancel");
    let held = acquire_with(&mut c, permits_req(&name, 2, 2, 30_000, 0)).await;
    assert!(held.acquired);
    let mut cancelled = Vec::new();
    for i in 0..3 {
        let mut w = env.client().await;
        let w_name = name.clone();
        cancelled.push(tokio::spawn(async move {
            acquire_with(&mut w, permits_req(&w_name, 2, 1, 30_000, 20_000)).await
        }));
        env.wait_for_permit_waiters(&name, i + 1).await;
    }
    let timed_out = acquire_with(&mut c, permits_req(&name, 2, 1, 30_000, 150)).await;
    assert!(!timed_out.acquired);
    for task in &cancelled {
        task.abort();
    }
    for task in cancelled {
        let _ = task.await;
    }
    env.wait_for_empty_permit_queue(&name).await;
    assert!(release(&mut c, &name, &held.token).await);
    // Both permits are free for a two-permit request: none went to a departed waiter (whose
    // 30 s lease would outlast this 3 s wait).
    let all = acquire_with(&mut c, permits_req(&name, 2, 2, 30_000, 3_000)).await;
    assert!(
        all.acquired,
        "no permit leaked to a cancelled or timed-out waiter"
    );
}

/// Redisson #1604 and #7098: a read lock not renewed for a live holder, or renewed for a
/// dead one. Hold renews its own read grant, and its disconnect ends exactly that grant.
pub async fn a_held_read_share_is_renewed_while_open_and_released_on_disconnect(env: &LockEnv) {
    let name = unique("rw-hold");
    let holder_client = env.client().await;
    let mut hc = holder_client.clone();
    let mut events = hc
        .hold(HoldRequest {
            mode: LockMode::Shared.into(),
            ..hold_req(&name, 150, 0)
        })
        .await
        .unwrap()
        .into_inner();
    let Some(Event::Acquired(g)) = events.message().await.unwrap().and_then(|e| e.event) else {
        panic!("the first event is acquired");
    };
    assert!(g.acquired && g.token.starts_with("p-"));
    let mut c = env.client().await;
    let other_reader = acquire_with(&mut c, rw_req(&name, LockMode::Shared, 30_000, 0)).await;
    assert!(other_reader.acquired, "readers share with a held read");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(release(&mut c, &name, &other_reader.token).await);
    let w = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, 30_000, 0)).await;
    assert!(
        !w.acquired,
        "the held read share was renewed past four leases"
    );
    let dropped = Instant::now();
    drop(events);
    drop(hc);
    drop(holder_client);
    let w = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, 30_000, 3_000)).await;
    assert!(w.acquired, "the dead holder's share was not renewed");
    assert!(dropped.elapsed() < WOKEN_WITHIN, "{:?}", dropped.elapsed());
}

pub async fn bad_kind_fields_are_invalid_argument_naming_the_field(env: &LockEnv) {
    let mut c = env.client().await;
    let cases = [
        (permits_req("ok", 2, 3, 1_000, 0), "permits"),
        (permits_req("ok", 0, 2, 1_000, 0), "permits"),
        (permits_req("ok", 2_000_000, 1, 1_000, 0), "limit"),
        (
            AcquireLockRequest {
                limit: 4,
                ..rw_req("ok", LockMode::Shared, 1_000, 0)
            },
            "limit",
        ),
        (
            AcquireLockRequest {
                mode: 9,
                ..acquire_req("ok", 1_000, 0)
            },
            "mode",
        ),
    ];
    for (req, field) in cases {
        let err = c.acquire_lock(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    let err = c
        .hold(HoldRequest {
            limit: 2,
            permits: 5,
            ..hold_req("ok", 1_000, 0)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("permits"), "{}", err.message());
    // The server keeps serving.
    assert!(
        acquire(&mut c, &unique("after-bad"), 1_000, 0)
            .await
            .acquired
    );
}
