//! Lock guards and holds against the real server (in-process lock backend).

mod common;

use std::time::Duration;

use common::ServerProcess;
use streamgate_client::{HoldOptions, LockOptions};
use tonic::Code;

#[tokio::test]
async fn lock_and_release_grant_increasing_fencing_tokens() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let first = client.lock("jobs", LockOptions::new()).await.expect("lock");
    let token = first.fencing_token();
    assert_eq!(first.name(), "jobs");
    assert!(!first.token().is_empty());
    assert!(first.release().await.expect("release"), "it was held");
    let second = client.lock("jobs", LockOptions::new()).await.expect("lock");
    assert!(second.fencing_token() > token);
    assert!(second.release().await.expect("release"));
}

#[tokio::test]
async fn a_held_lock_is_not_acquired_by_a_second_caller_without_wait() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let held = client.lock("busy", LockOptions::new()).await.expect("lock");
    let none = client
        .try_lock("busy", LockOptions::new())
        .await
        .expect("try_lock answers");
    assert!(none.is_none(), "the lock is held");
    let err = client
        .lock("busy", LockOptions::new().wait(Duration::from_millis(100)))
        .await
        .expect_err("the lock is held");
    assert!(err.is_not_acquired(), "{err}");
    assert_eq!(err.code(), Code::Aborted);
    assert!(held.release().await.expect("release"));
}

#[tokio::test]
async fn a_waiter_gets_the_lock_when_the_holder_releases() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let held = client
        .lock("queue", LockOptions::new())
        .await
        .expect("lock");
    let waiter_client = client.clone();
    let waiter = tokio::spawn(async move {
        waiter_client
            .lock("queue", LockOptions::new().wait_secs(30))
            .await
    });
    let first_token = held.fencing_token();
    assert!(held.release().await.expect("release"));
    let guard = waiter.await.expect("waiter task").expect("waiter's lock");
    assert!(guard.fencing_token() > first_token);
    assert!(guard.release().await.expect("release"));
}

#[tokio::test]
async fn a_dropped_guard_releases_the_lock_in_the_background() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let guard = client
        .lock("dropped", LockOptions::new().ttl(Duration::from_secs(600)))
        .await
        .expect("lock");
    let token = guard.fencing_token();
    drop(guard);
    // The lease is ten minutes: only the background release can free it within the wait.
    let next = client
        .lock("dropped", LockOptions::new().wait_secs(30))
        .await
        .expect("freed by the dropped guard");
    assert!(next.fencing_token() > token);
    assert!(next.release().await.expect("release"));
}

#[tokio::test]
async fn extend_renews_a_held_lock_and_not_a_released_one() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let mut guard = client
        .lock("extend", LockOptions::new())
        .await
        .expect("lock");
    assert!(
        guard
            .extend(Duration::from_secs(30))
            .await
            .expect("extend answers")
    );
    let mut raw = client.lock_service();
    let token = guard.token().to_string();
    assert!(guard.release().await.expect("release"));
    let late = raw
        .extend(streamgate_client::proto::ExtendRequest {
            name: "extend".into(),
            token,
            ttl: None,
        })
        .await
        .expect("extend answers")
        .into_inner();
    assert!(!late.extended, "a released grant cannot be extended");
}

#[tokio::test]
async fn a_hold_keeps_the_lock_past_its_ttl_until_the_handle_is_dropped() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let hold = client
        .hold("held", HoldOptions::new().ttl(Duration::from_millis(300)))
        .await
        .expect("hold");
    assert!(hold.fencing_token() > 0);
    assert!(hold.acquired().acquired);
    // Three leases long: only the server's renewals keep it held.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let none = client
        .try_lock("held", LockOptions::new())
        .await
        .expect("try_lock answers");
    assert!(none.is_none(), "the hold still has the lock");
    let token = hold.fencing_token();
    drop(hold);
    let next = client
        .lock("held", LockOptions::new().wait_secs(30))
        .await
        .expect("freed when the hold stream ended");
    assert!(next.fencing_token() > token);
    assert!(next.release().await.expect("release"));
}

#[tokio::test]
async fn releasing_a_hold_frees_the_lock_before_it_returns() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let hold = client.hold("h2", HoldOptions::new()).await.expect("hold");
    assert!(hold.release().await.expect("release"));
    let now = client
        .try_lock("h2", LockOptions::new())
        .await
        .expect("try_lock answers");
    let guard = now.expect("the lock is free at once");
    assert!(guard.release().await.expect("release"));
}

#[tokio::test]
async fn a_second_hold_that_tries_once_is_not_acquired() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let first = client.hold("h3", HoldOptions::new()).await.expect("hold");
    let err = client
        .hold("h3", HoldOptions::new().wait(Duration::ZERO))
        .await
        .expect_err("the lock is held");
    assert!(err.is_not_acquired(), "{err}");
    drop(first);
}

#[tokio::test]
async fn an_empty_lock_name_is_invalid_argument() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let err = client
        .lock("", LockOptions::new())
        .await
        .expect_err("empty name");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let err = client
        .hold("", HoldOptions::new())
        .await
        .expect_err("empty name");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
}

#[tokio::test]
async fn a_semaphore_grants_up_to_its_limit_and_readers_share_while_a_writer_is_alone() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let sem = || LockOptions::new().semaphore(2);
    let a = client.lock("pool", sem()).await.expect("permit 1");
    let b = client.lock("pool", sem()).await.expect("permit 2");
    assert!(b.fencing_token() > a.fencing_token());
    assert!(
        client
            .try_lock("pool", sem())
            .await
            .expect("answers")
            .is_none(),
        "a third permit of two"
    );
    let err = client
        .try_lock("pool", LockOptions::new().semaphore(3))
        .await
        .expect_err("another limit");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert!(a.release().await.expect("release"));
    let c = client.try_lock("pool", sem()).await.expect("answers");
    assert!(c.is_some(), "the freed permit is granted");

    let r1 = client
        .lock("doc", LockOptions::new().read())
        .await
        .expect("reader");
    let held = client
        .hold("doc", HoldOptions::new().read().wait(Duration::ZERO))
        .await
        .expect("a held reader shares");
    assert!(held.fencing_token() > r1.fencing_token());
    assert!(
        client
            .try_lock("doc", LockOptions::new().write())
            .await
            .expect("answers")
            .is_none(),
        "no writer beside readers"
    );
    assert!(r1.release().await.expect("release"));
    drop(held);
    let w = client
        .lock(
            "doc",
            LockOptions::new().write().wait(Duration::from_secs(5)),
        )
        .await
        .expect("the writer once the readers are gone");
    assert!(w.release().await.expect("release"));
}
