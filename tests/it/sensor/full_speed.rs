//! Full-speed senders: a client that sends small readings as fast as flow control allows
//! gets every one processed, on one stream or 32 sharing a connection, whether it puts each
//! message in a DATA frame of its own (as grpc-go does, which h2's small-frame budget
//! counts) or coalesces them (as tonic does). docs/sensor.md, "Full-speed streams", has the
//! window arithmetic these tests hold the server to.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::frame_client::FrameClient;
use common::sensor::{Feed, reading};
use futures::future::join_all;
use streamgate::Config;
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::proto::{SensorFeedRequest, SensorFeedResponse};

/// Readings one full-speed sender sends.
const READINGS: usize = 200_000;

/// Streams sharing one connection in the concurrent tests.
const STREAMS: usize = 32;

/// Bounds one flood: a stalled or killed connection fails the test instead of hanging it.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(240);

const FEED: &str = "/streamgate.v1.SensorService/SensorFeed";

/// Readings below the 28 °C default threshold: one ProcessedReading each, no alert.
fn readings(sensor: &str, n: usize) -> impl Iterator<Item = SensorFeedRequest> + use<> {
    let sensor = sensor.to_string();
    (0..n).map(move |i| reading(&sensor, 20.0 + (i % 5) as f64))
}

/// Floods one stream of `client` with `n` readings of `sensor`, one DATA frame each; returns
/// how many ProcessedReadings came back, or the failure with that count.
async fn flood_frames(client: &FrameClient, sensor: &str, n: usize) -> Result<usize, String> {
    let answers = client
        .call::<_, SensorFeedResponse>(FEED, readings(sensor, n))
        .await;
    let processed = answers
        .messages
        .iter()
        .filter(|m| matches!(m.msg, Some(Msg::Reading(_))))
        .count();
    match answers.status {
        Ok(0) => Ok(processed),
        Ok(code) => Err(format!("grpc-status {code} after {processed} of {n}")),
        Err(e) => Err(format!("{e}, after {processed} of {n}")),
    }
}

/// Floods one tonic stream on `channel` as fast as its request channel takes readings,
/// reading the answers concurrently; returns how many ProcessedReadings came back.
async fn flood_tonic(
    channel: tonic::transport::Channel,
    sensor: &str,
    n: usize,
) -> Result<usize, String> {
    let Feed { tx, mut rx } = Feed::open(channel, 1_024).await;
    let sending = async move {
        for req in readings(sensor, n) {
            tx.send(req)
                .await
                .map_err(|_| "request stream closed".to_string())?;
        }
        Ok::<_, String>(())
    };
    let receiving = async {
        let mut processed = 0;
        loop {
            match rx.message().await {
                Ok(Some(resp)) if matches!(resp.msg, Some(Msg::Reading(_))) => processed += 1,
                Ok(Some(_)) => {}
                Ok(None) => return Ok(processed),
                Err(status) => return Err(format!("{status:?} after {processed} of {n}")),
            }
        }
    };
    let (sent, received) = tokio::join!(sending, receiving);
    let processed = received?;
    sent?;
    Ok(processed)
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(FLOOD_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {FLOOD_TIMEOUT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_putting_each_reading_in_its_own_frame_gets_all_200000_processed_twice() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let client = FrameClient::connect(server.addr).await;
    for run in 1..=2 {
        let processed = bounded("flood", flood_frames(&client, "frames", READINGS))
            .await
            .unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_eq!(processed, READINGS, "run {run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_streams_of_one_frame_per_reading_on_one_connection_get_every_reading_processed()
{
    let server = TestServer::start_with(Config::for_tests()).await;
    let client = FrameClient::connect(server.addr).await;
    let per = READINGS / STREAMS;
    let sensors: Vec<String> = (0..STREAMS).map(|s| format!("s{s:02}")).collect();
    let results = bounded(
        "32 floods",
        join_all(sensors.iter().map(|s| flood_frames(&client, s, per))),
    )
    .await;
    for (s, r) in results.into_iter().enumerate() {
        assert_eq!(r, Ok(per), "stream {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_at_full_speed_gets_all_200000_processed_twice() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let channel = server.channel().await;
    for run in 1..=2 {
        let processed = bounded("flood", flood_tonic(channel.clone(), "tonic", READINGS))
            .await
            .unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_eq!(processed, READINGS, "run {run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_rust_client_streams_on_one_channel_get_every_reading_processed() {
    let server = TestServer::start_with(Config::for_tests()).await;
    // One tonic Channel is one HTTP/2 connection.
    let channel = server.channel().await;
    let per = READINGS / STREAMS;
    let sensors: Vec<String> = (0..STREAMS).map(|s| format!("s{s:02}")).collect();
    let results = bounded(
        "32 floods",
        join_all(sensors.iter().map(|s| flood_tonic(channel.clone(), s, per))),
    )
    .await;
    for (s, r) in results.into_iter().enumerate() {
        assert_eq!(r, Ok(per), "stream {s}");
    }
}
