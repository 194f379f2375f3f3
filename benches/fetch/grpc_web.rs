//! Fetch over gRPC-Web, as a browser without HTTP/2 would call it (HTTP/1.1, one call per
//! connection at a time, so up to [`CONCURRENCY`] keep-alive connections), against Fetch over
//! native gRPC on one HTTP/2 channel: what the translation layer and HTTP/1.1 cost.

use bytes::{Buf, Bytes};
use prost::Message;
use streamgate_client::proto::{FetchRequest, FetchResponse};

use super::support::{load, result};
use super::{BODY_BYTES, Bench, CONCURRENCY, REQUESTS, warm_up};

/// Prints `fetch_grpc_web_vs_grpc` (calls/s) and `fetch_grpc_web_p50_ms` against gRPC's.
pub async fn run(bench: &Bench) {
    let http1 = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("reqwest client");
    let url = format!("http://{}/streamgate.v1.FetchService/Fetch", bench.addr());
    let body = Bytes::from(frame(&FetchRequest {
        url: bench.url.clone(),
        ..Default::default()
    }));
    let call = |_| web_fetch_call(&http1, &url, body.clone());
    warm_up(call).await;
    let web = load(REQUESTS, CONCURRENCY, call).await;
    let grpc = &bench.base.fetch;
    println!(
        "fetch: {REQUESTS} calls at concurrency {CONCURRENCY}: gRPC-Web over HTTP/1.1 {:.2}s, gRPC over one HTTP/2 channel {:.2}s; CPU per call {:.0} vs {:.0} us",
        web.wall.as_secs_f64(),
        grpc.wall.as_secs_f64(),
        web.cpu_us_per_call(),
        grpc.cpu_us_per_call()
    );
    result("fetch_grpc_web_vs_grpc", web.per_sec(), grpc.per_sec());
    result(
        "fetch_grpc_web_p50_ms",
        web.percentile_ms(0.5),
        grpc.percentile_ms(0.5),
    );
}

/// `msg` as one gRPC-Web message frame: flag 0, 4-byte big-endian length, protobuf.
fn frame(msg: &impl Message) -> Vec<u8> {
    let encoded = msg.encode_to_vec();
    let mut out = Vec::with_capacity(5 + encoded.len());
    out.push(0);
    out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    out.extend_from_slice(&encoded);
    out
}

/// One gRPC-Web Fetch; true when the upstream's whole body came back and the trailer frame
/// says OK (the load panics on a false).
fn web_fetch_call(
    client: &reqwest::Client,
    url: &str,
    body: Bytes,
) -> impl std::future::Future<Output = bool> + use<> {
    let req = client
        .post(url)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body);
    async move {
        let Ok(res) = req.send().await else {
            return false;
        };
        let Ok(mut bytes) = res.bytes().await else {
            return false;
        };
        let (mut ok_message, mut ok_trailer) = (false, false);
        while bytes.remaining() >= 5 {
            let flag = bytes.get_u8();
            let len = bytes.get_u32() as usize;
            if bytes.remaining() < len {
                return false;
            }
            let payload = bytes.split_to(len);
            if flag & 0x80 != 0 {
                ok_trailer = payload
                    .split(|b| *b == b'\n')
                    .any(|line| line.strip_suffix(b"\r") == Some(b"grpc-status:0"));
            } else if let Ok(r) = FetchResponse::decode(payload) {
                ok_message = r.status == 200 && r.body.len() == BODY_BYTES;
            }
        }
        ok_message && ok_trailer
    }
}
