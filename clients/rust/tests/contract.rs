//! The rules of docs/clients.md, as the Rust client follows them: addresses, errors, lock
//! waits and not-acquired, against the real server.

mod common;

use std::time::Duration;

use common::ServerProcess;
use streamgate_client::{Client, LockOptions};
use tonic::Code;

/// A bound on calls that must fail fast; reaching it is a hang, reported as such.
const HANG_GUARD: Duration = Duration::from_secs(20);

#[test]
fn a_malformed_address_is_invalid_argument_at_construction_quoting_it() {
    for bad in [
        "localhost",
        "http://127.0.0.1",
        "ftp://127.0.0.1:1",
        "127.0.0.1:1/x",
    ] {
        let err = Client::connect_lazy(bad).expect_err(bad);
        assert_eq!(err.code(), Code::InvalidArgument, "{err}");
        assert!(err.message().contains(&format!("{bad:?}")), "{err}");
    }
}

#[tokio::test]
async fn the_three_address_forms_reach_the_same_server() {
    let server = ServerProcess::start(&[]);
    let authority = server.url.trim_start_matches("http://").to_string();
    for address in [
        authority.clone(),
        format!("http://{authority}"),
        format!("http://{authority}/"),
    ] {
        let client = Client::connect_lazy(&address).expect(&address);
        let guard = client
            .lock(
                &format!("forms-{}", address.len()),
                LockOptions::new().wait_secs(0),
            )
            .await
            .unwrap_or_else(|e| panic!("{address}: {e}"));
        assert!(guard.fencing_token() > 0);
        guard.release().await.expect("release");
    }
}

#[tokio::test]
async fn the_first_call_on_a_dead_address_is_unavailable_naming_it() {
    let address = format!("127.0.0.1:{}", common::free_port());
    let client = Client::connect_lazy(&address).expect("building a client never connects");
    let err = tokio::time::timeout(HANG_GUARD, client.get("http://127.0.0.1:1/"))
        .await
        .expect("the call hung")
        .expect_err("nothing listens there");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains(&address), "{err}");

    let err = Client::connect(format!("http://{address}"))
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains(&address), "{err}");
}

#[tokio::test]
async fn not_acquired_in_time_is_aborted_flagged_and_try_lock_is_none() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let held = client
        .lock("busy", LockOptions::new().wait_secs(0))
        .await
        .expect("free lock");

    let err = client
        .lock("busy", LockOptions::new().wait(Duration::from_millis(100)))
        .await
        .expect_err("the lock is held");
    assert_eq!(err.code(), Code::Aborted, "{err}");
    assert!(err.is_not_acquired(), "{err}");
    assert_eq!(err.message(), "lock \"busy\" not acquired within 100ms");

    let err = client
        .hold("busy", LockOptions::new().wait(Duration::from_millis(50)))
        .await
        .expect_err("the lock is held");
    assert!(err.is_not_acquired(), "{err}");

    let none = client
        .try_lock("busy", LockOptions::new())
        .await
        .expect("try_lock answers");
    assert!(none.is_none(), "an unset wait in try_lock tries once");
    held.release().await.expect("release");
}

#[tokio::test]
async fn an_unset_wait_waits_until_the_lock_is_released() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let held = client
        .lock("queue", LockOptions::new().wait_secs(0))
        .await
        .expect("free lock");
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { client.lock("queue", LockOptions::new()).await })
    };
    // The waiter is queued (not refused) while the lock is held; released, it is granted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "lock() with no wait gave up");
    held.release().await.expect("release");
    let guard = tokio::time::timeout(HANG_GUARD, waiter)
        .await
        .expect("the waiter was not granted")
        .expect("task")
        .expect("granted");
    guard.release().await.expect("release");
}

#[tokio::test]
async fn an_empty_lock_name_is_invalid_argument_naming_the_field() {
    let server = ServerProcess::start(&[]);
    let err = server
        .client()
        .await
        .lock("", LockOptions::new())
        .await
        .expect_err("empty name");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("name"), "{err}");
}
