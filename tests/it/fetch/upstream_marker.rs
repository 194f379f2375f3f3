//! A Fetch that fails because of its upstream says so: UNAVAILABLE or DEADLINE_EXCEEDED as
//! the contract has it, plus a `google.rpc.ErrorInfo` (`UPSTREAM_UNAVAILABLE`,
//! `UPSTREAM_TIMEOUT`) and a `streamgate-upstream` trailer naming host:port. Failures that
//! are not the upstream's carry neither.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::fetch::{client_for, get as get_req, guarded_config, upstream_marker};
use common::{TestServer, Upstream, free_port};
use streamgate_client::proto::FetchRequest;
use tonic::Code;

#[tokio::test]
async fn a_refused_upstream_is_unavailable_marked_with_its_host_and_port() {
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let port = free_port();
    let status = client
        .fetch(get_req(format!("http://127.0.0.1:{port}/items")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let marker = upstream_marker(&status).expect("the upstream marker");
    let upstream = format!("127.0.0.1:{port}");
    assert_eq!(marker.reason, "UPSTREAM_UNAVAILABLE");
    assert_eq!(marker.domain, "streamgate");
    assert_eq!(marker.metadata["upstream"], upstream);
    assert_eq!(marker.metadata["url"], format!("http://{upstream}/items"));
    assert_eq!(marker.trailer.as_deref(), Some(upstream.as_str()));
}

#[tokio::test]
async fn the_marker_carries_no_query_values() {
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let port = free_port();
    // Credentials in the URL are refused before anything is sent (INVALID_ARGUMENT); a
    // query value may be a key or a signature.
    let url = format!("http://127.0.0.1:{port}/items?api_key=k3y&page=2");
    let status = client.fetch(get_req(url)).await.unwrap_err();
    let marker = upstream_marker(&status).unwrap_or_else(|| panic!("no marker: {status:?}"));
    let carried = format!("{:?} {:?}", marker.metadata, marker.trailer);
    for secret in ["k3y", "page=2"] {
        assert!(
            !carried.contains(secret),
            "{secret} in the marker: {carried}"
        );
    }
    assert_eq!(marker.metadata["upstream"], format!("127.0.0.1:{port}"));
    assert!(
        marker.metadata["url"].contains("api_key=REDACTED"),
        "{carried}"
    );
}

#[tokio::test]
async fn no_status_message_carries_a_query_value() {
    let up = Upstream::start(
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route("/big", get(|| async { "x".repeat(4096) })),
    )
    .await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let port = free_port();
    let refused = get_req(format!("http://127.0.0.1:{port}/items?api_key=s3cret-k3y"));
    let slow = FetchRequest {
        timeout: Some(prost_types::Duration {
            seconds: 0,
            nanos: 200_000_000,
        }),
        ..get_req(up.url("/slow?api_key=s3cret-k3y"))
    };
    let big = FetchRequest {
        max_body_bytes: 100,
        ..get_req(up.url("/big?api_key=s3cret-k3y"))
    };
    for (req, code) in [
        (refused, Code::Unavailable),
        (slow, Code::DeadlineExceeded),
        (big, Code::ResourceExhausted),
    ] {
        let status = client.fetch(req).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            !status.message().contains("s3cret-k3y"),
            "a query value in the message: {}",
            status.message()
        );
        assert!(
            status.message().contains("api_key=REDACTED"),
            "the URL is named, redacted: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_slow_upstream_is_deadline_exceeded_marked_as_an_upstream_timeout() {
    let up = Upstream::start(Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late"
        }),
    ))
    .await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = FetchRequest {
        timeout: Some(prost_types::Duration {
            seconds: 0,
            nanos: 200_000_000,
        }),
        ..get_req(up.url("/slow"))
    };
    let status = client.fetch(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let marker = upstream_marker(&status).expect("the upstream marker");
    assert_eq!(marker.reason, "UPSTREAM_TIMEOUT");
    assert_eq!(marker.metadata["upstream"], up.addr.to_string());
    assert_eq!(marker.trailer, Some(up.addr.to_string()));
}

#[tokio::test]
async fn failures_that_are_not_the_upstreams_carry_no_marker() {
    let up = Upstream::start(Router::new().route("/x", get(|| async { "x" }))).await;
    let open = TestServer::start().await;
    let mut client = client_for(open.addr).await;
    let bad = client.fetch(get_req("not a url")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(upstream_marker(&bad).is_none(), "{bad:?}");

    // The guard refuses loopback by default: PERMISSION_DENIED, nothing reached upstream.
    let guarded = TestServer::start_with(guarded_config(&[])).await;
    let mut client = client_for(guarded.addr).await;
    let refused = client.fetch(get_req(up.url("/x"))).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(upstream_marker(&refused).is_none(), "{refused:?}");

    // An upstream that answers, even with an error status, is a successful call.
    let mut client = client_for(open.addr).await;
    let ok = client.fetch(get_req(up.url("/missing"))).await.unwrap();
    assert_eq!(ok.into_inner().status, 404);
}
