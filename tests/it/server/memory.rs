//! What a caller can make the server hold: LockService, health and reflection take request
//! messages fitting their purpose (`--control-max-message-bytes`, 64 KiB by default) instead of
//! tonic's 4 MiB, so a half-sent message cannot make the server buffer megabytes for a call
//! that needs no credential; a larger message is refused with RESOURCE_EXHAUSTED naming the
//! flag and both sizes, as soon as its length prefix arrives (before any of it is buffered),
//! and the server keeps serving. Messages received in part are bounded per connection and
//! server-wide (RESOURCE_EXHAUSTED naming the flag).

use crate::common;

use common::TestServer;
use common::lock::{acquire_req, client_for, unique};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn lock_and_health_refuse_a_message_beyond_the_control_limit() {
    let server = TestServer::start().await;
    let mut locks = client_for(&server).await;
    let huge = "x".repeat(100 * 1024);
    let refused = locks
        .acquire_lock(acquire_req(&huge, 1_000, 0))
        .await
        .expect_err("a 100 KiB lock request is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("bytes is over --control-max-message-bytes (65536)"),
        "{refused:?}"
    );
    let mut health = HealthClient::new(server.channel().await);
    let refused = health
        .check(HealthCheckRequest { service: huge })
        .await
        .expect_err("a 100 KiB health request is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("bytes is over --control-max-message-bytes (65536)"),
        "{refused:?}"
    );
    // The server keeps serving, on the same connections.
    locks
        .acquire_lock(acquire_req(&unique("after"), 1_000, 0))
        .await
        .expect("an ordinary lock request still succeeds");
    health
        .check(HealthCheckRequest::default())
        .await
        .expect("health still answers");
}

#[tokio::test]
async fn the_control_limit_follows_its_flag() {
    let server = TestServer::start_with_args(&["--control-max-message-bytes", "1024"]).await;
    let mut health = HealthClient::new(server.channel().await);
    let refused = health
        .check(HealthCheckRequest {
            service: "s".repeat(2048),
        })
        .await
        .expect_err("a 2 KiB request is over a 1 KiB limit");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("bytes is over --control-max-message-bytes (1024)"),
        "{refused:?}"
    );
    let small = health
        .check(HealthCheckRequest {
            service: "s".repeat(512),
        })
        .await
        .expect_err("an unknown service");
    assert_eq!(
        small.code(),
        Code::NotFound,
        "under the limit it reaches health"
    );
}

/// Starts a Fetch call over `client` (HTTP/2, one connection per client) whose request
/// message announces `announced` bytes and sends only `sent` of them, then holds the body
/// open; returns the call's HTTP response (its headers come once the server answers) and
/// the sender keeping the body open.
async fn half_sent_fetch(
    client: &reqwest::Client,
    server: &TestServer,
    announced: u32,
    sent: usize,
) -> (
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut first = vec![0u8];
    first.extend_from_slice(&announced.to_be_bytes());
    first.extend(std::iter::repeat_n(b'x', sent));
    tx.send(Ok(bytes::Bytes::from(first)))
        .await
        .expect("queue the partial message");
    let call = client
        .post(format!("{}/streamgate.v1.FetchService/Fetch", server.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .send();
    (tokio::spawn(call), tx)
}

/// The grpc-status and grpc-message of a trailers-only answer.
fn status_of(res: &reqwest::Response) -> (String, String) {
    let get = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    (get("grpc-status"), get("grpc-message"))
}

/// The first of two calls the server answers (the one whose bytes arrived second, past the
/// budget), failing the test after 10 s: neither is ever answered without the budget.
async fn first_answer(
    mut a: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    mut b: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) -> reqwest::Response {
    let either = async {
        tokio::select! {
            r = &mut a => r,
            r = &mut b => r,
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), either)
        .await
        .expect("the call over the budget is answered, not left hanging")
        .expect("the call's task did not panic")
        .expect("an HTTP answer")
}

/// A client speaking HTTP/2 without TLS, one connection for all its calls.
fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

#[tokio::test]
async fn half_sent_messages_on_one_connection_are_bounded_by_the_per_connection_budget() {
    let server =
        TestServer::start_with_args(&["--max-partial-message-bytes-per-connection", "1048576"])
            .await;
    let client = h2_client();
    let (first, _keep_first) = half_sent_fetch(&client, &server, 700_000, 600_000).await;
    let (second, _keep_second) = half_sent_fetch(&client, &server, 700_000, 600_000).await;
    let res = first_answer(first, second).await;
    let (status, message) = status_of(&res);
    assert_eq!(status, "8", "RESOURCE_EXHAUSTED: {message}");
    assert!(
        message.contains("--max-partial-message-bytes-per-connection"),
        "{message}"
    );
}

#[tokio::test]
async fn half_sent_messages_across_connections_are_bounded_by_the_server_budget() {
    let server = TestServer::start_with_args(&["--max-partial-message-bytes", "1048576"]).await;
    let (one, two) = (h2_client(), h2_client());
    let (first, _keep_first) = half_sent_fetch(&one, &server, 700_000, 600_000).await;
    let (second, _keep_second) = half_sent_fetch(&two, &server, 700_000, 600_000).await;
    let res = first_answer(first, second).await;
    let (status, message) = status_of(&res);
    assert_eq!(status, "8", "RESOURCE_EXHAUSTED: {message}");
    assert!(message.contains("--max-partial-message-bytes"), "{message}");
    // The server keeps serving small calls.
    let mut health = HealthClient::new(server.channel().await);
    health
        .check(HealthCheckRequest::default())
        .await
        .expect("health still answers");
}

/// Calls `path` over a bare HTTP/2 stream with only a message prefix announcing `announced`
/// bytes, the request body held open; the call's grpc-status and grpc-message, from the
/// headers (trailers-only) or the trailers (a streaming method answers first). Fails the test
/// after 10 s: without the check on the announced length the server waits for the message.
async fn announce_only(server: &TestServer, path: &str, announced: u32) -> (String, String) {
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect to the server");
    let (send, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let mut owner = tokio::task::JoinSet::new();
    owner.spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}{path}", server.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a valid request");
    let mut send = send.ready().await.expect("connection ready");
    let (response, mut body) = send.send_request(request, false).expect("open a stream");
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&announced.to_be_bytes());
    body.send_data(bytes::Bytes::from(prefix), false)
        .expect("send the prefix");
    let answer = async {
        let response = response.await.expect("the server answers");
        let get = |h: &http::HeaderMap, name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(percent_decode)
        };
        if let Some(status) = get(response.headers(), "grpc-status") {
            let message = get(response.headers(), "grpc-message").unwrap_or_default();
            return (status, message);
        }
        let mut recv = response.into_body();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.expect("the response body");
            let _ = recv.flow_control().release_capacity(chunk.len());
        }
        let trailers = recv
            .trailers()
            .await
            .expect("the trailers")
            .expect("a streaming answer ends with trailers");
        (
            get(&trailers, "grpc-status").unwrap_or_default(),
            get(&trailers, "grpc-message").unwrap_or_default(),
        )
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), answer)
        .await
        .expect("a message announced over the limit is refused before the rest arrives");
    drop(body);
    got
}

/// A grpc-message as sent (gRPC percent-encodes it), decoded.
fn percent_decode(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        let hex = (b == b'%')
            .then(|| bytes.clone().take(2).collect::<Vec<u8>>())
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(&h).ok()?, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                bytes.nth(1);
            }
            None => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_message_announced_over_its_limit_is_refused_at_once_naming_the_flag_and_both_sizes() {
    let server = TestServer::start().await;
    // Reflection (no credential needed; a streaming method whose handler ends with OK when
    // its request stream fails), health and LockService follow the control limit.
    for path in [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.health.v1.Health/Check",
        "/streamgate.v1.LockService/AcquireLock",
    ] {
        let (status, message) = announce_only(&server, path, 70_000).await;
        assert_eq!(status, "8", "{path}: RESOURCE_EXHAUSTED: {message}");
        assert_eq!(
            message, "request message of 70000 bytes is over --control-max-message-bytes (65536)",
            "{path}"
        );
    }
    // Fetch follows --fetch-max-request-bytes plus room for the request's other fields.
    let path = "/streamgate.v1.FetchService/Fetch";
    let (status, message) = announce_only(&server, path, 500 << 20).await;
    assert_eq!(status, "8", "RESOURCE_EXHAUSTED: {message}");
    assert!(
        message.starts_with("request message of 524288000 bytes is over ")
            && message.contains("--fetch-max-request-bytes ("),
        "{message}"
    );
    // The server keeps serving.
    let mut health = HealthClient::new(server.channel().await);
    health
        .check(HealthCheckRequest::default())
        .await
        .expect("health still answers");
}
