//! SensorFeed helpers: waiting for a server's streams to end, request builders, a feed opener, and the process's resident memory.

use std::net::SocketAddr;
use std::time::Duration;

use super::TestServer;

use streamgate_client::SensorServiceClient;
use streamgate_client::proto::sensor_feed_request::Msg as ReqMsg;
use streamgate_client::proto::sensor_feed_response::Msg as RespMsg;
use streamgate_client::proto::{FeedConfig, SensorFeedRequest, SensorFeedResponse, SensorReading};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::{Channel, Endpoint};

impl TestServer {
    /// Waits until no SensorFeed stream task is live (at most `limit`); returns how many
    /// still are.
    pub async fn wait_idle(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        while self.sensor_metrics.active_streams() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.sensor_metrics.active_streams()
    }
}

/// An open SensorFeed: the request sender and the response stream.
pub struct Feed {
    /// Requests go here (bounded; a full channel means the transport stopped taking them).
    pub tx: mpsc::Sender<SensorFeedRequest>,
    /// Responses come from here.
    pub rx: Streaming<SensorFeedResponse>,
}

impl Feed {
    /// Opens a feed on `channel` with a request buffer of `buffer` messages.
    pub async fn open(channel: Channel, buffer: usize) -> Self {
        let (tx, req_rx) = mpsc::channel(buffer);
        let rx = SensorServiceClient::new(channel)
            .sensor_feed(ReceiverStream::new(req_rx))
            .await
            .expect("SensorFeed call opens")
            .into_inner();
        Self { tx, rx }
    }

    /// Sends one request (the server must still be reading).
    pub async fn send(&self, req: SensorFeedRequest) {
        self.tx.send(req).await.expect("the request stream is open");
    }

    /// The next response, failing the test after 10 s or at the end of the stream.
    pub async fn next(&mut self) -> RespMsg {
        let item = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("a response within 10 s")
            .expect("the stream did not fail")
            .expect("the stream did not end");
        item.msg.expect("every response carries a message")
    }

    /// The status the stream ends with (after skipping any responses still queued).
    pub async fn end_status(&mut self) -> tonic::Status {
        loop {
            let item = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
                .await
                .expect("the stream ends within 10 s");
            match item {
                Ok(Some(_)) => continue,
                Ok(None) => return tonic::Status::ok(""),
                Err(status) => return status,
            }
        }
    }
}

/// A reading request with no timestamp (time of receipt) and 50 % humidity.
pub fn reading(id: &str, temperature: f64) -> SensorFeedRequest {
    SensorFeedRequest {
        msg: Some(ReqMsg::Reading(SensorReading {
            sensor_id: id.into(),
            temperature,
            humidity: 50.0,
            timestamp: None,
        })),
    }
}

/// A reading request with every field given.
pub fn reading_full(
    id: &str,
    temperature: f64,
    humidity: f64,
    timestamp: Option<prost_types::Timestamp>,
) -> SensorFeedRequest {
    SensorFeedRequest {
        msg: Some(ReqMsg::Reading(SensorReading {
            sensor_id: id.into(),
            temperature,
            humidity,
            timestamp,
        })),
    }
}

/// A config request.
pub fn config(cfg: FeedConfig) -> SensorFeedRequest {
    SensorFeedRequest {
        msg: Some(ReqMsg::Config(cfg)),
    }
}

/// Resident memory of this process (KiB), from /proc/self/status.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A loopback TCP relay in front of a server, whose connections the test can cut at once, as
/// a crashed client or a dropped network would.
pub struct CuttableLink {
    /// Where clients connect.
    pub addr: SocketAddr,
    tasks: tokio::task::JoinSet<()>,
}

impl CuttableLink {
    /// Relays every connection to `target` until [`cut`](Self::cut).
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, tasks }
    }

    /// A channel through the relay.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid endpoint")
            .connect()
            .await
            .expect("connect through the relay")
    }

    /// Closes every relayed connection (both sockets dropped) and stops accepting.
    pub fn cut(&mut self) {
        self.tasks.abort_all();
    }
}
