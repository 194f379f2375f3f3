//! SensorFeed's stream plumbing: backpressure to a client that does not read, and the end of
//! the server's task on cancel, disconnect and shutdown.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::sensor::{CuttableLink, Feed, config, reading, rss_kib};
use streamgate::Config;
use streamgate_client::proto::FeedConfig;
use streamgate_client::proto::sensor_feed_response::Msg;
use tonic::Code;

/// Sends until a send has not completed for `stall` (or `limit` sends went through); returns
/// how many went through.
async fn send_until_stalled(f: &mut Feed, ids: &[String], limit: usize, stall: Duration) -> usize {
    for i in 0..limit {
        // Below the 28 °C threshold: one response per reading, no alerts.
        let req = reading(&ids[i % ids.len()], 20.0 + (i % 5) as f64);
        match tokio::time::timeout(stall, f.tx.send(req)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!(
                "request stream closed after {i} readings: {:?}",
                f.end_status().await
            ),
            Err(_) => return i,
        }
    }
    limit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_a_client_that_never_reads_is_stalled_and_server_memory_stays_flat() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut f = Feed::open(server.channel().await, 1).await;
    // Long ids make each message ~250 bytes, so the transport's windows hold fewer of them.
    let ids: Vec<String> = (0..100)
        .map(|i| format!("{i:03}-{}", "x".repeat(200)))
        .collect();
    for id in &ids {
        f.send(reading(id, 20.0)).await;
        assert!(matches!(f.next().await, Msg::Reading(_)));
    }
    let before = rss_kib();

    const LIMIT: usize = 200_000;
    let sent = send_until_stalled(&mut f, &ids, LIMIT, Duration::from_secs(2)).await;
    let stalled = rss_kib();
    // Keep pushing for a while longer: nothing more may get through, memory may not grow.
    let more = send_until_stalled(&mut f, &ids, 10, Duration::from_secs(2)).await;
    let after = rss_kib();
    eprintln!(
        "slow reader: {sent} readings accepted before the stall; RSS {before} KiB before, \
         {stalled} KiB at the stall, {after} KiB 2 s later"
    );
    assert!(sent < LIMIT, "sends never stalled after {LIMIT} readings");
    assert!(
        sent < 50_000,
        "{sent} readings went through before the stall"
    );
    assert_eq!(more, 0, "a stalled stream accepted more readings");
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(server.sensor_metrics.active_streams(), 1);

    // Reading again drains everything in order: backpressure lost nothing.
    for i in 0..sent {
        match f.next().await {
            Msg::Reading(r) => assert_eq!(r.sensor_id, ids[i % ids.len()], "reading {i}"),
            other => panic!("expected reading {i}, got {other:?}"),
        }
    }
    drop(f);
    assert_eq!(server.wait_idle(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn cancelling_the_call_ends_the_server_task() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut f = Feed::open(server.channel().await, 8).await;
    // A pending missing-data timer must not keep the task alive either.
    f.send(config(FeedConfig {
        missing_timeout: Some(prost_types::Duration {
            seconds: 3600,
            nanos: 0,
        }),
        ..Default::default()
    }))
    .await;
    f.send(reading("a", 20.0)).await;
    assert!(matches!(f.next().await, Msg::Reading(_)));
    assert_eq!(server.sensor_metrics.active_streams(), 1);
    // A tonic client cancels a bidi call by dropping both halves (RST_STREAM / end of stream).
    drop(f);
    assert_eq!(
        server.wait_idle(Duration::from_secs(5)).await,
        0,
        "task still live"
    );
    assert_eq!(server.sensor_metrics.started_streams(), 1);
}

#[tokio::test]
async fn a_disconnected_client_ends_the_server_task() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let channel = server.channel().await;
    let mut f = Feed::open(channel.clone(), 8).await;
    f.send(reading("a", 20.0)).await;
    assert!(matches!(f.next().await, Msg::Reading(_)));
    drop(f);
    drop(channel);
    assert_eq!(
        server.wait_idle(Duration::from_secs(5)).await,
        0,
        "task still live"
    );
}

#[tokio::test]
async fn a_stalled_stream_ends_at_once_when_its_client_disconnects() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut link = CuttableLink::start(server.addr).await;
    let mut f = Feed::open(link.channel().await, 1).await;
    // h2 guards against many small unread DATA frames (GOAWAY ENHANCE_YOUR_CALM); frames of
    // 256 bytes and more are not counted, so this test sends messages that large.
    let ids = vec![format!("blocked-{}", "x".repeat(250))];
    let sent = send_until_stalled(&mut f, &ids, 200_000, Duration::from_secs(1)).await;
    assert!(sent < 200_000, "never stalled");
    assert_eq!(server.sensor_metrics.active_streams(), 1);
    // The server's task is parked on a full response buffer; the connection dies under it.
    link.cut();
    assert_eq!(
        server.wait_idle(Duration::from_secs(5)).await,
        0,
        "stalled task still live"
    );
    drop(f);
}

#[tokio::test]
async fn server_shutdown_ends_an_open_stream_with_unavailable() {
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut f = Feed::open(server.channel().await, 8).await;
    f.send(reading("a", 20.0)).await;
    assert!(matches!(f.next().await, Msg::Reading(_)));
    server.shutdown.trigger();
    let status = f.end_status().await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(server.wait_idle(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn stopping_the_whole_server_ends_open_feeds_and_the_server_exits() {
    let server = TestServer::start().await;
    let mut f = Feed::open(server.channel().await, 8).await;
    f.send(reading("a", 20.0)).await;
    assert!(matches!(f.next().await, Msg::Reading(_)));
    let stopping = tokio::spawn(server.stop());
    assert_eq!(f.end_status().await.code(), Code::Unavailable);
    stopping
        .await
        .expect("stop task")
        .expect("server exits cleanly");
}
