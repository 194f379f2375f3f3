//! A bare HTTP/2 client speaking frames by hand, for tests that must see what a well-behaved
//! client hides: the server's SETTINGS as sent, and streams opened beyond the advertised
//! limit (h2 and tonic clients queue those instead of sending them).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2).
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// RST_STREAM error code REFUSED_STREAM (RFC 9113 §7).
pub const REFUSED_STREAM: u32 = 0x7;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
/// PING (RFC 9113 §6.7).
pub const PING: u8 = 0x6;
/// The ACK flag of SETTINGS and PING.
pub const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One frame as read off the wire.
#[derive(Debug)]
pub struct Frame {
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream id.
    pub stream: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A raw HTTP/2 connection.
pub struct RawH2 {
    tcp: TcpStream,
    /// The server's first SETTINGS, as (identifier, value) pairs.
    pub settings: Vec<(u16, u32)>,
}

impl RawH2 {
    /// Connects and exchanges prefaces; `None` when the server closed the connection instead
    /// of sending its SETTINGS (it turned the connection away).
    pub async fn connect(addr: SocketAddr) -> Option<Self> {
        let mut tcp = TcpStream::connect(addr).await.ok()?;
        tcp.write_all(PREFACE).await.ok()?;
        write_frame(&mut tcp, SETTINGS, 0, 0, &[]).await.ok()?;
        let mut conn = Self {
            tcp,
            settings: Vec::new(),
        };
        let first = conn.read_frame().await?;
        assert_eq!(first.kind, SETTINGS, "a server's first frame is SETTINGS");
        conn.settings = first
            .payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect();
        write_frame(&mut conn.tcp, SETTINGS, ACK, 0, &[])
            .await
            .ok()?;
        Some(conn)
    }

    /// The value the server advertised for `id`, if it sent one.
    pub fn setting(&self, id: u16) -> Option<u32> {
        self.settings
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, v)| *v)
    }

    /// Opens stream `id` with a gRPC POST to `path`, leaving the request body open.
    pub async fn open_stream(&mut self, id: u32, path: &str) {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            literal(&mut block, name, value);
        }
        write_frame(&mut self.tcp, HEADERS, END_HEADERS, id, &block)
            .await
            .expect("write HEADERS");
    }

    /// Answers the server's `ping` with a PING ACK carrying the same opaque data, as every
    /// live peer must (RFC 9113 §6.7).
    pub async fn ack_ping(&mut self, ping: &Frame) {
        write_frame(&mut self.tcp, PING, ACK, 0, &ping.payload)
            .await
            .expect("write PING ACK");
    }

    /// The next frame, `None` at the end of the connection or after 10 s of silence.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(10), self.tcp.read_exact(&mut head))
            .await
            .ok()?
            .ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        self.tcp.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }

    /// Whether the server has closed the connection (end-of-file or reset within 10 s,
    /// frames still in flight discarded).
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let read_to_end = async {
            loop {
                match self.tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read_to_end)
            .await
            .is_ok()
    }

    /// Reads frames until `streams` streams each got response HEADERS or a RST_STREAM;
    /// returns (streams answered with HEADERS, streams refused with REFUSED_STREAM).
    pub async fn answers(&mut self, streams: usize) -> (Vec<u32>, Vec<u32>) {
        let (mut answered, mut refused) = (Vec::new(), Vec::new());
        while answered.len() + refused.len() < streams {
            let frame = self
                .read_frame()
                .await
                .expect("the server answers every stream");
            match frame.kind {
                HEADERS if !answered.contains(&frame.stream) => answered.push(frame.stream),
                RST_STREAM => {
                    let code = u32::from_be_bytes(frame.payload[..4].try_into().expect("4 bytes"));
                    assert_eq!(code, REFUSED_STREAM, "stream {} reset", frame.stream);
                    refused.push(frame.stream);
                }
                _ => {}
            }
        }
        (answered, refused)
    }
}

/// HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2);
/// every name and value here is shorter than 127 bytes.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for s in [name, value] {
        assert!(s.len() < 127, "short strings only");
        block.push(s.len() as u8);
        block.extend_from_slice(s.as_bytes());
    }
}

async fn write_frame(
    tcp: &mut TcpStream,
    kind: u8,
    flags: u8,
    stream: u32,
    payload: &[u8],
) -> std::io::Result<()> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    tcp.write_all(&frame).await
}
