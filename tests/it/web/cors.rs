//! CORS for gRPC-Web, over the wire: off by default; a listed origin gets its preflight
//! answered and its calls' gRPC status exposed; an origin not listed gets no CORS header, so
//! a browser never sends its call; Private Network Access is granted to a listed origin only,
//! never to `*`. (The browser side of this is in the TypeScript client's
//! Chromium tests.)

use crate::common;

use std::time::Duration;

use common::TestServer;

const FETCH: &str = "/streamgate.v1.FetchService/Fetch";
const PAGE_ORIGIN: &str = "http://127.0.0.1:8123";

fn http1_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client builds")
}

/// The preflight a browser sends before a gRPC-Web call from `origin`.
async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    preflight_with(server, origin, &[]).await
}

/// The preflight Chromium sends from a public page to a server on a private or loopback
/// address (Private Network Access).
async fn private_network_preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    preflight_with(
        server,
        origin,
        &[("access-control-request-private-network", "true")],
    )
    .await
}

async fn preflight_with(
    server: &TestServer,
    origin: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req =
        http1_client().request(reqwest::Method::OPTIONS, format!("{}{FETCH}", server.url()));
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    req.header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent,grpc-timeout",
        )
        .send()
        .await
        .expect("the preflight gets an answer")
}

fn cors_headers(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing: {:?}", res.headers()))
        .to_str()
        .expect("a text header")
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_answered_with_the_grpc_web_headers() {
    let server = TestServer::start_with_args(&["--cors-allow-origin", PAGE_ORIGIN]).await;
    let res = preflight(&server, PAGE_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), PAGE_ORIGIN);
    assert!(header(&res, "access-control-allow-methods").contains("POST"));
    let allowed = header(&res, "access-control-allow-headers");
    for name in [
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "content-type",
        "authorization",
    ] {
        assert!(allowed.contains(name), "{name} not allowed: {allowed}");
    }
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "no credentials unless asked for"
    );
}

#[tokio::test]
async fn a_preflight_from_an_unlisted_origin_gets_no_cors_header() {
    let server = TestServer::start_with_args(&["--cors-allow-origin", PAGE_ORIGIN]).await;
    for origin in ["http://127.0.0.1:8124", "https://127.0.0.1:8123", "null"] {
        let res = preflight(&server, origin).await;
        assert_eq!(res.status().as_u16(), 403, "{origin}");
        assert!(
            cors_headers(&res).is_empty(),
            "{origin}: {:?}",
            res.headers()
        );
    }
}

#[tokio::test]
async fn without_the_flag_cors_is_off() {
    let server = TestServer::start().await;
    let res = preflight(&server, PAGE_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
}

#[tokio::test]
async fn a_call_from_a_listed_origin_exposes_grpc_status_and_message() {
    let server = TestServer::start_with_args(&[
        "--cors-allow-origin",
        PAGE_ORIGIN,
        "--cors-allow-origin",
        "http://127.0.0.1:9999",
        "--cors-allow-credentials",
    ])
    .await;
    // An empty Fetch request (a zero-length frame): INVALID_ARGUMENT, status in the headers.
    let res = http1_client()
        .post(format!("{}{FETCH}", server.url()))
        .header("origin", PAGE_ORIGIN)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("an answer");
    assert_eq!(header(&res, "access-control-allow-origin"), PAGE_ORIGIN);
    assert_eq!(header(&res, "access-control-allow-credentials"), "true");
    let exposed = header(&res, "access-control-expose-headers");
    for name in [
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "streamgate-upstream",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    assert_eq!(header(&res, "grpc-status"), "3");
}

#[tokio::test]
async fn the_wildcard_allows_any_origin() {
    let server = TestServer::start_with_args(&["--cors-allow-origin", "*"]).await;
    let res = preflight(&server, "http://localhost:3000").await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn the_wildcard_never_grants_private_network_access() {
    let server = TestServer::start_with_args(&["--cors-allow-origin", "*"]).await;
    let res = private_network_preflight(&server, "https://public.example").await;
    // The preflight itself is answered (the wildcard allows the origin) ...
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    // ... but not the step onto the private network: `*` would invite every public page.
    assert!(
        res.headers()
            .get("access-control-allow-private-network")
            .is_none(),
        "{:?}",
        res.headers()
    );
}

#[tokio::test]
async fn only_a_listed_origin_is_granted_private_network_access() {
    let server = TestServer::start_with_args(&["--cors-allow-origin", PAGE_ORIGIN]).await;
    let res = private_network_preflight(&server, PAGE_ORIGIN).await;
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(header(&res, "access-control-allow-private-network"), "true");
    // Granted only when the browser asks for it.
    let plain = preflight(&server, PAGE_ORIGIN).await;
    assert!(
        plain
            .headers()
            .get("access-control-allow-private-network")
            .is_none(),
        "{:?}",
        plain.headers()
    );
    let other = private_network_preflight(&server, "https://public.example").await;
    assert_eq!(other.status().as_u16(), 403);
    assert!(cors_headers(&other).is_empty(), "{:?}", other.headers());
}
