//! How the shared cache reads validators and freshness details (RFC 9111): a caller's own
//! `If-None-Match` answered from a fresh stored answer, a 304 without validators refreshing
//! the answer it was asked about (but not the digest of its body), an invalid `Age` taken as
//! stale, and `Cache-Control` directives read whatever their case.

use crate::common;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use common::fetch::{client_for, get as get_req};
use common::{TestServer, Upstream};
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::{FetchRequest, FetchResponse, Header};
use tonic::transport::Channel;

use super::cache::Seen;

const CACHE: [&str; 2] = ["--fetch-cache-bytes", "1048576"];

/// `/etag`: fresh for a minute with `ETag: "v1"`; `/bare-304`: stale at once with `ETag:
/// "v1"`, and a 304 carrying no validator (but a `Content-MD5` of its own) to a request
/// naming it; `/bad-age`: fresh for an
/// hour but with `Age: abc`; `/mixed-case`: `max-age` with `No-CaChE`. Every body names the
/// request's number on its path.
async fn origin(seen: Seen) -> Upstream {
    let handler = move |req: Request| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_owned();
            let n = seen.hit(format!("GET {path}"));
            let body = format!("{path} #{n}");
            match path.as_str() {
                "/etag" => {
                    ([("cache-control", "max-age=60"), ("etag", "\"v1\"")], body).into_response()
                }
                "/bare-304"
                    if req
                        .headers()
                        .get("if-none-match")
                        .is_some_and(|v| v == "\"v1\"") =>
                {
                    (StatusCode::NOT_MODIFIED, [("content-md5", "b304")]).into_response()
                }
                "/bare-304" => (
                    [
                        ("cache-control", "max-age=0"),
                        ("etag", "\"v1\""),
                        ("content-md5", "a200"),
                    ],
                    body,
                )
                    .into_response(),
                "/bad-age" => {
                    ([("cache-control", "max-age=3600"), ("age", "abc")], body).into_response()
                }
                "/mixed-case" => {
                    ([("cache-control", "max-age=60, No-CaChE")], body).into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    Upstream::start(
        Router::new()
            .route("/etag", get(handler.clone()))
            .route("/bare-304", get(handler.clone()))
            .route("/bad-age", get(handler.clone()))
            .route("/mixed-case", get(handler)),
    )
    .await
}

fn if_none_match(url: String, tag: &str) -> FetchRequest {
    FetchRequest {
        headers: vec![Header {
            name: "if-none-match".into(),
            value: tag.into(),
        }],
        ..get_req(url)
    }
}

async fn fetch(client: &mut FetchServiceClient<Channel>, req: FetchRequest) -> FetchResponse {
    client
        .fetch(req)
        .await
        .expect("the Fetch succeeds")
        .into_inner()
}

fn header<'a>(r: &'a FetchResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[tokio::test]
async fn a_callers_if_none_match_is_answered_from_a_fresh_stored_answer() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let stored = fetch(&mut client, get_req(up.url("/etag"))).await;

    let matching = fetch(&mut client, if_none_match(up.url("/etag"), "\"x\", \"v1\"")).await;
    assert_eq!(matching.status, 304, "the tag matches: not modified");
    assert!(matching.body.is_empty());
    assert_eq!(header(&matching, "etag"), Some("\"v1\""));
    assert!(
        matching.cache_status.starts_with("streamgate; hit"),
        "{}",
        matching.cache_status
    );

    let other = fetch(&mut client, if_none_match(up.url("/etag"), "\"v0\"")).await;
    assert_eq!(other.status, 200, "another tag: the stored answer itself");
    assert_eq!(other.body, stored.body);
    assert_eq!(seen.count("GET /etag"), 1, "neither went upstream");
}

#[tokio::test]
async fn a_304_without_validators_refreshes_the_answer_it_was_asked_about() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let first = fetch(&mut client, get_req(up.url("/bare-304"))).await;
    let second = fetch(&mut client, get_req(up.url("/bare-304"))).await;
    assert_eq!(seen.count("GET /bare-304"), 2, "revalidated upstream");
    assert_eq!(
        second.status, 200,
        "the caller gets the stored answer, not the 304"
    );
    assert_eq!(second.body, first.body);
    assert_eq!(
        header(&second, "content-md5"),
        Some("a200"),
        "the stored body's digest, not the 304's"
    );
    assert!(
        second.cache_status.contains("fwd=stale; fwd-status=304"),
        "{}",
        second.cache_status
    );
}

#[tokio::test]
async fn an_answer_with_an_invalid_age_is_stale_from_the_start() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let first = fetch(&mut client, get_req(up.url("/bad-age"))).await;
    assert!(
        first.cache_status.ends_with("; stored"),
        "{}",
        first.cache_status
    );
    let second = fetch(&mut client, get_req(up.url("/bad-age"))).await;
    assert_eq!(seen.count("GET /bad-age"), 2, "not served as fresh");
    assert_eq!(String::from_utf8_lossy(&second.body), "/bad-age #2");
    assert!(
        second.cache_status.contains("fwd=stale"),
        "{}",
        second.cache_status
    );
}

#[tokio::test]
async fn cache_control_directives_are_read_whatever_their_case() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    fetch(&mut client, get_req(up.url("/mixed-case"))).await;
    let second = fetch(&mut client, get_req(up.url("/mixed-case"))).await;
    assert_eq!(seen.count("GET /mixed-case"), 2, "No-CaChE is no-cache");
    assert!(
        !second.cache_status.starts_with("streamgate; hit"),
        "{}",
        second.cache_status
    );
}
