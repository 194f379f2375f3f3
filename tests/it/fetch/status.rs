//! Fetch's status mapping: upstream 4xx/5xx are successful calls carrying the status; bad
//! requests are INVALID_ARGUMENT naming the field; unreachable upstreams UNAVAILABLE; slow
//! ones DEADLINE_EXCEEDED.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use common::fetch::{FixedLookup, client_for, get as get_req, guarded_config};
use common::{TestServer, Upstream, free_port};
use streamgate::Deps;
use streamgate_client::proto::{FetchRequest, Header};
use tonic::Code;

async fn upstream() -> Upstream {
    Upstream::start(
        Router::new()
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, "no such thing") }),
            )
            .route(
                "/broken",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route(
                "/echo",
                any(
                    |method: Method, headers: HeaderMap, body: Bytes| async move {
                        let seen: Vec<String> = headers
                            .get_all("x-tag")
                            .iter()
                            .map(|v| v.to_str().unwrap_or("?").to_string())
                            .collect();
                        let mut out = HeaderMap::new();
                        out.append("x-out", "one".parse().unwrap());
                        out.append("x-out", "two".parse().unwrap());
                        (
                            out,
                            format!(
                                "{method} {} {}",
                                seen.join(","),
                                String::from_utf8_lossy(&body)
                            ),
                        )
                            .into_response()
                    },
                ),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            ),
    )
    .await
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn upstream_4xx_and_5xx_are_successful_calls_carrying_the_status() {
    let up = upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let r = client
        .fetch(get_req(up.url("/missing")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"no such thing"[..]));
    let r = client
        .fetch(get_req(up.url("/broken")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.status, r.body.as_slice()), (500, &b"boom"[..]));
    assert_eq!(r.url, up.url("/broken"));
    assert!(r.elapsed.is_some());
}

#[tokio::test]
async fn method_body_and_repeated_headers_pass_through_in_order() {
    let up = upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = FetchRequest {
        url: up.url("/echo"),
        method: "PUT".into(),
        headers: vec![header("x-tag", "a"), header("x-tag", "b")],
        body: b"payload".to_vec(),
        ..Default::default()
    };
    let r = client.fetch(req).await.unwrap().into_inner();
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), "PUT a,b payload");
    let outs: Vec<&str> = r
        .headers
        .iter()
        .filter(|h| h.name == "x-out")
        .map(|h| h.value.as_str())
        .collect();
    assert_eq!(outs, ["one", "two"]);
}

#[tokio::test]
async fn malformed_requests_are_invalid_argument_naming_the_field() {
    let up = upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let cases = [
        (get_req(""), "url"),
        (get_req("not a url"), "url"),
        (get_req("ftp://127.0.0.1/x"), "url"),
        (get_req("file:///etc/passwd"), "url"),
        (
            FetchRequest {
                method: "GE T".into(),
                ..get_req(up.url("/echo"))
            },
            "method",
        ),
        (
            FetchRequest {
                method: "CONNECT".into(),
                ..get_req(up.url("/echo"))
            },
            "method",
        ),
        (
            FetchRequest {
                headers: vec![header("x-ok", "1"), header("bad name", "v")],
                ..get_req(up.url("/echo"))
            },
            "headers[1].name",
        ),
        (
            FetchRequest {
                headers: vec![header("x-a", "line\nbreak")],
                ..get_req(up.url("/echo"))
            },
            "headers[0].value",
        ),
        (
            FetchRequest {
                headers: vec![header("Host", "evil")],
                ..get_req(up.url("/echo"))
            },
            "headers[0].name",
        ),
        (
            FetchRequest {
                timeout: Some(prost_types::Duration {
                    seconds: -1,
                    nanos: 0,
                }),
                ..get_req(up.url("/echo"))
            },
            "timeout",
        ),
    ];
    for (req, field) in cases {
        let status = client.fetch(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let url = format!("http://127.0.0.1:{}/", free_port());
    let status = client.fetch(get_req(url)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_connection_closed_without_a_response_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let status = client
        .fetch(get_req(format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    closer.abort();
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_unavailable_naming_it() {
    let lookup = FixedLookup::new(&[]);
    let server = TestServer::start_with_deps(
        guarded_config(&[]),
        Deps {
            lookup,
            allowed_addresses: vec![],
        },
    )
    .await;
    let mut client = client_for(server.addr).await;
    let status = client
        .fetch(get_req("http://nowhere.test/"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("nowhere.test"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn the_request_timeout_gives_deadline_exceeded() {
    let up = upstream().await;
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
    assert!(status.message().contains("/slow"), "{}", status.message());
}

#[tokio::test]
async fn the_grpc_deadline_bounds_a_longer_request_timeout() {
    let up = upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let mut req = tonic::Request::new(FetchRequest {
        timeout: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        ..get_req(up.url("/slow"))
    });
    req.set_timeout(Duration::from_millis(300));
    let status = client.fetch(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("/slow"),
        "the server's own status: {}",
        status.message()
    );
}

/// A loopback listener that never accepts, with a backlog of 1 already filled: the kernel
/// drops every further SYN to it, so a connect hangs without any packet leaving loopback.
/// Returns the listener and the filling connections (keep both alive).
async fn black_hole() -> (tokio::net::TcpListener, Vec<tokio::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Linux queues backlog + 1 completed connections; a third SYN is dropped.
    let mut fill = Vec::new();
    for _ in 0..2 {
        fill.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let probe = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(addr),
    )
    .await;
    assert!(
        probe.is_err(),
        "a connect to the full listener should hang on this kernel, got {probe:?}"
    );
    (listener, fill)
}

#[tokio::test]
async fn a_connect_that_hangs_past_the_connect_timeout_is_deadline_exceeded_naming_the_connect() {
    let (listener, _fill) = black_hole().await;
    let addr = listener.local_addr().unwrap();
    let server = TestServer::start_with_args(&["--fetch-connect-timeout", "300ms"]).await;
    let mut client = client_for(server.addr).await;
    let req = FetchRequest {
        timeout: Some(prost_types::Duration {
            seconds: 20,
            nanos: 0,
        }),
        ..get_req(format!("http://{addr}/"))
    };
    let started = std::time::Instant::now();
    let status = client.fetch(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("connect timeout")
            && status.message().contains(&addr.to_string()),
        "{}",
        status.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered by the connect timeout, not the 20 s request timeout"
    );
}
