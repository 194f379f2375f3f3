//! A gRPC client over h2 that sends every message in a DATA frame of its own, as grpc-go
//! does (tonic's client coalesces queued messages into larger frames, which hides the
//! server's small-frame limits). Flow control is h2's own: a send waits for window.

use std::future::poll_fn;
use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use prost::Message;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The client's stream window for responses.
const CLIENT_STREAM_WINDOW: u32 = 64 * 1024;
/// Twice the budget 32 full stream windows of 5-byte frames use: 2 × 32 × 13,108 × 251.
const CLIENT_CONNECTION_WINDOW: u32 = 256 * 1024 * 1024;

/// One HTTP/2 connection; every call made through it shares it.
pub struct FrameClient {
    send: SendRequest<Bytes>,
    addr: SocketAddr,
    /// Owns the connection's driver task (aborted on drop).
    _conn: JoinSet<()>,
}

/// A call's answers: the decoded messages and the gRPC status code from the trailers (or
/// the transport error that ended the call, as text).
pub struct Answers<T> {
    /// Every response message, in order.
    pub messages: Vec<T>,
    /// `Ok(code)` from `grpc-status`, `Err` when the call failed below gRPC.
    pub status: Result<u32, String>,
}

impl FrameClient {
    /// Connects to `addr` over plaintext HTTP/2.
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let (send, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
        let mut owner = JoinSet::new();
        owner.spawn(async move {
            let _ = conn.await;
        });
        Self {
            send,
            addr,
            _conn: owner,
        }
    }

    /// Calls `path` with `requests`, each message in one DATA frame sent as soon as the
    /// stream's window allows, while the answers are read concurrently.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        requests: impl Iterator<Item = Req>,
    ) -> Answers<Resp> {
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("a valid request");
        let mut send = match self.send.clone().ready().await {
            Ok(s) => s,
            Err(e) => return failed(format!("connection not ready: {e}")),
        };
        let (response, mut body) = match send.send_request(request, false) {
            Ok(r) => r,
            Err(e) => return failed(format!("open stream: {e}")),
        };
        let sending = async move {
            for req in requests {
                let frame = grpc_frame(&req);
                body.reserve_capacity(frame.len());
                while body.capacity() < frame.len() {
                    match poll_fn(|cx| body.poll_capacity(cx)).await {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(format!("waiting for window: {e}")),
                        None => return Err("stream closed while waiting for window".into()),
                    }
                }
                body.send_data(frame, false)
                    .map_err(|e| format!("send: {e}"))?;
            }
            body.send_data(Bytes::new(), true)
                .map_err(|e| format!("end of stream: {e}"))
        };
        let receiving = async move {
            let mut messages = Vec::new();
            let mut recv = match response.await {
                Ok(r) => r.into_body(),
                Err(e) => return (messages, Err(format!("response: {e}"))),
            };
            let mut buf = BytesMut::new();
            while let Some(chunk) = recv.data().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => return (messages, Err(format!("response body: {e}"))),
                };
                let _ = recv.flow_control().release_capacity(chunk.len());
                buf.extend_from_slice(&chunk);
                while buf.len() >= 5 {
                    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                    if buf.len() < 5 + len {
                        break;
                    }
                    buf.advance(5);
                    let msg = buf.split_to(len);
                    messages.push(Resp::decode(msg.freeze()).expect("a valid response message"));
                }
            }
            let status = match recv.trailers().await {
                Ok(Some(t)) => t
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .ok_or_else(|| format!("trailers without grpc-status: {t:?}")),
                Ok(None) => Err("no trailers".into()),
                Err(e) => Err(format!("trailers: {e}")),
            };
            (messages, status)
        };
        let (sent, (messages, status)) = tokio::join!(sending, receiving);
        let status = match (sent, status) {
            // The transport's error is the cause; a send failing after it only echoes it.
            (_, Err(e)) => Err(e),
            (Err(e), Ok(code)) => Err(format!("{e} (grpc-status {code})")),
            (Ok(()), Ok(code)) => Ok(code),
        };
        Answers { messages, status }
    }
}

fn failed<T>(why: String) -> Answers<T> {
    Answers {
        messages: Vec::new(),
        status: Err(why),
    }
}

/// The gRPC length-prefixed form of `msg` (uncompressed).
fn grpc_frame(msg: &impl Message) -> Bytes {
    let len = msg.encoded_len();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(0);
    out.put_u32(u32::try_from(len).expect("a test message under 4 GiB"));
    msg.encode(&mut out).expect("BytesMut grows");
    out.freeze()
}
