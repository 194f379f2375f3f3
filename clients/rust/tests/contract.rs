//! The rules of docs/clients.md, as the Rust client follows them: addresses, errors, lock
//! waits and not-acquired, against the real server.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::ServerProcess;
use common::upstreams::Upstream;
use futures::StreamExt;
use streamgate_client::{Client, ConnectOptions, LockOptions, reading_request};
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

// Transport failures (docs/clients.md, "Errors"): a server that cannot be reached or goes away
// is UNAVAILABLE naming the address, whatever broke; the message says the likely fix when the
// client recognises the mistake.

/// The error of a call that must fail, within [`HANG_GUARD`].
async fn failure<T: std::fmt::Debug>(
    call: impl std::future::Future<Output = streamgate_client::Result<T>>,
) -> streamgate_client::Error {
    tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("the call hung")
        .expect_err("the call must fail")
}

fn assert_unavailable_naming(err: &streamgate_client::Error, address: &str) {
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(
        err.message().contains(address),
        "{err} does not name {address}"
    );
}

/// A TLS server: certificates for `names` written into a temp folder kept with the server.
struct TlsServer {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl TlsServer {
    fn start(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        common::pki::write(dir.path(), names);
        let path = |n: &str| dir.path().join(n).to_str().expect("utf-8").to_owned();
        let server = ServerProcess::start(&[
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server.key"),
        ]);
        Self { dir, server }
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }
}

fn with_ca(ca: std::path::PathBuf) -> ConnectOptions {
    ConnectOptions {
        ca: Some(ca),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_server_killed_mid_unary_is_unavailable_naming_it() {
    let mut server = ServerProcess::start(&[]);
    let address = server.authority().to_string();
    let (arrived, mut arrival) = tokio::sync::mpsc::channel(1);
    let upstream = Upstream::start(Router::new().route(
        "/stall",
        get(move || {
            let arrived = arrived.clone();
            async move {
                let _ = arrived.send(()).await;
                std::future::pending::<()>().await
            }
        }),
    ))
    .await;
    let client = Client::connect_lazy(&address).expect("client");
    let call = tokio::spawn({
        let url = upstream.url("/stall");
        async move { client.get(&url).await }
    });
    tokio::time::timeout(HANG_GUARD, arrival.recv())
        .await
        .expect("the fetch never reached the upstream");
    server.kill();
    let err = failure(async { call.await.expect("task") }).await;
    assert_unavailable_naming(&err, &address);
}

#[tokio::test]
async fn a_server_killed_mid_stream_is_unavailable_naming_it() {
    let mut server = ServerProcess::start(&[]);
    let address = server.authority().to_string();
    let client = Client::connect_lazy(&address).expect("client");
    let (readings, rx) = tokio::sync::mpsc::channel(4);
    let mut events = Box::pin(client.sensor_feed(tokio_stream::wrappers::ReceiverStream::new(rx)));
    readings
        .send(reading_request("s1", 21.0, 40.0))
        .await
        .expect("the stream takes a reading");
    let first = tokio::time::timeout(HANG_GUARD, events.next())
        .await
        .expect("no answer to the first reading");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    server.kill();
    let err = failure(async {
        match events.next().await {
            Some(Err(e)) => Err(e),
            other => Ok(format!("{other:?}")),
        }
    })
    .await;
    assert_unavailable_naming(&err, &address);
    drop(readings);
}

#[tokio::test]
async fn plaintext_to_a_tls_port_is_unavailable_saying_the_server_speaks_tls() {
    let tls = TlsServer::start(&common::pki::SERVER_NAMES);
    let address = tls.server.authority().to_string();
    let client = Client::connect_lazy(&address).expect("client");
    let err = failure(client.get("http://127.0.0.1:1/")).await;
    assert_unavailable_naming(&err, &address);
    // "the server speaks TLS: ..." when h2 read the TLS alert, "if the server speaks TLS, ..."
    // when the connection closed first.
    assert!(err.message().contains("the server speaks TLS"), "{err}");
}

#[tokio::test]
async fn tls_to_a_plaintext_port_is_unavailable_saying_the_server_does_not_speak_tls() {
    let server = ServerProcess::start(&[]);
    let address = server.authority().to_string();
    let err = failure(Client::connect(format!("https://{address}"))).await;
    assert_unavailable_naming(&err, &address);
    assert!(err.message().contains("does not speak TLS"), "{err}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_unavailable_saying_so() {
    let tls = TlsServer::start(&common::pki::SERVER_NAMES);
    let other = tempfile::tempdir().expect("temp dir");
    common::pki::write(other.path(), &common::pki::SERVER_NAMES);
    let address = tls.server.authority().to_string();
    let err = failure(Client::connect_with(
        &address,
        &with_ca(other.path().join("ca.pem")),
    ))
    .await;
    assert_unavailable_naming(&err, &address);
    assert!(
        err.message().contains("not signed by the CA you gave"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_unavailable_saying_so() {
    let tls = TlsServer::start(&["elsewhere.test"]);
    let address = tls.server.authority().to_string();
    let err = failure(Client::connect_with(&address, &with_ca(tls.ca()))).await;
    assert_unavailable_naming(&err, &address);
    assert!(
        err.message()
            .contains("not valid for the name you connected to"),
        "{err}"
    );
}

#[tokio::test]
async fn streams_beyond_the_servers_limit_wait_or_are_unavailable_never_another_code() {
    const LIMIT: u32 = 2;
    const STREAMS: usize = 8;
    let server = ServerProcess::start(&["--max-streams-per-connection", &LIMIT.to_string()]);
    let address = server.authority().to_string();
    // A fresh connection: calls sent before the server's SETTINGS arrive may be refused with
    // REFUSED_STREAM; later ones queue in the client until a stream ends.
    let client = Client::connect_lazy(&address).expect("client");
    let mut senders = Vec::new();
    let mut open = Vec::new();
    for i in 0..STREAMS {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(reading_request(format!("s{i}"), 21.0, 40.0))
            .await
            .expect("queued reading");
        senders.push(tx);
        let mut events =
            Box::pin(client.sensor_feed(tokio_stream::wrappers::ReceiverStream::new(rx)));
        open.push(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(3), events.next()).await
        }));
    }
    let mut answered = 0;
    for task in open {
        match task.await.expect("task") {
            Ok(Some(Ok(_))) => answered += 1,
            Ok(Some(Err(err))) => assert_unavailable_naming(&err, &address),
            Ok(None) => panic!("a stream ended without an answer"),
            // Queued behind the open streams: waiting is what a full connection does.
            Err(_elapsed) => {}
        }
    }
    assert!(answered >= 1, "no stream was served at all");
    assert!(
        answered <= LIMIT as usize,
        "{answered} streams open beyond the limit"
    );
    drop(senders);
}

#[tokio::test]
async fn the_cli_reports_plaintext_to_a_tls_port_as_unavailable_with_the_fix() {
    let tls = TlsServer::start(&common::pki::SERVER_NAMES);
    let address = tls.server.authority().to_string();
    let run = common::run_cli(&address, &["fetch", "http://127.0.0.1:1/"]).await;
    assert_eq!(run.code, Some(114), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("UNAVAILABLE"), "{}", run.stderr);
    assert!(run.stderr.contains(&address), "{}", run.stderr);
    assert!(
        run.stderr.contains("the server speaks TLS"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_empty_token_is_no_token_in_the_cli() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(Router::new().route("/hello", get(|| async { "hi" }))).await;
    let output = common::cli(&server.url, &["fetch", &upstream.url("/hello")])
        .env("STREAMGATE_TOKEN", "")
        .output()
        .await
        .expect("streamgate-cli ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi");
}

// An upstream that is down is not the server being down (docs/clients.md, "Upstream
// failures"): both are UNAVAILABLE, and only the first names an upstream.

#[tokio::test]
async fn an_upstream_that_is_down_is_told_from_a_server_that_is_down() {
    let server = ServerProcess::start(&["--pages-max-attempts", "1"]);
    let client = server.client().await;
    let upstream = format!("127.0.0.1:{}", common::free_port());

    let err = failure(client.get(&format!("http://{upstream}/hello"))).await;
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(err.upstream(), Some(upstream.as_str()), "{err}");
    assert!(err.is_upstream_error());

    let mut pages = Box::pin(client.list_pages(
        &format!("http://{upstream}/items"),
        streamgate_client::PagesOptions::new(),
    ));
    let err = tokio::time::timeout(HANG_GUARD, pages.next())
        .await
        .expect("the stream hung")
        .expect("an item")
        .expect_err("the upstream is down");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert_eq!(err.upstream(), Some(upstream.as_str()), "{err}");

    let dead = format!("127.0.0.1:{}", common::free_port());
    let client = Client::connect_lazy(&dead).expect("building a client never connects");
    let err = failure(client.get(&format!("http://{upstream}/hello"))).await;
    assert_unavailable_naming(&err, &dead);
    assert_eq!(err.upstream(), None, "{err}");
    assert!(!err.is_upstream_error());
}
