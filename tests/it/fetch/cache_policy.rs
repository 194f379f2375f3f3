//! The policy's `fetch_cache` key: a principal with `fetch_cache = false` is never answered
//! from the shared cache and stores nothing in it, for Fetch and ListPages alike; one with
//! `true`, or without the key, uses it.

use crate::common;

use axum::Router;
use axum::routing::get;
use common::edge::{Files, bearer, sha256_hex};
use common::fetch::{client_for, get as get_req, ids, list};
use common::{TestServer, Upstream};
use futures::StreamExt;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::{FetchResponse, PaginationStyle};
use tonic::transport::Channel;

use super::cache::Seen;

const UNCACHED: &str = "uncached-token-0123456789";
const CACHED: &str = "cached-token-0123456789";
const UNSAID: &str = "unsaid-token-0123456789";

/// Three principals, every service open to each: `uncached` (`fetch_cache = false`),
/// `cached` (`true`) and `unsaid` (no key).
fn policy() -> String {
    format!(
        r#"
[principals.uncached]
tokens_sha256 = ["{}"]
services = ["*"]
fetch_cache = false
[principals.cached]
tokens_sha256 = ["{}"]
services = ["*"]
fetch_cache = true
[principals.unsaid]
tokens_sha256 = ["{}"]
services = ["*"]
"#,
        sha256_hex(UNCACHED),
        sha256_hex(CACHED),
        sha256_hex(UNSAID)
    )
}

/// `/fresh`: cacheable for a minute, its body the request's number; `/page`: the same as a
/// one-item JSON page.
async fn origin(seen: Seen) -> Upstream {
    let (fresh_seen, page_seen) = (seen.clone(), seen);
    Upstream::start(
        Router::new()
            .route(
                "/fresh",
                get(move || {
                    let n = fresh_seen.hit("GET /fresh".into());
                    async move { ([("cache-control", "max-age=60")], format!("fresh #{n}")) }
                }),
            )
            .route(
                "/page",
                get(move || {
                    let n = page_seen.hit("GET /page".into());
                    async move {
                        (
                            [
                                ("cache-control", "max-age=60"),
                                ("content-type", "application/json"),
                            ],
                            format!("[{{\"id\": {n}}}]"),
                        )
                    }
                }),
            ),
    )
    .await
}

async fn start(files: &Files) -> TestServer {
    let path = files.write("policy.toml", &policy());
    TestServer::start_with_args(&["--policy", &path, "--fetch-cache-bytes", "1048576"]).await
}

async fn fetch(client: &mut FetchServiceClient<Channel>, url: &str, token: &str) -> FetchResponse {
    client
        .fetch(bearer(get_req(url), token))
        .await
        .unwrap_or_else(|s| panic!("Fetch of {url} as {token}: {s:?}"))
        .into_inner()
}

/// The item ids of one whole ListPages of `url`, read as `token`.
async fn pages(client: &mut FetchServiceClient<Channel>, url: &str, token: &str) -> Vec<u64> {
    let req = streamgate_client::proto::ListPagesRequest {
        style: PaginationStyle::LinkHeader.into(),
        ..list(url, 10)
    };
    let mut stream = client
        .list_pages(bearer(req, token))
        .await
        .unwrap_or_else(|s| panic!("ListPages of {url} as {token}: {s:?}"))
        .into_inner();
    let mut read = Vec::new();
    while let Some(page) = stream.next().await {
        read.push(page.unwrap_or_else(|s| panic!("a page of {url} as {token}: {s:?}")));
    }
    ids(&read)
}

#[tokio::test]
async fn fetch_cache_false_keeps_a_principal_out_of_the_cache_both_ways() {
    let files = Files::new();
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = start(&files).await;
    let mut client = client_for(server.addr).await;
    let url = up.url("/fresh");

    // Nothing stored for it: each of its calls goes upstream.
    for n in 1..=2 {
        let r = fetch(&mut client, &url, UNCACHED).await;
        assert_eq!(String::from_utf8_lossy(&r.body), format!("fresh #{n}"));
        assert_eq!(r.cache_status, "streamgate; fwd=bypass; detail=policy");
    }
    assert_eq!(seen.count("GET /fresh"), 2);

    // So the first principal allowed the cache finds nothing stored, and stores its answer.
    let stored = fetch(&mut client, &url, CACHED).await;
    assert!(
        stored.cache_status.starts_with("streamgate; fwd=uri-miss")
            && stored.cache_status.ends_with("; stored"),
        "{}",
        stored.cache_status
    );
    assert_eq!(seen.count("GET /fresh"), 3);

    // A stored answer exists now, and is still never given to the principal without cache.
    let r = fetch(&mut client, &url, UNCACHED).await;
    assert_eq!(String::from_utf8_lossy(&r.body), "fresh #4");
    assert_eq!(r.cache_status, "streamgate; fwd=bypass; detail=policy");
    assert_eq!(seen.count("GET /fresh"), 4);
}

#[tokio::test]
async fn fetch_cache_true_or_absent_lets_a_principal_use_the_cache() {
    let files = Files::new();
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = start(&files).await;
    let mut client = client_for(server.addr).await;
    let url = up.url("/fresh");

    let first = fetch(&mut client, &url, CACHED).await;
    assert!(
        first.cache_status.ends_with("; stored"),
        "{}",
        first.cache_status
    );
    for token in [CACHED, UNSAID] {
        let r = fetch(&mut client, &url, token).await;
        assert!(
            r.cache_status.starts_with("streamgate; hit"),
            "{token}: {}",
            r.cache_status
        );
        assert_eq!(r.body, first.body, "{token}: the stored answer");
    }
    assert_eq!(
        seen.count("GET /fresh"),
        1,
        "one upstream request for all three calls"
    );
}

#[tokio::test]
async fn fetch_cache_false_applies_to_list_pages_too() {
    let files = Files::new();
    let seen = Seen::default();
    let up = origin(seen.clone()).await;
    let server = start(&files).await;
    let mut client = client_for(server.addr).await;
    let url = up.url("/page");

    assert_eq!(pages(&mut client, &url, UNCACHED).await, [1]);
    assert_eq!(
        pages(&mut client, &url, UNCACHED).await,
        [2],
        "not stored for it"
    );
    assert_eq!(pages(&mut client, &url, UNSAID).await, [3], "nor by it");
    assert_eq!(
        pages(&mut client, &url, UNSAID).await,
        [3],
        "stored by a principal with the cache"
    );
    assert_eq!(
        pages(&mut client, &url, UNCACHED).await,
        [4],
        "and never read by one without"
    );
    assert_eq!(seen.count("GET /page"), 4);
}
