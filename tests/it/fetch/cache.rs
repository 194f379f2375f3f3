//! The shared HTTP cache (`--fetch-cache-bytes`): what is stored and for whom, `Vary`,
//! revalidation, invalidation by unsafe methods, the cache modes, `Cache-Status`, and the
//! byte bound under a flood of distinct URLs.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::fetch::{client_for, get as get_req, ids, list, read_all};
use common::metrics::Metered;
use common::{TestServer, Upstream};
use streamgate_client::proto::{CacheMode, FetchRequest, FetchResponse, Header, PaginationStyle};

/// One MiB of cache: room for everything these tests store.
const CACHE: [&str; 2] = ["--fetch-cache-bytes", "1048576"];

/// Requests each path of the origin received, by method and path.
#[derive(Clone, Default)]
pub(super) struct Seen(Arc<Mutex<HashMap<String, usize>>>);

impl Seen {
    pub(super) fn count(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub(super) fn hit(&self, key: String) -> usize {
        let mut m = self.0.lock().unwrap();
        let n = m.entry(key).or_default();
        *n += 1;
        *n
    }
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An origin whose answers say what a cache may do with them; every body names the request
/// number and what the request carried, so an answer given to the wrong caller shows.
async fn origin(seen: Seen) -> Upstream {
    let handler = move |Path(kind): Path<String>, req: Request| {
        let seen = seen.clone();
        async move {
            let method = req.method().as_str().to_owned();
            let h = req.headers().clone();
            let n = seen.hit(format!("{method} /{kind}"));
            let body = format!(
                "{kind} #{n} auth={} cookie={} lang={}",
                header(&h, "authorization"),
                header(&h, "cookie"),
                header(&h, "accept-language")
            );
            let cc = |v: &'static str| [("cache-control", v)];
            match kind.as_str() {
                "fresh" | "item" => (cc("max-age=60"), body).into_response(),
                "private" => (cc("private, max-age=60"), body).into_response(),
                "no-store" => (cc("no-store, max-age=60"), body).into_response(),
                "cookie" => (
                    [("cache-control", "max-age=60"), ("set-cookie", "session=1")],
                    body,
                )
                    .into_response(),
                "public-auth" => (cc("public, max-age=60"), body).into_response(),
                "vary" => (
                    [("cache-control", "max-age=60"), ("vary", "accept-language")],
                    body,
                )
                    .into_response(),
                "etag" => {
                    if header(&h, "if-none-match") == "\"v1\"" {
                        seen.hit("304 /etag".into());
                        (StatusCode::NOT_MODIFIED, [("etag", "\"v1\"")]).into_response()
                    } else {
                        ([("cache-control", "max-age=0"), ("etag", "\"v1\"")], body).into_response()
                    }
                }
                "page" => (
                    [
                        ("cache-control", "max-age=60"),
                        ("content-type", "application/json"),
                    ],
                    format!("[{{\"id\": {n}}}]"),
                )
                    .into_response(),
                "redirect" => (
                    StatusCode::FOUND,
                    [("location", "/fresh"), ("cache-control", "no-store")],
                )
                    .into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    Upstream::start(Router::new().route("/{kind}", get(handler.clone()).post(handler))).await
}

fn with_headers(url: String, headers: &[(&str, &str)]) -> FetchRequest {
    FetchRequest {
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        ..get_req(url)
    }
}

fn in_mode(url: String, mode: CacheMode) -> FetchRequest {
    FetchRequest {
        cache_mode: mode.into(),
        ..get_req(url)
    }
}

fn body(r: &FetchResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn response_header<'a>(r: &'a FetchResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[tokio::test]
async fn a_fresh_answer_is_served_from_the_cache_with_cache_status_hit_and_an_age() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let first = client
        .fetch(get_req(up.url("/fresh")))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .fetch(get_req(up.url("/fresh")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.count("GET /fresh"),
        1,
        "the second answer came from the cache"
    );
    assert_eq!(body(&first), body(&second));
    assert!(
        first
            .cache_status
            .starts_with("streamgate; fwd=uri-miss; fwd-status=200; ttl=")
            && first.cache_status.ends_with("; stored"),
        "{}",
        first.cache_status
    );
    assert!(
        second.cache_status.starts_with("streamgate; hit; ttl="),
        "{}",
        second.cache_status
    );
    assert_eq!(
        response_header(&second, "cache-status"),
        Some(second.cache_status.as_str())
    );
    assert!(
        response_header(&second, "age").is_some(),
        "{:?}",
        second.headers
    );
}

#[tokio::test]
async fn the_cache_is_off_by_default_and_answers_carry_no_cache_status() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    for _ in 0..2 {
        let r = client
            .fetch(get_req(up.url("/fresh")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.cache_status, "");
        assert_eq!(response_header(&r, "cache-status"), None);
    }
    assert_eq!(seen.count("GET /fresh"), 2);
}

#[tokio::test]
async fn private_no_store_and_set_cookie_answers_are_never_stored() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    for kind in ["private", "no-store", "cookie"] {
        let a = client
            .fetch(get_req(up.url(&format!("/{kind}"))))
            .await
            .unwrap()
            .into_inner();
        let b = client
            .fetch(get_req(up.url(&format!("/{kind}"))))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            seen.count(&format!("GET /{kind}")),
            2,
            "{kind} went upstream twice"
        );
        assert_ne!(body(&a), body(&b), "{kind}: each caller got its own answer");
        assert!(
            !b.cache_status.starts_with("streamgate; hit"),
            "{kind}: {}",
            b.cache_status
        );
        assert!(
            !a.cache_status.contains("stored"),
            "{kind}: {}",
            a.cache_status
        );
    }
}

#[tokio::test]
async fn answers_never_cross_credentials_even_when_public() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let client = client_for(server.addr).await;
    let url = up.url("/public-auth");
    let fetch = |headers: &'static [(&'static str, &'static str)]| {
        let mut client = client.clone();
        let url = url.clone();
        async move {
            body(
                &client
                    .fetch(with_headers(url, headers))
                    .await
                    .unwrap()
                    .into_inner(),
            )
        }
    };
    let alice = fetch(&[("authorization", "Bearer alice")]).await;
    let bob = fetch(&[("authorization", "Bearer bob")]).await;
    let cookie = fetch(&[("cookie", "sid=carol")]).await;
    let anonymous = fetch(&[]).await;
    assert!(alice.contains("auth=Bearer alice"), "{alice}");
    assert!(bob.contains("auth=Bearer bob"), "{bob}");
    assert!(cookie.contains("cookie=sid=carol"), "{cookie}");
    assert!(anonymous.contains("auth= cookie= "), "{anonymous}");
    assert_eq!(
        seen.count("GET /public-auth"),
        4,
        "no one got another's answer"
    );
    // The same credentials again: the stored (public) answer is theirs to reuse.
    assert_eq!(fetch(&[("authorization", "Bearer alice")]).await, alice);
    assert_eq!(fetch(&[]).await, anonymous);
    assert_eq!(seen.count("GET /public-auth"), 4);
}

#[tokio::test]
async fn vary_picks_the_variant_stored_for_the_same_header_value() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let client = client_for(server.addr).await;
    let lang = |l: &'static str| {
        let req = with_headers(up.url("/vary"), &[("accept-language", l)]);
        let mut client = client.clone();
        async move { client.fetch(req).await.unwrap().into_inner() }
    };
    let en = lang("en").await;
    let fr = lang("fr").await;
    let en_again = lang("en").await;
    let fr_again = lang("fr").await;
    assert!(body(&en).contains("lang=en") && body(&fr).contains("lang=fr"));
    assert_eq!(body(&en_again), body(&en));
    assert_eq!(body(&fr_again), body(&fr));
    assert!(
        fr.cache_status.contains("fwd=vary-miss"),
        "{}",
        fr.cache_status
    );
    assert_eq!(
        seen.count("GET /vary"),
        2,
        "one upstream request per variant"
    );
}

#[tokio::test]
async fn a_stale_answer_is_revalidated_with_its_etag_and_a_304_reuses_the_body() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let first = client
        .fetch(get_req(up.url("/etag")))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .fetch(get_req(up.url("/etag")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.count("304 /etag"),
        1,
        "the second request was conditional"
    );
    assert_eq!(
        second.status, 200,
        "the caller gets the stored answer, not the 304"
    );
    assert_eq!(body(&second), body(&first));
    assert!(
        second.cache_status.contains("fwd=stale; fwd-status=304"),
        "{}",
        second.cache_status
    );
}

#[tokio::test]
async fn an_unsafe_method_invalidates_the_stored_answer() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    client.fetch(get_req(up.url("/fresh"))).await.unwrap();
    client.fetch(get_req(up.url("/fresh"))).await.unwrap();
    assert_eq!(seen.count("GET /fresh"), 1);
    let post = FetchRequest {
        method: "POST".into(),
        ..get_req(up.url("/fresh"))
    };
    let posted = client.fetch(post).await.unwrap().into_inner();
    assert!(
        posted.cache_status.contains("fwd=method"),
        "{}",
        posted.cache_status
    );
    client.fetch(get_req(up.url("/fresh"))).await.unwrap();
    assert_eq!(
        seen.count("GET /fresh"),
        2,
        "the GET after the POST went upstream"
    );
}

#[tokio::test]
async fn each_cache_mode_reads_and_writes_the_store_as_the_fetch_standard_says() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let client = client_for(server.addr).await;
    let call = |mode: CacheMode| {
        let req = in_mode(up.url("/fresh"), mode);
        let mut client = client.clone();
        async move { client.fetch(req).await.unwrap().into_inner() }
    };
    let miss = call(CacheMode::OnlyIfCached).await;
    assert_eq!(miss.status, 504, "only-if-cached with nothing stored");
    assert_eq!(seen.count("GET /fresh"), 0, "and nothing was sent");
    call(CacheMode::NoStore).await;
    assert_eq!(
        call(CacheMode::OnlyIfCached).await.status,
        504,
        "no-store stored nothing"
    );
    call(CacheMode::Reload).await;
    assert_eq!(seen.count("GET /fresh"), 2);
    let stored = call(CacheMode::OnlyIfCached).await;
    assert_eq!(stored.status, 200, "reload stored its answer");
    assert!(body(&stored).contains("#2"), "{}", body(&stored));
    call(CacheMode::Default).await;
    call(CacheMode::ForceCache).await;
    assert_eq!(
        seen.count("GET /fresh"),
        2,
        "default and force-cache used the store"
    );
    let revalidated = call(CacheMode::NoCache).await;
    assert_eq!(seen.count("GET /fresh"), 3, "no-cache asked the origin");
    assert!(
        revalidated.cache_status.contains("fwd=request"),
        "{}",
        revalidated.cache_status
    );
    call(CacheMode::Reload).await;
    assert_eq!(seen.count("GET /fresh"), 4, "reload never reads the store");
}

#[tokio::test]
async fn a_redirect_is_the_answer_when_the_call_does_not_follow_redirects() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let manual = FetchRequest {
        no_follow_redirects: true,
        ..get_req(up.url("/redirect"))
    };
    let r = client.fetch(manual).await.unwrap().into_inner();
    assert_eq!(r.status, 302);
    assert_eq!(response_header(&r, "location"), Some("/fresh"));
    assert_eq!(seen.count("GET /fresh"), 0);
    let followed = client
        .fetch(get_req(up.url("/redirect")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(followed.status, 200);
    assert_eq!(seen.count("GET /fresh"), 1);
}

#[tokio::test]
async fn a_flood_of_distinct_urls_stays_within_the_cache_bytes() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let limit = 64 * 1024;
    let server = Metered::start(&[
        "--fetch-cache-bytes",
        &limit.to_string(),
        "--fetch-cache-max-entry-bytes",
        "4096",
    ])
    .await;
    let mut client = client_for(server.server.addr).await;
    // 600 distinct URLs of ~1 KiB stored each: several times the cache's size.
    for i in 0..600 {
        let url = format!("{}?n={i}&pad={}", up.url("/item"), "x".repeat(400));
        let r = client.fetch(get_req(url)).await.unwrap().into_inner();
        assert!(r.cache_status.contains("stored"), "{}", r.cache_status);
    }
    let m = server.scrape().await;
    let stored = m.value("streamgate_fetch_cache_stored_bytes", &[]);
    assert!(
        stored > 0.0 && stored <= limit as f64,
        "stored {stored} of {limit}"
    );
    assert!(m.value("streamgate_fetch_cache_evictions_total", &[]) > 0.0);
    assert_eq!(m.value("streamgate_fetch_cache_misses_total", &[]), 600.0);
}

#[tokio::test]
async fn a_listpages_page_read_again_within_its_freshness_comes_from_the_cache() {
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = TestServer::start_with_args(&CACHE).await;
    let mut client = client_for(server.addr).await;
    let req = || streamgate_client::proto::ListPagesRequest {
        style: PaginationStyle::LinkHeader.into(),
        ..list(up.url("/page"), 10)
    };
    let (first, end) = read_all(&mut client, req()).await;
    assert!(end.is_none(), "{end:?}");
    let (again, end) = read_all(&mut client, req()).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&first), [1]);
    assert_eq!(ids(&again), [1], "the stored page, not a new request");
    assert_eq!(seen.count("GET /page"), 1);
    // A Fetch of the same URL shares the stored page too.
    let fetched = client
        .fetch(get_req(up.url("/page")))
        .await
        .unwrap()
        .into_inner();
    assert!(
        fetched.cache_status.starts_with("streamgate; hit"),
        "{}",
        fetched.cache_status
    );
}
