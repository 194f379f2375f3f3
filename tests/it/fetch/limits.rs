//! Fetch's limits: the response body cap (checked while reading), the request body cap, the
//! global and per-host concurrency limits and the queue timeout.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::fetch::{client_for, get as get_req};
use common::{TestServer, Upstream};
use streamgate_client::proto::FetchRequest;
use tonic::Code;

const BIG: usize = 10_000;

/// Counts requests in flight and remembers the most seen at once.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

async fn upstream(gauge: Gauge, release: Arc<tokio::sync::Notify>) -> Upstream {
    let g = gauge.clone();
    Upstream::start(
        Router::new()
            .route("/big", get(|| async { vec![b'x'; BIG] }))
            .route(
                "/big-chunked",
                get(|| async {
                    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(vec![b'y'; BIG / 10]));
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route(
                "/work",
                get(move || {
                    let g = g.clone();
                    async move {
                        let n = g.now.fetch_add(1, Ordering::SeqCst) + 1;
                        g.max.fetch_max(n, Ordering::SeqCst);
                        g.total.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        g.now.fetch_sub(1, Ordering::SeqCst);
                        "done"
                    }
                }),
            )
            .route(
                "/hold",
                get(move || {
                    let release = release.clone();
                    async move {
                        release.notified().await;
                        "released"
                    }
                }),
            ),
    )
    .await
}

fn capped(url: String, cap: u64) -> FetchRequest {
    FetchRequest {
        max_body_bytes: cap,
        ..get_req(url)
    }
}

#[tokio::test]
async fn a_body_over_the_requested_cap_is_resource_exhausted() {
    let up = upstream(Gauge::default(), Default::default()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    for path in ["/big", "/big-chunked"] {
        let status = client.fetch(capped(up.url(path), 1000)).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{path}: {status:?}");
        assert!(status.message().contains("1000"), "{}", status.message());
        let ok = client
            .fetch(capped(up.url(path), BIG as u64))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ok.body.len(), BIG, "{path}: exactly the cap is accepted");
    }
}

#[tokio::test]
async fn the_server_default_and_max_body_caps_apply() {
    let up = upstream(Gauge::default(), Default::default()).await;
    let server = TestServer::start_with_args(&[
        "--fetch-default-body-bytes",
        "100",
        "--fetch-max-body-bytes",
        "5000",
    ])
    .await;
    let mut client = client_for(server.addr).await;
    let status = client.fetch(get_req(up.url("/big"))).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "default cap 100: {status:?}"
    );
    let status = client
        .fetch(capped(up.url("/big-chunked"), 1 << 30))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "asking above the max is capped: {status:?}"
    );
}

#[tokio::test]
async fn a_request_body_over_the_cap_is_resource_exhausted_naming_body() {
    let up = upstream(Gauge::default(), Default::default()).await;
    let server = TestServer::start_with_args(&["--fetch-max-request-bytes", "10"]).await;
    let mut client = client_for(server.addr).await;
    let req = FetchRequest {
        method: "POST".into(),
        body: vec![0; 11],
        ..get_req(up.url("/work"))
    };
    let status = client.fetch(req).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().starts_with("body"), "{}", status.message());
}

#[tokio::test]
async fn two_hundred_concurrent_fetches_behind_a_limit_of_eight_all_succeed() {
    let gauge = Gauge::default();
    let up = upstream(gauge.clone(), Default::default()).await;
    let server = TestServer::start_with_args(&["--fetch-max-concurrency", "8"]).await;
    let client = client_for(server.addr).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let mut c = client.clone();
        let url = up.url("/work");
        calls.spawn(async move { c.fetch(get_req(url)).await.map(|r| r.into_inner().status) });
    }
    let mut ok = 0;
    while let Some(res) = calls.join_next().await {
        assert_eq!(res.unwrap().unwrap(), 200);
        ok += 1;
    }
    assert_eq!(ok, 200);
    assert_eq!(gauge.total.load(Ordering::SeqCst), 200);
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(
        (1..=8).contains(&max),
        "at most 8 upstream requests at once, saw {max}"
    );
}

#[tokio::test]
async fn the_per_host_limit_bounds_requests_to_one_host() {
    let gauge = Gauge::default();
    let up = upstream(gauge.clone(), Default::default()).await;
    let server = TestServer::start_with_args(&["--fetch-max-per-host", "2"]).await;
    let client = client_for(server.addr).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let mut c = client.clone();
        let url = up.url("/work");
        calls.spawn(async move { c.fetch(get_req(url)).await.map(|r| r.into_inner().status) });
    }
    while let Some(res) = calls.join_next().await {
        assert_eq!(res.unwrap().unwrap(), 200);
    }
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&max),
        "at most 2 requests to one host at once, saw {max}"
    );
}

#[tokio::test]
async fn a_full_queue_past_the_queue_timeout_is_resource_exhausted() {
    let release = Arc::new(tokio::sync::Notify::new());
    let up = upstream(Gauge::default(), release.clone()).await;
    let server = TestServer::start_with_args(&[
        "--fetch-max-concurrency",
        "1",
        "--fetch-queue-timeout",
        "100ms",
    ])
    .await;
    let client = client_for(server.addr).await;
    let mut holder = client.clone();
    let url = up.url("/hold");
    let held = tokio::spawn(async move { holder.fetch(get_req(url)).await });
    // The holder is in flight once the upstream has a waiter; poll the event, not a clock.
    let mut probe = client.clone();
    let mut status = None;
    for _ in 0..100 {
        match probe.fetch(get_req(up.url("/big"))).await {
            Err(s) => {
                status = Some(s);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let status = status.expect("a second call was queued behind the held one");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    release.notify_one();
    assert_eq!(held.await.unwrap().unwrap().into_inner().status, 200);
}

#[tokio::test]
async fn a_request_body_cap_above_four_mib_lets_such_bodies_through_and_still_refuses_past_it() {
    // tonic's default 4 MiB decode limit must not sit under --fetch-max-request-bytes.
    let up = Upstream::start(
        Router::new()
            .route(
                "/len",
                axum::routing::post(
                    |body: axum::body::Bytes| async move { body.len().to_string() },
                ),
            )
            .layer(axum::extract::DefaultBodyLimit::disable()),
    )
    .await;
    let cap = 8 << 20;
    let server =
        TestServer::start_with_args(&["--fetch-max-request-bytes", &cap.to_string()]).await;
    let mut client = client_for(server.addr).await;
    let post = |len: usize| FetchRequest {
        method: "POST".into(),
        body: vec![7; len],
        ..get_req(up.url("/len"))
    };

    let six_mib = 6 << 20;
    let ok = client
        .fetch(post(six_mib))
        .await
        .expect("a 6 MiB body under an 8 MiB cap");
    assert_eq!(ok.get_ref().status, 200);
    assert_eq!(ok.get_ref().body, six_mib.to_string().as_bytes());

    let status = client.fetch(post(cap + 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().starts_with("body"), "{}", status.message());
}
