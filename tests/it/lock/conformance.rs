//! One conformance suite for LockService, run against every backend: the in-process one,
//! Redis (a real redis-server per test), Redis Cluster (three real masters) and Redis behind
//! Sentinel (a primary, a replica, three sentinels). Every case is a plain async fn over a
//! `LockEnv`; the macro at the bottom instantiates each for the in-process and single-Redis
//! backends, and one test each runs them all on one cluster and on one Sentinel set.

use crate::common;

use std::time::{Duration, Instant, SystemTime};

use common::lock::*;
use streamgate_client::proto::hold_event::Event;
use streamgate_client::proto::{AcquireLockRequest, ExtendRequest, HoldRequest, ReleaseRequest};
use tonic::Code;

mod cases {
    use super::*;

    // Semaphores and read-write locks: the same suite, cases in their own file.
    pub use crate::lock::permits::*;
    pub use crate::lock::permits_lease::*;

    pub async fn a_free_lock_is_granted_and_a_held_one_denied(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("grant");
        let first = acquire(&mut c, &name, 5_000, 0).await;
        assert!(first.acquired);
        assert_eq!(first.token.len(), 36, "the token is a UUID");
        assert!(first.fencing_token > 0);
        assert!(expires_at(&first) > SystemTime::now());
        let second = acquire(&mut c, &name, 5_000, 0).await;
        assert!(!second.acquired, "a held lock is not granted twice");
        assert!(second.token.is_empty());
        let other = acquire(&mut c, &unique("grant-other"), 5_000, 0).await;
        assert!(other.acquired, "another name is independent");
    }

    pub async fn only_the_token_holder_can_release(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("owner");
        let grant = acquire(&mut c, &name, 5_000, 0).await;
        let stranger = uuid::Uuid::new_v4().to_string();
        assert!(!release(&mut c, &name, &stranger).await);
        assert!(
            !acquire(&mut c, &name, 5_000, 0).await.acquired,
            "still held"
        );
        assert!(release(&mut c, &name, &grant.token).await);
        assert!(acquire(&mut c, &name, 5_000, 0).await.acquired);
    }

    pub async fn a_second_release_returns_false(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("double");
        let grant = acquire(&mut c, &name, 5_000, 0).await;
        assert!(release(&mut c, &name, &grant.token).await);
        assert!(!release(&mut c, &name, &grant.token).await);
        assert!(!release(&mut c, &unique("never"), &grant.token).await);
    }

    pub async fn an_expired_lease_frees_the_lock(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("expiry");
        let grant = acquire(&mut c, &name, 50, 0).await;
        assert!(grant.acquired);
        tokio::time::sleep(Duration::from_millis(120)).await;
        let next = acquire(&mut c, &name, 5_000, 0).await;
        assert!(next.acquired, "the lease ended");
        assert!(
            !release(&mut c, &name, &grant.token).await,
            "the old token is dead"
        );
    }

    pub async fn extend_renews_only_the_holders_lease(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("extend");
        let grant = acquire(&mut c, &name, 150, 0).await;
        let extended = c
            .extend(ExtendRequest {
                name: name.clone(),
                token: grant.token.clone(),
                ttl: Some(ms(5_000)),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(extended.extended);
        let new_end = SystemTime::try_from(extended.expires_at.unwrap()).unwrap();
        assert!(new_end > expires_at(&grant) + Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            !acquire(&mut c, &name, 5_000, 0).await.acquired,
            "extended past the first lease"
        );
        let stranger = c
            .extend(ExtendRequest {
                name: name.clone(),
                token: uuid::Uuid::new_v4().to_string(),
                ttl: Some(ms(5_000)),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!stranger.extended);
        assert!(stranger.expires_at.is_none());
        assert!(release(&mut c, &name, &grant.token).await);
    }

    pub async fn fencing_tokens_strictly_increase(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("fence");
        let mut last = 0;
        for i in 0..10 {
            let g = acquire(&mut c, &name, 5_000, 0).await;
            assert!(
                g.fencing_token > last,
                "grant {i}: {} after {last}",
                g.fencing_token
            );
            last = g.fencing_token;
            if i % 2 == 0 {
                assert!(release(&mut c, &name, &g.token).await);
            } else {
                // Let the other half expire: expiry must not reset the counter either.
                c.extend(ExtendRequest {
                    name: name.clone(),
                    token: g.token.clone(),
                    ttl: Some(ms(10)),
                })
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    }

    pub async fn twenty_waiters_are_granted_in_arrival_order(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("fifo");
        let holder = acquire(&mut c, &name, 10_000, 0).await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(32);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20u32 {
            let mut c = env.client().await;
            let (task_name, tx) = (name.clone(), tx.clone());
            tasks.spawn(async move {
                let g = acquire(&mut c, &task_name, 10_000, 20_000).await;
                assert!(g.acquired, "waiter {i} got the lock");
                tx.send((i, g.fencing_token)).await.unwrap();
                assert!(release(&mut c, &task_name, &g.token).await);
            });
            // Arrival order is what FIFO promises: let each arrive before the next starts.
            env.wait_for_waiters(&name, i as usize + 1).await;
        }
        drop(tx);
        assert!(release(&mut c, &name, &holder.token).await);
        let mut order = Vec::new();
        while let Some((i, fence)) = rx.recv().await {
            order.push((i, fence));
        }
        while let Some(res) = tasks.join_next().await {
            res.unwrap();
        }
        let indices: Vec<u32> = order.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, (0..20).collect::<Vec<_>>());
        assert!(
            order.windows(2).all(|w| w[0].1 < w[1].1),
            "fences rise with the hand-offs"
        );
    }

    pub async fn a_waiter_is_woken_within_ms_of_release(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("wake-release");
        let holder = acquire(&mut c, &name, 30_000, 0).await;
        let mut w = env.client().await;
        let waiter_name = name.clone();
        let waiter = tokio::spawn(async move {
            let g = acquire(&mut w, &waiter_name, 30_000, 10_000).await;
            (g, Instant::now())
        });
        env.wait_for_waiters(&name, 1).await;
        let released_at = Instant::now();
        assert!(release(&mut c, &name, &holder.token).await);
        let (g, granted_at) = waiter.await.unwrap();
        assert!(g.acquired);
        let latency = granted_at - released_at;
        // The fallback re-check is 20 s here: anything under a second is a notification.
        assert!(
            latency < Duration::from_secs(1),
            "woken {latency:?} after release"
        );
    }

    pub async fn a_waiter_is_woken_within_ms_of_expiry(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("wake-expiry");
        let holder = acquire(&mut c, &name, 300, 0).await;
        let lease_end = expires_at(&holder);
        let g = acquire(&mut c, &name, 30_000, 10_000).await;
        let granted_at = SystemTime::now();
        assert!(g.acquired);
        assert!(g.fencing_token > holder.fencing_token);
        let after = granted_at.duration_since(lease_end).unwrap_or_default();
        assert!(
            granted_at + Duration::from_millis(20) >= lease_end,
            "granted before the lease ended"
        );
        assert!(
            after < Duration::from_secs(1),
            "woken {after:?} after the lease ended"
        );
    }

    pub async fn the_next_waiter_notices_the_expiry_of_a_lease_handed_to_the_one_before(
        env: &LockEnv,
    ) {
        let mut c = env.client().await;
        let name = unique("handed-expiry");
        let holder = acquire(&mut c, &name, 30_000, 0).await;
        let mut first = env.client().await;
        let first_name = name.clone();
        // This waiter takes a 300 ms lease on hand-off and never releases it.
        let first_waiter =
            tokio::spawn(async move { acquire(&mut first, &first_name, 300, 10_000).await });
        env.wait_for_waiters(&name, 1).await;
        let mut second = env.client().await;
        let second_name = name.clone();
        let second_waiter =
            tokio::spawn(async move { acquire(&mut second, &second_name, 5_000, 10_000).await });
        env.wait_for_waiters(&name, 2).await;
        assert!(release(&mut c, &name, &holder.token).await);
        let handed = first_waiter.await.unwrap();
        assert!(handed.acquired);
        let lease_end = expires_at(&handed);
        let next = second_waiter.await.unwrap();
        let granted_at = SystemTime::now();
        assert!(next.acquired);
        assert!(next.fencing_token > handed.fencing_token);
        let after = granted_at.duration_since(lease_end).unwrap_or_default();
        // The Redis fallback re-check is 20 s here: this is the head's timed re-check.
        assert!(
            after < Duration::from_secs(1),
            "noticed {after:?} after the lease ended"
        );
    }

    pub async fn cancelled_and_timed_out_waiters_leave_the_queue(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("cancel");
        let holder = acquire(&mut c, &name, 30_000, 0).await;
        // A waiter whose client cancels the call (the task, and with it the RPC, is dropped).
        let mut a = env.client().await;
        let a_name = name.clone();
        let cancelled = tokio::spawn(async move { acquire(&mut a, &a_name, 30_000, 20_000).await });
        env.wait_for_waiters(&name, 1).await;
        // A waiter whose wait_timeout passes.
        let timed_out = acquire(&mut c, &name, 30_000, 150).await;
        assert!(!timed_out.acquired);
        cancelled.abort();
        let _ = cancelled.await;
        env.wait_for_empty_queue(&name).await;
        // A live waiter behind them: had either dead waiter been granted, its 30 s lease would
        // outlast this waiter's 3 s wait.
        let mut b = env.client().await;
        let b_name = name.clone();
        let live = tokio::spawn(async move { acquire(&mut b, &b_name, 30_000, 3_000).await });
        env.wait_for_waiters(&name, 1).await;
        assert!(release(&mut c, &name, &holder.token).await);
        let g = live.await.unwrap();
        assert!(
            g.acquired,
            "the live waiter got the lock, not a departed one"
        );
    }

    pub async fn hold_renews_the_lease_past_three_ttls(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("hold-renew");
        let mut events = c.hold(hold_req(&name, 150, 0)).await.unwrap().into_inner();
        let Some(Event::Acquired(g)) = events.message().await.unwrap().and_then(|e| e.event) else {
            panic!("the first event is acquired");
        };
        assert!(g.acquired);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut other = env.client().await;
        assert!(
            !acquire(&mut other, &name, 5_000, 0).await.acquired,
            "still held after 4 leases"
        );
        drop(events);
        let next = acquire(&mut other, &name, 5_000, 3_000).await;
        assert!(next.acquired);
        assert!(next.fencing_token > g.fencing_token);
    }

    pub async fn hold_is_released_when_the_client_disconnects(env: &LockEnv) {
        let name = unique("hold-disconnect");
        let holder_client = env.client().await;
        let mut hc = holder_client.clone();
        let mut events = hc
            .hold(hold_req(&name, 30_000, 0))
            .await
            .unwrap()
            .into_inner();
        let first = events.message().await.unwrap().and_then(|e| e.event);
        assert!(matches!(first, Some(Event::Acquired(ref g)) if g.acquired));
        let mut c = env.client().await;
        assert!(!acquire(&mut c, &name, 5_000, 0).await.acquired);
        let started = Instant::now();
        drop(events);
        drop(hc);
        drop(holder_client);
        let next = acquire(&mut c, &name, 5_000, 5_000).await;
        assert!(next.acquired);
        // The lease was 30 s: only the release on disconnect explains a grant this soon.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    pub async fn hold_without_the_lock_in_time_reports_not_acquired_and_ends(env: &LockEnv) {
        let mut c = env.client().await;
        let name = unique("hold-timeout");
        let holder = acquire(&mut c, &name, 30_000, 0).await;
        let mut events = c
            .hold(hold_req(&name, 1_000, 100))
            .await
            .unwrap()
            .into_inner();
        let ev = events.message().await.unwrap().and_then(|e| e.event);
        assert!(matches!(ev, Some(Event::Acquired(ref g)) if !g.acquired));
        assert!(events.message().await.unwrap().is_none(), "the stream ends");
        assert!(release(&mut c, &name, &holder.token).await);
    }

    pub async fn bad_requests_are_invalid_argument_naming_the_field(env: &LockEnv) {
        let mut c = env.client().await;
        let cases = [
            (acquire_req("", 1_000, 0), "name"),
            (acquire_req(&"x".repeat(257), 1_000, 0), "name"),
            (acquire_req("ok", 1, 0), "ttl"),
            (acquire_req("ok", 2 * 3_600_000, 0), "ttl"),
            (acquire_req("ok", 1_000, 2 * 3_600_000), "wait_timeout"),
            (
                AcquireLockRequest {
                    owner: "o".repeat(257),
                    ..acquire_req("ok", 1_000, 0)
                },
                "owner",
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
        let mut negative = acquire_req("ok", 1_000, 0);
        negative.wait_timeout = Some(prost_types::Duration {
            seconds: -1,
            nanos: 0,
        });
        let err = c.acquire_lock(negative).await.unwrap_err();
        assert!(
            err.message().starts_with("wait_timeout"),
            "{}",
            err.message()
        );
        let err = c
            .release(ReleaseRequest {
                name: "ok".into(),
                token: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("token"));
        let err = c
            .extend(ExtendRequest {
                name: "ok".into(),
                token: "t".into(),
                ttl: Some(ms(1)),
            })
            .await
            .unwrap_err();
        assert!(err.message().starts_with("ttl"), "{}", err.message());
        let err = c.hold(hold_req("", 1_000, 0)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("name"));
        let long_owner = HoldRequest {
            owner: "o".repeat(1 << 10),
            ..hold_req("ok", 1_000, 0)
        };
        let err = c.hold(long_owner).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("owner"), "{}", err.message());
        // A message past --control-max-message-bytes (64 KiB) is refused before it is decoded.
        let huge_owner = HoldRequest {
            owner: "o".repeat(3 << 20),
            ..hold_req("ok", 1_000, 0)
        };
        let err = c.hold(huge_owner).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(
            err.message().contains("--control-max-message-bytes"),
            "{}",
            err.message()
        );
    }
}

macro_rules! conformance {
    ($module:ident, $backend:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = LockEnv::start($backend).await;
                    cases::$case(&env).await;
                }
            )*
        }
    };
}

/// On Redis Cluster every case runs in turn on one cluster (its names are unique), in one
/// test: a three-node cluster per case would cost more than the cases themselves.
macro_rules! on_one_cluster {
    ($($case:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_case_holds_on_a_redis_cluster() {
            let env = LockEnv::start(Backend::Cluster).await;
            $(
                eprintln!("cluster case: {}", stringify!($case));
                cases::$case(&env).await;
            )*
        }
    };
}

/// Behind Sentinel every case runs in turn on one set (a primary, a replica and three
/// sentinels), in one test, for the same reason.
macro_rules! on_one_sentinel_set {
    ($($case:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_case_holds_behind_redis_sentinel() {
            let env = LockEnv::start(Backend::Sentinel).await;
            $(
                eprintln!("sentinel case: {}", stringify!($case));
                cases::$case(&env).await;
            )*
        }
    };
}

macro_rules! every_backend {
    ($($case:ident),* $(,)?) => {
        conformance!(memory, Backend::Memory, [$($case),*]);
        conformance!(redis, Backend::Redis, [$($case),*]);
        mod cluster {
            use super::*;
            on_one_cluster!($($case),*);
        }
        mod sentinel {
            use super::*;
            on_one_sentinel_set!($($case),*);
        }
    };
}

every_backend!(
    a_free_lock_is_granted_and_a_held_one_denied,
    only_the_token_holder_can_release,
    a_second_release_returns_false,
    an_expired_lease_frees_the_lock,
    extend_renews_only_the_holders_lease,
    fencing_tokens_strictly_increase,
    twenty_waiters_are_granted_in_arrival_order,
    a_waiter_is_woken_within_ms_of_release,
    a_waiter_is_woken_within_ms_of_expiry,
    the_next_waiter_notices_the_expiry_of_a_lease_handed_to_the_one_before,
    cancelled_and_timed_out_waiters_leave_the_queue,
    hold_renews_the_lease_past_three_ttls,
    hold_is_released_when_the_client_disconnects,
    hold_without_the_lock_in_time_reports_not_acquired_and_ends,
    bad_requests_are_invalid_argument_naming_the_field,
    a_semaphore_grants_up_to_its_limit_each_grant_with_a_rising_fence,
    another_kind_or_limit_is_failed_precondition_naming_both,
    a_multi_permit_waiter_is_granted_once_enough_permits_are_free,
    freeing_k_permits_wakes_every_waiter_they_serve,
    an_expired_grant_frees_exactly_its_own_permits,
    readers_share_and_a_writer_is_alone,
    a_waiting_writer_stops_new_readers_and_its_end_admits_every_queued_reader,
    cancelled_and_timed_out_permit_waiters_leak_nothing,
    a_held_read_share_is_renewed_while_open_and_released_on_disconnect,
    bad_kind_fields_are_invalid_argument_naming_the_field,
    extend_prolongs_exactly_that_semaphore_grant_and_a_dead_one_is_refused_as_a_mutexs,
    extend_prolongs_exactly_that_read_or_write_grant_and_a_dead_one_is_refused_as_a_mutexs,
);
