//! The target guard, end to end: internal addresses are refused with PERMISSION_DENIED naming
//! the address the caller wrote (or, for a name, the name and the class of its address),
//! before any connection is made, whether they come as literals, odd spellings,
//! resolved names or redirects. Only loopback addresses are ever used.

use crate::common;

use std::net::IpAddr;

use axum::Router;
use axum::extract::Query;
use axum::response::Redirect;
use axum::routing::get;
use common::fetch::{FixedLookup, Hits, client_for, get as get_req, guarded_config};
use common::{TestServer, Upstream};
use std::collections::HashMap;
use streamgate::Deps;
use tonic::Code;

/// `/ok` counts its hits; `/redirect?to=URL` answers 302 to URL.
async fn upstream(hits: Hits) -> Upstream {
    Upstream::start(
        Router::new()
            .route(
                "/ok",
                get(move || {
                    let hits = hits.clone();
                    async move {
                        hits.hit();
                        "ok"
                    }
                }),
            )
            .route(
                "/redirect",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    Redirect::to(q.get("to").map(String::as_str).unwrap_or("/ok"))
                }),
            ),
    )
    .await
}

#[tokio::test]
async fn loopback_spellings_are_refused_naming_the_address_and_never_connected() {
    let hits = Hits::default();
    let up = upstream(hits.clone()).await;
    let port = up.addr.port();
    let server = TestServer::start_with(guarded_config(&[])).await;
    let mut client = client_for(server.addr).await;
    for (url, named) in [
        (format!("http://127.0.0.1:{port}/ok"), "127.0.0.1"),
        (format!("http://2130706433:{port}/ok"), "127.0.0.1"),
        (format!("http://0x7f000001:{port}/ok"), "127.0.0.1"),
        (format!("http://127.1:{port}/ok"), "127.0.0.1"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/ok"),
            "::ffff:127.0.0.1",
        ),
        (format!("http://[::1]:{port}/ok"), "::1"),
        (format!("http://0.0.0.0:{port}/ok"), "0.0.0.0"),
    ] {
        let status = client.fetch(get_req(&url)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{url}: {status:?}");
        assert!(
            status.message().contains(named),
            "{url}: {}",
            status.message()
        );
    }
    assert_eq!(hits.get(), 0, "no refused request may reach the upstream");
}

#[tokio::test]
async fn localhost_resolved_by_the_system_is_refused_as_loopback() {
    let hits = Hits::default();
    let up = upstream(hits.clone()).await;
    let server = TestServer::start_with(guarded_config(&[])).await;
    let mut client = client_for(server.addr).await;
    let url = format!("http://localhost:{}/ok", up.addr.port());
    let status = client.fetch(get_req(url)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("loopback"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("localhost"),
        "{}",
        status.message()
    );
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_before_any_connect() {
    let hits = Hits::default();
    let up = upstream(hits.clone()).await;
    let lookup = FixedLookup::new(&[
        ("rebind.test", &["127.0.0.1"]),
        ("mixed.test", &["::1", "127.0.0.1"]),
    ]);
    let server = TestServer::start_with_deps(
        guarded_config(&[]),
        Deps {
            lookup,
            allowed_addresses: vec![],
        },
    )
    .await;
    let mut client = client_for(server.addr).await;
    for host in ["rebind.test", "mixed.test"] {
        let url = format!("http://{host}:{}/ok", up.addr.port());
        let status = client.fetch(get_req(url)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{host}: {status:?}");
        assert!(status.message().contains(host), "{}", status.message());
    }
    assert_eq!(hits.get(), 0);
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_to_loopback_is_refused() {
    let hits = Hits::default();
    let up = upstream(hits.clone()).await;
    let port = up.addr.port();
    let allowed: IpAddr = "127.0.0.1".parse().unwrap();
    let lookup = FixedLookup::new(&[("inner.test", &["127.0.0.2"])]);
    let server = TestServer::start_with_deps(
        guarded_config(&[]),
        Deps {
            lookup,
            allowed_addresses: vec![allowed],
        },
    )
    .await;
    let mut client = client_for(server.addr).await;

    // The allowed host itself is reachable, redirects within it too.
    let ok = client
        .fetch(get_req(up.url("/ok")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.status, 200);
    let ok = client
        .fetch(get_req(up.url("/redirect?to=/ok")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ok.status, ok.url), (200, up.url("/ok")));
    assert_eq!(hits.get(), 2);

    for (target, named) in [
        (format!("http://127.0.0.2:{port}/ok"), "127.0.0.2"),
        (format!("http://[::1]:{port}/ok"), "::1"),
        (format!("http://2130706434:{port}/ok"), "127.0.0.2"),
        // A name is reported by the name and the class of its address, never the address:
        // a caller must not map internal names to addresses.
        (
            format!("http://inner.test:{port}/ok"),
            "host inner.test resolves to a loopback address",
        ),
    ] {
        let url = up.url(&format!("/redirect?to={target}"));
        let status = client.fetch(get_req(url)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{target}: {status:?}"
        );
        assert!(
            status.message().contains(named),
            "{target}: {}",
            status.message()
        );
        if target.contains("inner.test") {
            assert!(
                !status.message().contains("127.0.0.2"),
                "{}",
                status.message()
            );
        }
    }
    assert_eq!(hits.get(), 2, "no refused redirect reached an upstream");
}

#[tokio::test]
async fn a_redirect_to_another_scheme_is_refused() {
    let up = upstream(Hits::default()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let url = up.url("/redirect?to=ftp://127.0.0.1/file");
    let status = client.fetch(get_req(url)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("ftp"), "{}", status.message());
}

#[tokio::test]
async fn allow_private_networks_lets_loopback_through() {
    let hits = Hits::default();
    let up = upstream(hits.clone()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let port = up.addr.port();
    for url in [
        up.url("/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
    ] {
        let resp = client.fetch(get_req(&url)).await.unwrap().into_inner();
        assert_eq!(resp.status, 200, "{url}");
        assert_eq!(resp.body, b"ok");
    }
    assert_eq!(hits.get(), 3);
}

#[tokio::test]
async fn redirects_past_the_limit_return_the_last_redirect_response() {
    let up = upstream(Hits::default()).await;
    let server = TestServer::start_with_args(&["--fetch-max-redirects", "1"]).await;
    let mut client = client_for(server.addr).await;
    let two_hops = up.url(&format!(
        "/redirect?to={}",
        up.url("/redirect?to=/ok")
            .replace('?', "%3F")
            .replace('=', "%3D")
            .replace('/', "%2F")
            .replace(':', "%3A")
    ));
    let resp = client.fetch(get_req(two_hops)).await.unwrap().into_inner();
    assert_eq!(resp.status, 303, "stops at the second redirect");
    let one_hop = client
        .fetch(get_req(up.url("/redirect?to=/ok")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one_hop.status, 200);
}
