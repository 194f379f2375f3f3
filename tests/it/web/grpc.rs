//! gRPC-Web on the gRPC port, from a non-browser client that frames requests by hand over
//! HTTP/1.1 (as curl would): status and trailers as the gRPC-Web spec says, for an OK unary
//! call, an INVALID_ARGUMENT, a server stream, a lock taken and released, the base64 text
//! encoding, a message over its service's limit, and the refusal of the bidirectional SensorFeed; and the gRPC metrics count
//! gRPC-Web calls as they count native ones (the translation is ahead of every other layer).
//!
//! A gRPC-Web body is a sequence of frames: 1 flag byte (0x00 message, 0x80 trailers), a
//! 4-byte big-endian length, then the protobuf message or the trailers as HTTP/1 header lines.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::fetch::{Collection, get as fetch_get, ids, list};
use common::metrics::Metered;
use common::{TestServer, Upstream};
use prost::Message;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::{
    AcquireLockRequest, AcquireLockResponse, FetchResponse, ListPagesRequest, Page, ReleaseRequest,
    ReleaseResponse, SensorFeedRequest, SensorReading,
};

const FETCH: &str = "/streamgate.v1.FetchService/Fetch";
const LIST_PAGES: &str = "/streamgate.v1.FetchService/ListPages";
const ACQUIRE_LOCK: &str = "/streamgate.v1.LockService/AcquireLock";
const RELEASE: &str = "/streamgate.v1.LockService/Release";
const SENSOR_FEED: &str = "/streamgate.v1.SensorService/SensorFeed";

/// gRPC-Web's two encodings of the same frames.
#[derive(Clone, Copy)]
enum Encoding {
    Binary,
    Text,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Binary => "application/grpc-web+proto",
            Encoding::Text => "application/grpc-web-text",
        }
    }
}

/// One decoded gRPC-Web answer.
struct WebAnswer {
    http_status: u16,
    content_type: String,
    /// `grpc-status` from the headers (a trailers-only answer), if any.
    header_status: Option<String>,
    header_message: Option<String>,
    /// Message frames, in order.
    messages: Vec<Bytes>,
    /// The trailer frame's lines, lower-cased names, if there was one.
    trailers: Vec<(String, String)>,
    /// Whether anything followed the trailer frame (the spec forbids it).
    after_trailers: bool,
}

impl WebAnswer {
    fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The call's gRPC status, from the trailer frame or (trailers-only) the headers.
    fn grpc_status(&self) -> Option<&str> {
        self.trailer("grpc-status")
            .or(self.header_status.as_deref())
    }

    /// The call's gRPC message, percent-decoded as the gRPC spec encodes it.
    fn grpc_message(&self) -> String {
        let raw = self
            .trailer("grpc-message")
            .or(self.header_message.as_deref())
            .unwrap_or_default();
        percent_decode(raw)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `msg` as one gRPC-Web message frame.
fn frame(msg: &impl Message) -> Vec<u8> {
    let body = msg.encode_to_vec();
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0x00);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Splits a binary gRPC-Web body into its frames.
fn split_frames(mut body: &[u8]) -> (Vec<Bytes>, Vec<(String, String)>, bool) {
    let (mut messages, mut trailers, mut after_trailers) = (Vec::new(), Vec::new(), false);
    let mut seen_trailers = false;
    while !body.is_empty() {
        assert!(body.len() >= 5, "a frame header is cut short: {body:?}");
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(body.len() >= 5 + len, "a frame is cut short");
        let payload = &body[5..5 + len];
        if seen_trailers {
            after_trailers = true;
        }
        if flag & 0x80 != 0 {
            seen_trailers = true;
            let text = std::str::from_utf8(payload).expect("trailers are text");
            for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                let (k, v) = line.split_once(':').expect("a trailer line is name:value");
                trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        } else {
            assert_eq!(flag, 0, "an uncompressed message frame has flag 0");
            messages.push(Bytes::copy_from_slice(payload));
        }
        body = &body[5 + len..];
    }
    (messages, trailers, after_trailers)
}

/// Decodes a grpc-web-text body: base64 in chunks that may each carry their own padding, so
/// it is decoded 4 characters at a time.
fn decode_text(body: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    assert_eq!(
        clean.len() % 4,
        0,
        "grpc-web-text comes in 4-character groups"
    );
    clean
        .chunks(4)
        .flat_map(|quad| STANDARD.decode(quad).expect("valid base64"))
        .collect()
}

/// An HTTP/1.1-only client, as a browser's fetch without HTTP/2 would be.
fn http1_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client builds")
}

/// Makes one gRPC-Web call over HTTP/1.1 and decodes the answer.
async fn call_web(
    server: &TestServer,
    path: &str,
    encoding: Encoding,
    frames: Vec<u8>,
) -> WebAnswer {
    let body = match encoding {
        Encoding::Binary => frames,
        Encoding::Text => STANDARD.encode(frames).into_bytes(),
    };
    let res = http1_client()
        .post(format!("{}{path}", server.url()))
        .header("content-type", encoding.content_type())
        .header("x-grpc-web", "1")
        .header("accept", encoding.content_type())
        .body(body)
        .send()
        .await
        .expect("the gRPC-Web call gets an HTTP answer");
    assert_eq!(
        res.version(),
        reqwest::Version::HTTP_11,
        "the call used HTTP/1.1"
    );
    let http_status = res.status().as_u16();
    let h = res.headers();
    let text = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
    let content_type = text("content-type").unwrap_or_default();
    let header_status = text("grpc-status");
    let header_message = text("grpc-message");
    let raw = res.bytes().await.expect("the body arrives");
    let binary = match encoding {
        Encoding::Binary => raw.to_vec(),
        Encoding::Text => decode_text(&raw),
    };
    let (messages, trailers, after_trailers) = split_frames(&binary);
    WebAnswer {
        http_status,
        content_type,
        header_status,
        header_message,
        messages,
        trailers,
        after_trailers,
    }
}

/// An upstream with one fixed answer at `/hello`.
async fn hello_upstream() -> Upstream {
    Upstream::start(Router::new().route("/hello", get(|| async { "hello from upstream" }))).await
}

#[tokio::test]
async fn fetch_over_grpc_web_returns_the_upstream_body_and_an_ok_trailer_frame() {
    let server = TestServer::start().await;
    let up = hello_upstream().await;
    let a = call_web(
        &server,
        FETCH,
        Encoding::Binary,
        frame(&fetch_get(up.url("/hello"))),
    )
    .await;
    assert_eq!(a.http_status, 200);
    assert_eq!(a.content_type, "application/grpc-web+proto");
    assert_eq!(a.messages.len(), 1, "one response message");
    let r = FetchResponse::decode(a.messages[0].clone()).expect("a FetchResponse");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello from upstream"[..])
    );
    assert_eq!(a.trailer("grpc-status"), Some("0"), "{:?}", a.trailers);
    assert!(!a.after_trailers, "the trailer frame is the last");
}

#[tokio::test]
async fn a_bad_argument_over_grpc_web_ends_with_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let a = call_web(
        &server,
        FETCH,
        Encoding::Binary,
        frame(&fetch_get("not a url")),
    )
    .await;
    assert_eq!(a.http_status, 200, "gRPC errors travel as a gRPC status");
    assert!(a.messages.is_empty());
    assert_eq!(a.grpc_status(), Some("3"), "INVALID_ARGUMENT");
    let message = a.grpc_message();
    assert!(
        message.contains("url"),
        "the message names the field: {message}"
    );
}

#[tokio::test]
async fn list_pages_over_grpc_web_streams_every_page_in_order_then_the_trailer() {
    let server = TestServer::start().await;
    let c = Collection::new(45);
    let up = Upstream::start(c.router()).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages"), 10)
    };
    let a = call_web(&server, LIST_PAGES, Encoding::Binary, frame(&req)).await;
    assert_eq!(a.http_status, 200);
    let pages: Vec<Page> = a
        .messages
        .iter()
        .map(|m| Page::decode(m.clone()).expect("a Page"))
        .collect();
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(ids(&pages), (0..45).collect::<Vec<_>>());
    assert_eq!(a.trailer("grpc-status"), Some("0"), "{:?}", a.trailers);
    assert!(!a.after_trailers);
}

#[tokio::test]
async fn grpc_web_text_carries_the_same_call_in_base64() {
    let server = TestServer::start().await;
    let up = hello_upstream().await;
    let a = call_web(
        &server,
        FETCH,
        Encoding::Text,
        frame(&fetch_get(up.url("/hello"))),
    )
    .await;
    assert_eq!(a.http_status, 200);
    assert!(
        a.content_type.starts_with("application/grpc-web-text"),
        "{}",
        a.content_type
    );
    let r = FetchResponse::decode(a.messages[0].clone()).expect("a FetchResponse");
    assert_eq!(r.body, b"hello from upstream");
    assert_eq!(a.trailer("grpc-status"), Some("0"));

    let bad = call_web(&server, FETCH, Encoding::Text, frame(&fetch_get(""))).await;
    assert_eq!(bad.grpc_status(), Some("3"));
}

#[tokio::test]
async fn sensor_feed_over_grpc_web_is_refused_at_once_pointing_to_native_grpc() {
    let server = TestServer::start().await;
    let reading = SensorFeedRequest {
        msg: Some(streamgate_client::proto::sensor_feed_request::Msg::Reading(
            SensorReading {
                sensor_id: "s1".into(),
                temperature: 20.0,
                humidity: 40.0,
                timestamp: None,
            },
        )),
    };
    for encoding in [Encoding::Binary, Encoding::Text] {
        // The client's 20 s timeout turns a hang into a failure.
        let a = call_web(&server, SENSOR_FEED, encoding, frame(&reading)).await;
        assert_eq!(a.http_status, 200);
        assert!(a.messages.is_empty(), "no reading is processed");
        assert_eq!(a.grpc_status(), Some("12"), "UNIMPLEMENTED");
        let message = a.grpc_message();
        assert!(
            message.contains("SensorFeed")
                && message.contains("native gRPC")
                && message.contains("WebSocket"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn native_grpc_still_works_on_the_same_port() {
    let server = TestServer::start().await;
    let up = hello_upstream().await;
    let mut client = FetchServiceClient::new(server.channel().await);
    let r = client
        .fetch(fetch_get(up.url("/hello")))
        .await
        .expect("a native gRPC Fetch")
        .into_inner();
    assert_eq!(r.body, b"hello from upstream");
}

#[tokio::test]
async fn a_plain_http1_request_that_is_not_grpc_web_is_refused() {
    let server = TestServer::start().await;
    let res = http1_client()
        .post(format!("{}{FETCH}", server.url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("an HTTP answer");
    assert_eq!(res.status().as_u16(), 400);
}

#[tokio::test]
async fn a_lock_is_acquired_and_released_over_grpc_web() {
    let server = TestServer::start().await;
    let acquire = AcquireLockRequest {
        name: "web-lock".into(),
        ..Default::default()
    };
    let a = call_web(&server, ACQUIRE_LOCK, Encoding::Binary, frame(&acquire)).await;
    assert_eq!(a.trailer("grpc-status"), Some("0"), "{:?}", a.trailers);
    let grant = AcquireLockResponse::decode(a.messages[0].clone()).expect("a grant");
    assert!(grant.acquired && !grant.token.is_empty());

    let again = call_web(&server, ACQUIRE_LOCK, Encoding::Binary, frame(&acquire)).await;
    let busy = AcquireLockResponse::decode(again.messages[0].clone()).expect("an answer");
    assert!(!busy.acquired, "held by the first grant");

    let release = ReleaseRequest {
        name: "web-lock".into(),
        token: grant.token,
    };
    let r = call_web(&server, RELEASE, Encoding::Text, frame(&release)).await;
    assert_eq!(r.trailer("grpc-status"), Some("0"));
    assert!(
        ReleaseResponse::decode(r.messages[0].clone())
            .expect("an answer")
            .released
    );
}

#[tokio::test]
async fn a_message_over_its_limit_over_grpc_web_is_resource_exhausted_naming_the_flag() {
    let server = TestServer::start().await;
    let acquire = AcquireLockRequest {
        name: "x".repeat(70_000),
        ..Default::default()
    };
    let expected = format!(
        "request message of {} bytes is over --control-max-message-bytes (65536)",
        acquire.encoded_len()
    );
    for encoding in [Encoding::Binary, Encoding::Text] {
        let a = call_web(&server, ACQUIRE_LOCK, encoding, frame(&acquire)).await;
        assert_eq!(
            a.grpc_status(),
            Some("8"),
            "RESOURCE_EXHAUSTED: {:?}",
            a.trailers
        );
        assert_eq!(a.grpc_message(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_calls_are_counted_by_the_grpc_metrics_as_native_calls_are() {
    let m = Metered::start(&[]).await;
    let up = hello_upstream().await;
    let labels = |code: &'static str| {
        vec![
            ("grpc_type", "unary"),
            ("grpc_service", "streamgate.v1.FetchService"),
            ("grpc_method", "Fetch"),
            ("grpc_code", code),
        ]
    };
    let before = m.scrape().await;
    let ok = call_web(
        &m.server,
        FETCH,
        Encoding::Binary,
        frame(&fetch_get(up.url("/hello"))),
    )
    .await;
    assert_eq!(ok.trailer("grpc-status"), Some("0"));
    let bad = call_web(&m.server, FETCH, Encoding::Text, frame(&fetch_get(""))).await;
    assert_eq!(bad.grpc_status(), Some("3"));
    let after = m.scrape().await;
    for code in ["OK", "InvalidArgument"] {
        let moved = after.value("grpc_server_handled_total", &labels(code))
            - before.value("grpc_server_handled_total", &labels(code));
        assert_eq!(moved, 1.0, "{code}");
    }
}
