//! What a Fetch may ask for, end to end: the methods and headers it may use, and the bound on
//! calls waiting for an upstream slot (`--fetch-max-queue`).

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use common::fetch::{Hits, client_for, get as get_req};
use common::{TestServer, Upstream, until};
use streamgate_client::proto::{FetchRequest, Header};
use tokio::sync::Semaphore;
use tonic::Code;

#[tokio::test]
async fn only_plain_methods_pass_in_any_case_and_the_rest_never_reach_the_upstream() {
    let hits = Hits::default();
    let h = hits.clone();
    let up = Upstream::start(Router::new().route(
        "/m",
        any(move |method: axum::http::Method| {
            let h = h.clone();
            async move {
                h.hit();
                method.to_string()
            }
        }),
    ))
    .await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    for bad in ["connect", "CONNECT", "TRACE", "trace", "PURGE", "PROPFIND"] {
        let err = client
            .fetch(FetchRequest {
                method: bad.into(),
                ..get_req(up.url("/m"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
        assert!(
            err.message().starts_with("method: "),
            "{bad}: {}",
            err.message()
        );
    }
    assert_eq!(hits.get(), 0, "no refused method reached the upstream");
    for (asked, sent) in [
        ("delete", "DELETE"),
        ("Patch", "PATCH"),
        ("options", "OPTIONS"),
    ] {
        let resp = client
            .fetch(FetchRequest {
                method: asked.into(),
                ..get_req(up.url("/m"))
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.body, sent.as_bytes(), "{asked}");
    }
}

#[tokio::test]
async fn headers_that_steer_the_connection_or_a_proxy_are_invalid_arguments() {
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    for name in ["Expect", "Trailer", "Proxy-Authorization", "HTTP2-Settings"] {
        let err = client
            .fetch(FetchRequest {
                headers: vec![Header {
                    name: name.into(),
                    value: "x".into(),
                }],
                ..get_req("http://127.0.0.1:9/")
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name}: {err:?}");
        assert!(
            err.message().starts_with("headers[0].name"),
            "{}",
            err.message()
        );
    }
}

#[tokio::test]
async fn a_call_beyond_the_wait_queue_is_resource_exhausted_at_once() {
    // The upstream holds every request until the test opens the gate.
    let gate = Arc::new(Semaphore::new(0));
    let hits = Hits::default();
    let (g, h) = (gate.clone(), hits.clone());
    let up = Upstream::start(Router::new().route(
        "/slow",
        get(move || {
            let (g, h) = (g.clone(), h.clone());
            async move {
                h.hit();
                let _pass = g.acquire().await;
                "done"
            }
        }),
    ))
    .await;
    let server =
        TestServer::start_with_args(&["--fetch-max-concurrency", "1", "--fetch-max-queue", "1"])
            .await;
    let client = client_for(server.addr).await;
    let call = |mut c: streamgate_client::proto::fetch_service_client::FetchServiceClient<_>| {
        let url = up.url("/slow");
        tokio::spawn(async move { c.fetch(get_req(url)).await.map(|r| r.into_inner().status) })
    };
    let first = call(client.clone());
    until(
        Duration::from_secs(10),
        "the first call reaches the upstream",
        || hits.get() > 0,
    )
    .await;
    // The slot is taken: of two more calls one waits in the queue, the other is turned
    // away at once.
    let mut second = call(client.clone());
    let mut third = call(client.clone());
    let (turned_away, waiting) = tokio::select! {
        r = &mut second => (r, third),
        r = &mut third => (r, second),
    };
    let err = turned_away.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("--fetch-max-queue"),
        "{}",
        err.message()
    );
    gate.add_permits(10);
    assert_eq!(first.await.unwrap().unwrap(), 200);
    assert_eq!(waiting.await.unwrap().unwrap(), 200);
}
