//! The contract's cross-origin rule, end to end with two loopback upstreams on different
//! ports (two origins): on a redirect or a ListPages next page whose origin differs from the
//! request URL's, only Accept, Accept-Encoding, Accept-Language, Content-Type and User-Agent
//! of the caller's headers go along, and no hop carries a Referer.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use common::fetch::{client_for, ids, list, read_all};
use common::{TestServer, Upstream};
use streamgate_client::proto::{FetchRequest, Header, PaginationStyle};

/// Every request an upstream saw: its path and query, and its headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl Seen {
    fn record(&self, uri: &Uri, headers: &HeaderMap) {
        let mut seen = self.0.lock().unwrap();
        seen.push((uri.to_string(), headers.clone()));
    }

    /// The headers of the one request to a path starting with `path`.
    fn headers_of(&self, path: &str) -> HeaderMap {
        let seen = self.0.lock().unwrap();
        let hits: Vec<_> = seen.iter().filter(|(p, _)| p.starts_with(path)).collect();
        assert_eq!(hits.len(), 1, "requests to {path}: {:?}", *seen);
        hits[0].1.clone()
    }
}

/// The credentials and the harmless headers a caller sends.
fn caller_headers() -> Vec<Header> {
    [
        ("authorization", "Bearer T2"),
        ("x-api-key", "SECRET"),
        ("cookie", "session=S"),
        ("accept", "application/json"),
        ("accept-language", "de"),
        ("user-agent", "caller/1"),
    ]
    .into_iter()
    .map(|(name, value)| Header {
        name: name.into(),
        value: value.into(),
    })
    .collect()
}

/// Asserts that only the harmless headers reached the other origin.
fn assert_only_harmless(h: &HeaderMap) {
    for leaked in ["authorization", "x-api-key", "cookie", "referer"] {
        assert!(
            h.get(leaked).is_none(),
            "{leaked} reached the other origin: {h:?}"
        );
    }
    assert_eq!(h["accept"], "application/json");
    assert_eq!(h["accept-language"], "de");
    assert_eq!(h["user-agent"], "caller/1");
}

/// An upstream that records what it sees and serves: `/redir?to=URL` (302), `/echo`,
/// `/link` (one item, `Link` to `next`), `/link2` (one item, last page), `/feed` (cursor
/// pages; the second one, with `move_to` set, is a 302 to that origin's `/feed`).
async fn upstream(seen: Seen, next: Option<String>, move_to: Option<String>) -> Upstream {
    let record = move |seen: Seen| {
        move |uri: Uri, headers: HeaderMap| {
            seen.record(&uri, &headers);
            async {}
        }
    };
    let s = seen.clone();
    let redir = move |uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| {
        let s = s.clone();
        async move {
            s.record(&uri, &headers);
            Redirect::to(q.get("to").map(String::as_str).unwrap_or("/echo"))
        }
    };
    let s = seen.clone();
    let link = move |uri: Uri, headers: HeaderMap| {
        let (s, next) = (s.clone(), next.clone());
        async move {
            s.record(&uri, &headers);
            let link = format!("<{}>; rel=\"next\"", next.unwrap_or_default());
            ([(header::LINK, link)], r#"[{"id": 1}]"#).into_response()
        }
    };
    let s = seen.clone();
    let feed = move |uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>| {
        let (s, move_to) = (s.clone(), move_to.clone());
        async move {
            s.record(&uri, &headers);
            let body = match (q.get("cursor"), move_to) {
                (None, _) => r#"{"items": [{"id": 1}], "next_cursor": "c2"}"#,
                (Some(_), Some(to)) => {
                    let to = format!("{to}/feed?{}", uri.query().unwrap_or_default());
                    return Redirect::to(&to).into_response();
                }
                (Some(_), None) => r#"{"items": [{"id": 2}], "next_cursor": null}"#,
            };
            Response::builder()
                .status(StatusCode::OK)
                .body(axum::body::Body::from(body))
                .unwrap()
        }
    };
    let echo = record(seen.clone());
    let last = record(seen);
    Upstream::start(
        Router::new()
            .route("/redir", get(redir))
            .route(
                "/echo",
                get(move |u, h| async move {
                    echo(u, h).await;
                    "{}"
                }),
            )
            .route("/link", get(link))
            .route(
                "/link2",
                get(move |u, h| async move {
                    last(u, h).await;
                    r#"[{"id": 2}]"#
                }),
            )
            .route("/feed", get(feed)),
    )
    .await
}

#[tokio::test]
async fn a_redirect_to_another_origin_carries_only_harmless_headers_and_no_referer() {
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let b = upstream(seen_b.clone(), None, None).await;
    let a = upstream(seen_a.clone(), None, None).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let to = b.url("/echo");
    let resp = client
        .fetch(FetchRequest {
            url: a.url(&format!("/redir?api_key=SECRET&to={to}")),
            headers: caller_headers(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((resp.status, resp.url), (200, to));
    assert_eq!(seen_a.headers_of("/redir")["x-api-key"], "SECRET");
    assert_only_harmless(&seen_b.headers_of("/echo"));
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_every_header_and_sends_no_referer() {
    let seen = Seen::default();
    let a = upstream(seen.clone(), None, None).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let resp = client
        .fetch(FetchRequest {
            url: a.url("/redir?api_key=SECRET&to=/echo"),
            headers: caller_headers(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status, 200);
    let h = seen.headers_of("/echo");
    assert_eq!(h["authorization"], "Bearer T2");
    assert_eq!(h["x-api-key"], "SECRET");
    assert!(h.get("referer").is_none(), "{h:?}");
}

#[tokio::test]
async fn a_link_header_next_page_on_another_origin_gets_only_harmless_headers() {
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let b = upstream(seen_b.clone(), None, None).await;
    let a = upstream(seen_a.clone(), Some(b.url("/link2")), None).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (pages, status) = read_all(
        &mut client,
        streamgate_client::proto::ListPagesRequest {
            style: PaginationStyle::LinkHeader as i32,
            headers: caller_headers(),
            ..list(a.url("/link"), 0)
        },
    )
    .await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(ids(&pages), vec![1, 2]);
    assert_eq!(seen_a.headers_of("/link")["authorization"], "Bearer T2");
    assert_only_harmless(&seen_b.headers_of("/link2"));
}

#[tokio::test]
async fn a_cursor_page_redirected_to_another_origin_gets_only_harmless_headers() {
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let b = upstream(seen_b.clone(), None, None).await;
    let a = upstream(seen_a.clone(), None, Some(b.url(""))).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (pages, status) = read_all(
        &mut client,
        streamgate_client::proto::ListPagesRequest {
            style: PaginationStyle::Cursor as i32,
            items_pointer: "/items".into(),
            headers: caller_headers(),
            ..list(a.url("/feed"), 0)
        },
    )
    .await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(ids(&pages), vec![1, 2]);
    assert_eq!(seen_a.headers_of("/feed?limit")["x-api-key"], "SECRET");
    assert_only_harmless(&seen_b.headers_of("/feed"));
}
