//! The server-wide cap on SensorFeed streams (`--sensor-max-streams`): each stream may retain
//! megabytes at the per-stream limits, so their number is bounded too; one stream beyond the
//! cap is refused with RESOURCE_EXHAUSTED naming the flag, and a closed stream frees its place.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::sensor::Feed;
use streamgate_client::proto::sensor_service_client::SensorServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

#[tokio::test]
async fn a_stream_beyond_the_server_wide_cap_is_refused_naming_the_flag() {
    let server = TestServer::start_with_args(&["--sensor-max-streams", "2"]).await;
    let channel = server.channel().await;
    let first = Feed::open(channel.clone(), 4).await;
    let _second = Feed::open(channel.clone(), 4).await;
    let (_tx, rx) = mpsc::channel(1);
    let refused = SensorServiceClient::new(channel.clone())
        .sensor_feed(ReceiverStream::new(rx))
        .await
        .expect_err("a third stream is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("--sensor-max-streams"),
        "{refused:?}"
    );
    // Ending a stream frees its place (the server notices the end asynchronously).
    drop(first);
    let mut opened = false;
    for _ in 0..100 {
        let (tx, rx) = mpsc::channel(1);
        match SensorServiceClient::new(channel.clone())
            .sensor_feed(ReceiverStream::new(rx))
            .await
        {
            Ok(_) => {
                opened = true;
                drop(tx);
                break;
            }
            Err(s) => assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(opened, "a closed stream's place is reused");
}
