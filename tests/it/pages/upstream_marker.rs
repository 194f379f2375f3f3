//! A ListPages stream that ends because of its upstream says so: UNAVAILABLE after the
//! retries, with the `google.rpc.ErrorInfo` and the `streamgate-upstream` trailer naming the
//! page's host:port; a stream ended by streamgate itself carries neither.

use crate::common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::fetch::{client_for, list, read_all, upstream_marker};
use common::{TestServer, Upstream, free_port};
use tonic::Code;

const FAST_RETRIES: [&str; 4] = ["--pages-max-attempts", "2", "--pages-retry-base", "10ms"];

#[tokio::test]
async fn a_refused_upstream_ends_the_stream_marked_with_its_host_and_port() {
    let server = TestServer::start_with_args(&FAST_RETRIES).await;
    let mut client = client_for(server.addr).await;
    let port = free_port();
    let (pages, end) = read_all(&mut client, list(format!("http://127.0.0.1:{port}/"), 5)).await;
    assert!(pages.is_empty());
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(end.message().contains("page 1"), "{}", end.message());
    let marker = upstream_marker(&end).expect("the upstream marker");
    let upstream = format!("127.0.0.1:{port}");
    assert_eq!(marker.reason, "UPSTREAM_UNAVAILABLE");
    assert_eq!(marker.domain, "streamgate");
    assert_eq!(marker.metadata["upstream"], upstream);
    assert!(!marker.metadata.contains_key("httpStatus"), "{marker:?}");
    assert_eq!(marker.trailer.as_deref(), Some(upstream.as_str()));
}

#[tokio::test]
async fn the_final_status_message_carries_no_query_value() {
    let server = TestServer::start_with_args(&FAST_RETRIES).await;
    let mut client = client_for(server.addr).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/items?api_key=s3cret-k3y");
    let (pages, end) = read_all(&mut client, list(url, 5)).await;
    assert!(pages.is_empty());
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(
        !end.message().contains("s3cret-k3y"),
        "a query value in the message: {}",
        end.message()
    );
    assert!(
        end.message().contains("api_key=REDACTED"),
        "the page's URL is named, redacted: {}",
        end.message()
    );
}

#[tokio::test]
async fn an_upstream_answering_503_through_every_retry_is_marked_with_its_last_status() {
    let up = Upstream::start(Router::new().route(
        "/items",
        get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
    ))
    .await;
    let server = TestServer::start_with_args(&FAST_RETRIES).await;
    let mut client = client_for(server.addr).await;
    let (_, end) = read_all(&mut client, list(up.url("/items"), 5)).await;
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    let marker = upstream_marker(&end).expect("the upstream marker");
    assert_eq!(marker.reason, "UPSTREAM_UNAVAILABLE");
    assert_eq!(marker.metadata["upstream"], up.addr.to_string());
    assert_eq!(marker.metadata["httpStatus"], "503");
    assert_eq!(marker.trailer, Some(up.addr.to_string()));
}

#[tokio::test]
async fn a_bad_page_is_not_blamed_on_an_upstream_being_down() {
    let up = Upstream::start(Router::new().route("/items", get(|| async { "not json" }))).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (_, end) = read_all(&mut client, list(up.url("/items"), 5)).await;
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert!(upstream_marker(&end).is_none(), "{end:?}");
}
