//! Browsers and DNS rebinding: a gRPC-Web call naming a host the server does not answer to
//! is refused with 403 before any service runs (a page on an attacker's domain resolving to
//! 127.0.0.1 must not take a lock as "same-origin"), IP addresses, `localhost` and
//! `--allowed-host` names pass; and with TLS, gRPC-Web works over both HTTP/1.1 and HTTP/2
//! (ALPN offers both).

use crate::common;

use std::net::SocketAddr;

use common::TestServer;
use common::edge::{Ca, Files};
use common::lock::{acquire_req, client_for, unique};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ACQUIRE_LOCK: &str = "/streamgate.v1.LockService/AcquireLock";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// One gRPC-Web message frame (flag 0, big-endian length, message).
fn frame(msg: &impl Message) -> Vec<u8> {
    let body = msg.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Sends a gRPC-Web POST over HTTP/1.1 naming `host`; the HTTP status and the whole answer.
async fn post_naming(addr: SocketAddr, host: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(body).await.expect("write body");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers within 10 s")
    .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn a_grpc_web_call_naming_a_foreign_host_is_refused_before_the_lock_is_taken() {
    let server = TestServer::start().await;
    let name = unique("rebind");
    let body = frame(&acquire_req(&name, 60_000, 0));
    let host = format!("rebind.attacker.example:{}", server.addr.port());
    let (status, answer) = post_naming(server.addr, &host, ACQUIRE_LOCK, &body).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("--allowed-host"), "{answer}");
    // The lock was never taken: a native caller gets it at once.
    let mut locks = client_for(&server).await;
    locks
        .acquire_lock(acquire_req(&name, 1_000, 0))
        .await
        .expect("the refused call took nothing");
}

#[tokio::test]
async fn loopback_names_addresses_and_allowed_hosts_are_answered() {
    let server = TestServer::start_with_args(&["--allowed-host", "gate.test"]).await;
    let port = server.addr.port();
    let body = frame(&tonic_health::pb::HealthCheckRequest::default());
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("gate.test:{port}"),
        "Gate.Test".to_string(),
    ] {
        let (status, answer) = post_naming(server.addr, &host, HEALTH_CHECK, &body).await;
        assert_eq!(status, 200, "Host {host}: {answer}");
        assert!(answer.contains("grpc-status"), "Host {host}: {answer}");
    }
    let (status, _) = post_naming(
        server.addr,
        &format!("gate.test.attacker.example:{port}"),
        HEALTH_CHECK,
        &body,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn grpc_web_over_tls_works_with_http1_and_http2() {
    let ca = Ca::new("web TLS CA");
    let files = Files::new();
    let pair = ca.server();
    let cert = files.write("server.pem", &pair.cert);
    let key = files.write("server.key", &pair.key);
    let server = TestServer::start_with_args(&["--tls-cert", &cert, "--tls-key", &key]).await;
    let root = reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("CA PEM");
    let url = format!("https://localhost:{}{HEALTH_CHECK}", server.addr.port());
    let body = frame(&tonic_health::pb::HealthCheckRequest::default());
    for (http1_only, want) in [
        (true, reqwest::Version::HTTP_11),
        (false, reqwest::Version::HTTP_2),
    ] {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .resolve("localhost", server.addr);
        if http1_only {
            builder = builder.http1_only();
        }
        let client = builder.build().expect("client");
        let res = client
            .post(&url)
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("gRPC-Web over TLS with {want:?}: {e:?}"));
        assert_eq!(res.version(), want);
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().await.expect("body");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("grpc-status:0") || text.contains("grpc-status: 0"),
            "{want:?}: {text:?}"
        );
    }
}
