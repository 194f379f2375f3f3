//! The baseline SensorFeed server of the sensor benches: tonic, answering each reading with a
//! ProcessedReading and doing nothing else, so a client's rate against it is the ceiling
//! that client can reach on this machine, whatever the server does.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::SystemTime;

use futures::StreamExt;
use streamgate::proto::sensor_feed_request::Msg as SrvReq;
use streamgate::proto::sensor_feed_response::Msg as SrvResp;
use streamgate::proto::sensor_service_server::{SensorService, SensorServiceServer};
use streamgate::proto::{ProcessedReading, SensorFeedRequest, SensorFeedResponse};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

/// HTTP/2 receive windows: (stream, connection) bytes.
pub type Windows = (u32, u32);

/// streamgate's default windows (docs/sensor.md, "Full-speed streams"): 16 KiB per stream and
/// a connection window sized so 256 streams of small frames stay inside h2's small-frame
/// budget. A client that sends one DATA frame per message (grpc-go) is cut off under tonic's
/// default windows, so its ceiling is measured with these.
pub const STREAMGATE_WINDOWS: Windows = (16 * 1024, 422_049_792);

/// The baseline: each reading echoed as a ProcessedReading, nothing else.
pub struct Echo;

type EchoStream = Pin<Box<dyn futures::Stream<Item = Result<SensorFeedResponse, Status>> + Send>>;

#[tonic::async_trait]
impl SensorService for Echo {
    type SensorFeedStream = EchoStream;

    async fn sensor_feed(
        &self,
        req: Request<Streaming<SensorFeedRequest>>,
    ) -> Result<Response<EchoStream>, Status> {
        let out = req.into_inner().filter_map(|item| async move {
            match item {
                Ok(SensorFeedRequest {
                    msg: Some(SrvReq::Reading(r)),
                }) => {
                    let reading = ProcessedReading {
                        sensor_id: r.sensor_id,
                        temp_c: r.temperature,
                        temp_f: r.temperature * 9.0 / 5.0 + 32.0,
                        humidity: r.humidity,
                        alert: r.temperature > 28.0,
                        timestamp: Some(r.timestamp.unwrap_or_else(|| SystemTime::now().into())),
                        window: None,
                    };
                    Some(Ok(SensorFeedResponse {
                        msg: Some(SrvResp::Reading(reading)),
                    }))
                }
                Ok(_) => None,
                Err(status) => Some(Err(status)),
            }
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// Serves [`Echo`] on a loopback port of this process; `windows` = None keeps tonic's.
pub async fn start(windows: Option<Windows>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo address");
    tokio::spawn(async move {
        let mut builder = tonic::transport::Server::builder();
        if let Some((stream, connection)) = windows {
            builder = builder
                .initial_stream_window_size(stream)
                .initial_connection_window_size(connection);
        }
        let _ = builder
            .add_service(SensorServiceServer::new(Echo))
            .serve_with_incoming(TcpListenerStream::new(listener).map(|conn| {
                // As streamgate does: without TCP_NODELAY, small answers wait on Nagle and the
                // client's delayed ACKs (tonic sets it only on listeners it binds itself).
                conn.inspect(|c| {
                    let _ = c.set_nodelay(true);
                })
            }))
            .await;
    });
    addr
}
