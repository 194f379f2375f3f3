//! `Client::fetch` against the real server and loopback upstreams.

mod common;

use std::time::Duration;

use common::ServerProcess;
use common::upstreams::{Concurrency, Upstream, fetch_router};
use streamgate_client::FetchOptions;
use tonic::Code;

async fn setup() -> (ServerProcess, Upstream) {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    (server, upstream)
}

#[tokio::test]
async fn fetch_returns_the_upstream_status_headers_and_body() {
    let (server, upstream) = setup().await;
    let client = server.client().await;
    let r = client.get(&upstream.url("/hello")).await.expect("fetch");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello from upstream\n");
    assert_eq!(r.header("X-Upstream"), Some("yes"));
    assert_eq!(r.url, upstream.url("/hello"));
}

#[tokio::test]
async fn an_upstream_error_status_is_a_successful_call_carrying_it() {
    let (server, upstream) = setup().await;
    let client = server.client().await;
    for code in [404u16, 503] {
        let r = client
            .get(&upstream.url(&format!("/status/{code}")))
            .await
            .expect("an HTTP error status is not a gRPC error");
        assert_eq!(r.status, code);
        assert!(!r.is_success());
        assert_eq!(r.text(), format!("status {code}"));
    }
}

#[tokio::test]
async fn method_headers_and_body_reach_the_upstream() {
    let (server, upstream) = setup().await;
    let client = server.client().await;
    let options = FetchOptions::new()
        .method("PUT")
        .header("X-Test", "42")
        .header("Content-Type", "text/plain")
        .body("payload");
    let r = client
        .fetch(&upstream.url("/echo"), options)
        .await
        .expect("fetch");
    let echo: serde_json::Value = serde_json::from_slice(&r.body).expect("echo is JSON");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["x_test"], "42");
    assert_eq!(echo["content_type"], "text/plain");
    assert_eq!(echo["body"], "payload");
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_resource_exhausted() {
    let (server, upstream) = setup().await;
    let client = server.client().await;
    let small = client
        .fetch(
            &upstream.url("/bytes/1000"),
            FetchOptions::new().max_body_bytes(1000),
        )
        .await
        .expect("a body at the cap passes");
    assert_eq!(small.body.len(), 1000);
    let err = client
        .fetch(
            &upstream.url("/bytes/100000"),
            FetchOptions::new().max_body_bytes(1000),
        )
        .await
        .expect_err("a body over the cap fails");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
}

#[tokio::test]
async fn a_timeout_shorter_than_the_upstream_is_deadline_exceeded() {
    let (server, upstream) = setup().await;
    let client = server.client().await;
    let err = client
        .fetch(
            &upstream.url("/delay/20000"),
            FetchOptions::new().timeout(Duration::from_millis(300)),
        )
        .await
        .expect_err("the upstream is slower than the timeout");
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
}

#[tokio::test]
async fn a_url_that_is_not_absolute_is_invalid_argument() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let err = client.get("/relative/path").await.expect_err("bad url");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.to_string().starts_with("INVALID_ARGUMENT: "), "{err}");
}

#[tokio::test]
async fn an_upstream_nobody_listens_on_is_unavailable() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let port = common::free_port();
    let err = client
        .get(&format!("http://127.0.0.1:{port}/"))
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn a_server_that_is_not_running_is_unavailable_at_connect() {
    let port = common::free_port();
    let err = streamgate_client::Client::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}
