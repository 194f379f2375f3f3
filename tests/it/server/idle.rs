//! Peers that do nothing do not keep their connection: a silent socket, an HTTP/2 preface
//! with nothing after it, HTTP/1.1 headers sent a byte at a time and a TLS socket that never
//! sends its ClientHello are all closed after `--handshake-timeout`; a connection without an
//! open stream gets a GOAWAY and is closed after `--idle-timeout`; at `--max-connections`
//! the connection idle longest makes room for a new one, and only busy connections get a
//! newcomer turned away; pending TLS handshakes never hold up accepting a real caller, hold
//! a slot each while pending, and give it back when they time out.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::edge::{Ca, Files};
use common::h2raw::{PREFACE, RawH2};
use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const FEED: &str = "/streamgate.v1.SensorService/SensorFeed";

/// A path no service serves: answered at once (UNIMPLEMENTED), so the connection has served
/// a request and has no open stream afterwards.
const NOWHERE: &str = "/streamgate.v1.Nowhere/Nothing";

/// GOAWAY (RFC 9113 §6.8).
const GOAWAY: u8 = 0x7;

/// Whether the server closes `tcp` within `limit` (end-of-file or reset), reading and
/// discarding whatever it sends before that.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let read_to_end = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_handshake_timeout() {
    let server = TestServer::start_with_args(&["--handshake-timeout", "300ms"]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    assert!(
        closed_within(&mut tcp, Duration::from_secs(10)).await,
        "a socket that never sends a byte is closed"
    );
}

#[tokio::test]
async fn a_preface_without_a_request_is_closed_after_the_handshake_timeout() {
    let server = TestServer::start_with_args(&["--handshake-timeout", "300ms"]).await;
    let mut conn = RawH2::connect(server.addr).await.expect("served");
    let mut frames = 0;
    // The server may send a PING ack or a GOAWAY first; the connection must then end.
    while conn.read_frame().await.is_some() {
        frames += 1;
        assert!(
            frames < 10,
            "the server keeps talking to a peer that said nothing"
        );
    }
    assert!(
        conn.is_closed().await,
        "the connection ended rather than went quiet"
    );
}

#[tokio::test]
async fn http1_headers_sent_a_byte_at_a_time_are_cut_off_at_the_handshake_timeout() {
    let server = TestServer::start_with_args(&["--handshake-timeout", "300ms"]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let request = b"POST /streamgate.v1.LockService/AcquireLock HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/grpc-web+proto\r\nx-padding: ";
    tcp.write_all(request).await.expect("request line");
    // Bounded: at most 200 bytes, 50 ms apart, never the blank line that ends the headers.
    let mut closed = false;
    for _ in 0..200 {
        if tcp.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(closed, "a peer trickling headers is cut off");
}

#[tokio::test]
async fn a_tls_socket_without_a_client_hello_is_closed_after_the_handshake_timeout() {
    let (server, _files, _ca) = tls_server(&["--handshake-timeout", "300ms"]).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    assert!(
        closed_within(&mut tcp, Duration::from_secs(10)).await,
        "a TLS socket that never says hello is closed"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_gets_a_goaway_then_is_closed() {
    let server = TestServer::start_with_args(&["--idle-timeout", "300ms"]).await;
    let mut conn = RawH2::connect(server.addr).await.expect("served");
    conn.open_stream(1, NOWHERE).await;
    let mut goaway = None;
    while let Some(frame) = conn.read_frame().await {
        if frame.kind == GOAWAY {
            goaway = Some(frame);
            break;
        }
    }
    let goaway = goaway.expect("the idle connection gets a GOAWAY");
    let code = u32::from_be_bytes(goaway.payload[4..8].try_into().expect("4 bytes"));
    assert_eq!(code, 0, "NO_ERROR: a clean goodbye, not a failure");
    assert!(conn.is_closed().await, "the connection is closed after it");
}

#[tokio::test]
async fn a_connection_with_an_open_stream_outlives_the_idle_timeout() {
    let server = TestServer::start_with_args(&["--idle-timeout", "300ms"]).await;
    let mut busy = RawH2::connect(server.addr).await.expect("served");
    busy.open_stream(1, FEED).await;
    let mut idle = RawH2::connect(server.addr).await.expect("served");
    idle.open_stream(1, NOWHERE).await;
    // The idle one closing shows the deadline has passed for both.
    while idle.read_frame().await.is_some() {}
    assert!(idle.is_closed().await);
    busy.open_stream(3, FEED).await;
    let (answered, refused) = busy.answers(2).await;
    assert!(refused.is_empty(), "{refused:?}");
    assert!(
        answered.contains(&3),
        "the busy connection still serves new streams"
    );
}

#[tokio::test]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let server = TestServer::start_with_args(&["--max-connections", "2"]).await;
    let mut oldest = served_connection(&server).await;
    let _newer = served_connection(&server).await;
    let _third = RawH2::connect(server.addr)
        .await
        .expect("a third connection is served: the idle one made room");
    let mut saw_goaway = false;
    while let Some(frame) = oldest.read_frame().await {
        saw_goaway |= frame.kind == GOAWAY;
    }
    assert!(saw_goaway, "the connection idle longest got a GOAWAY");
    assert!(oldest.is_closed().await);
}

#[tokio::test]
async fn at_the_connection_cap_a_newcomer_is_turned_away_when_every_connection_is_busy() {
    let server = TestServer::start_with_args(&["--max-connections", "2"]).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = RawH2::connect(server.addr).await.expect("served");
        conn.open_stream(1, FEED).await;
        let (answered, _) = conn.answers(1).await;
        assert_eq!(answered, [1]);
        held.push(conn);
    }
    assert!(
        RawH2::connect(server.addr).await.is_none(),
        "with every connection busy, a third is closed without SETTINGS"
    );
}

#[tokio::test]
async fn pending_tls_handshakes_do_not_hold_up_a_real_caller() {
    // A handshake timeout out of reach, so only accepting concurrently can let the caller in.
    let (server, _files, ca) = tls_server(&["--handshake-timeout", "60s"]).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let call = async {
        let channel = server
            .tls_channel(&ca.pem, None)
            .await
            .expect("TLS channel");
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("a real TLS caller is answered while 300 handshakes are pending");
    answer.expect("health answers");
    drop(silent);
}

#[tokio::test]
async fn silent_sockets_and_bare_prefaces_filling_the_cap_do_not_lock_out_a_real_caller() {
    // Silent sockets at the cap once locked every caller out for good; the same at a small
    // scale. The handshake timeout is out of reach, so only closing a connection that never
    // sent a request can let the caller in.
    const CAP: usize = 8;
    const PREFACES: usize = 4;
    let cap = CAP.to_string();
    let server =
        TestServer::start_with_args(&["--max-connections", &cap, "--handshake-timeout", "120s"])
            .await;
    let mut peers = Vec::new();
    for _ in 0..CAP {
        peers.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    for _ in 0..PREFACES {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        tcp.write_all(PREFACE).await.expect("send the preface");
        peers.push(tcp);
    }
    let channel = tokio::time::timeout(Duration::from_secs(10), server.channel())
        .await
        .expect("a real caller connects while silent peers hold every slot");
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        HealthClient::new(channel.clone()).check(HealthCheckRequest::default()),
    )
    .await
    .expect("a real caller is answered while silent peers hold every slot");
    answer.expect("health answers");
    // The caller's connection (still open) holds a slot, so at most CAP - 1 peers keep one.
    let closed = join_all(
        peers
            .iter_mut()
            .map(|p| closed_within(p, Duration::from_secs(2))),
    )
    .await;
    let closed = closed.into_iter().filter(|c| *c).count();
    let at_least = CAP + PREFACES - (CAP - 1);
    assert!(
        closed >= at_least,
        "{closed} of {} silent peers closed, not {at_least}: each newcomer past the cap took \
         the slot of one",
        CAP + PREFACES
    );
    drop(channel);
}

#[tokio::test]
async fn pending_tls_handshakes_count_against_the_cap() {
    // Out of reach: only the cap can close one of them.
    let (server, _files, _ca) =
        tls_server(&["--max-connections", "4", "--handshake-timeout", "120s"]).await;
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let closed = join_all(
        silent
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    assert_eq!(
        closed.into_iter().filter(|c| *c).count(),
        1,
        "five sockets without a ClientHello at a cap of four: one of them is closed at once"
    );
}

#[tokio::test]
async fn slots_of_timed_out_tls_handshakes_come_back_for_real_callers() {
    let (server, _files, ca) =
        tls_server(&["--max-connections", "4", "--handshake-timeout", "2s"]).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let closed = join_all(
        silent
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(15))),
    )
    .await;
    assert!(
        closed.iter().all(|c| *c),
        "every socket without a ClientHello is closed after the handshake timeout: {closed:?}"
    );
    // Busy callers, so none of them can be evicted: they get in only if every slot is back.
    let mut busy = Vec::new();
    for i in 0..4 {
        let channel = server
            .tls_channel(&ca.pem, None)
            .await
            .unwrap_or_else(|e| panic!("caller {i} connects: {e:?}"));
        let mut watch = HealthClient::new(channel.clone())
            .watch(HealthCheckRequest::default())
            .await
            .unwrap_or_else(|e| panic!("caller {i} is served: {e:?}"))
            .into_inner();
        watch
            .message()
            .await
            .expect("the Watch stream")
            .expect("a first status");
        busy.push((channel, watch));
    }
    // The slots came back once each, not more: the cap still turns away a fifth.
    let fifth = async {
        let channel = server.tls_channel(&ca.pem, None).await.ok()?;
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .ok()
    };
    assert!(
        fifth.await.is_none(),
        "with four busy connections at a cap of four, a fifth caller is turned away"
    );
}

/// A connection that has served one request and has no open stream.
async fn served_connection(server: &TestServer) -> RawH2 {
    let mut conn = RawH2::connect(server.addr).await.expect("served");
    conn.open_stream(1, NOWHERE).await;
    let (answered, _) = conn.answers(1).await;
    assert_eq!(answered, [1]);
    conn
}

/// A TLS server with `extra` flags, its files and CA.
async fn tls_server(extra: &[&str]) -> (TestServer, Files, Ca) {
    let ca = Ca::new("idle test CA");
    let files = Files::new();
    let pair = ca.server();
    let cert = files.write("server.pem", &pair.cert);
    let key = files.write("server.key", &pair.key);
    let mut args = vec!["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    args.extend_from_slice(extra);
    let server = TestServer::start_with_args(&args).await;
    (server, files, ca)
}
