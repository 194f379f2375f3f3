//! SensorFeed over real gRPC against the full in-process server: the seed's behaviour,
//! configs, alerts, windows, in-band rejections, order, and the limits that end a stream.

use crate::common;

use std::time::{Duration, SystemTime};

use common::TestServer;
use common::sensor::{Feed, config, reading, reading_full};
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::proto::{AlertState, FeedConfig, RejectCode, Severity};
use tonic::Code;

async fn feed(server: &TestServer) -> Feed {
    Feed::open(server.channel().await, 64).await
}

fn processed(msg: Msg) -> streamgate_client::proto::ProcessedReading {
    match msg {
        Msg::Reading(r) => r,
        other => panic!("expected a processed reading, got {other:?}"),
    }
}

fn alert(msg: Msg) -> streamgate_client::proto::Alert {
    match msg {
        Msg::Alert(a) => a,
        other => panic!("expected an alert, got {other:?}"),
    }
}

#[tokio::test]
async fn seed_readings_convert_to_fahrenheit_and_alert_only_above_28() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    f.send(reading("s1", 20.0)).await;
    let r = processed(f.next().await);
    assert_eq!(
        (r.sensor_id.as_str(), r.temp_f, r.alert),
        ("s1", 68.0, false)
    );
    assert!(
        r.timestamp.is_some(),
        "time of receipt stamps an unstamped reading"
    );
    assert!(r.window.is_none(), "no window configured");
    f.send(reading("s1", 28.0)).await;
    assert!(!processed(f.next().await).alert);
    f.send(reading("s1", 28.01)).await;
    let r = processed(f.next().await);
    assert!(r.alert);
    assert_eq!(r.temp_f, 28.01 * 9.0 / 5.0 + 32.0, "not rounded");
    let a = alert(f.next().await);
    assert_eq!(a.state(), AlertState::Firing);
    assert_eq!(a.severity(), Severity::Warn);
    assert_eq!((a.threshold, a.temp_c), (28.0, 28.01));
}

#[tokio::test]
async fn response_headers_arrive_before_any_reading_is_sent() {
    let server = TestServer::start().await;
    // `Feed::open` awaits the response headers; with nothing sent, it returns only because the
    // server answers the call at once.
    let opened = tokio::time::timeout(Duration::from_secs(5), feed(&server)).await;
    assert!(
        opened.is_ok(),
        "the call was answered before any request message"
    );
}

#[tokio::test]
async fn per_sensor_and_all_sensor_configs_set_thresholds() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    f.send(config(FeedConfig {
        sensor_id: "a".into(),
        threshold: Some(30.0),
        ..Default::default()
    }))
    .await;
    f.send(reading("a", 29.0)).await;
    assert!(!processed(f.next().await).alert, "a's threshold is 30");
    f.send(reading("b", 29.0)).await;
    assert!(processed(f.next().await).alert, "b keeps the default 28");
    assert_eq!(alert(f.next().await).sensor_id, "b");
    f.send(config(FeedConfig {
        threshold: Some(35.0),
        ..Default::default()
    }))
    .await;
    for id in ["a", "b", "c"] {
        f.send(reading(id, 34.0)).await;
        let r = processed(f.next().await);
        assert!(!r.alert, "{id} follows the all-sensor threshold 35");
        if id == "b" {
            // b was firing at 29 > 28; 34 is below its new level 35: resolved.
            assert_eq!(alert(f.next().await).state(), AlertState::Resolved);
        }
    }
    f.send(reading("c", 35.5)).await;
    assert!(processed(f.next().await).alert);
}

#[tokio::test]
async fn hysteresis_turns_an_oscillation_into_one_firing_and_one_resolved() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    f.send(config(FeedConfig {
        hysteresis: Some(1.0),
        ..Default::default()
    }))
    .await;
    let temps: Vec<f64> = (0..50)
        .map(|i| if i % 2 == 0 { 28.5 } else { 27.5 })
        .collect();
    for t in &temps {
        f.send(reading("s1", *t)).await;
    }
    f.send(reading("s1", 26.0)).await;
    let mut alerts = Vec::new();
    for _ in 0..temps.len() + 1 + 2 {
        if let Msg::Alert(a) = f.next().await {
            alerts.push((a.state(), a.severity()));
        }
    }
    assert_eq!(
        alerts,
        vec![
            (AlertState::Firing, Severity::Warn),
            (AlertState::Resolved, Severity::Warn)
        ]
    );
}

#[tokio::test]
async fn warn_then_crit_then_back_to_normal() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    f.send(config(FeedConfig {
        warn: Some(30.0),
        crit: Some(40.0),
        ..Default::default()
    }))
    .await;
    for t in [31.0, 41.0, 20.0] {
        f.send(reading("s1", t)).await;
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        if let Msg::Alert(a) = f.next().await {
            seen.push((a.state(), a.severity(), a.threshold));
        }
    }
    assert_eq!(
        seen,
        vec![
            (AlertState::Firing, Severity::Warn, 30.0),
            (AlertState::Firing, Severity::Crit, 40.0),
            (AlertState::Resolved, Severity::Crit, 40.0)
        ]
    );
}

#[tokio::test]
async fn window_stats_ride_on_processed_readings() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    f.send(config(FeedConfig {
        window_count: Some(3),
        ..Default::default()
    }))
    .await;
    for t in [10.0, 20.0, 15.0, 25.0] {
        f.send(reading("s1", t)).await;
    }
    let mut last = None;
    for _ in 0..4 {
        last = processed(f.next().await).window;
    }
    let w = last.expect("window stats present");
    assert_eq!((w.count, w.min_c, w.max_c), (3, 15.0, 25.0));
    assert!((w.mean_c - 20.0).abs() < 1e-12);
}

#[tokio::test]
async fn every_rejection_names_its_reason_and_the_stream_goes_on() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    let future = prost_types::Timestamp::from(SystemTime::now() + Duration::from_secs(3600));
    let cases = [
        (reading("", 20.0), RejectCode::EmptySensorId, "sensor_id"),
        (
            reading(&"x".repeat(300), 20.0),
            RejectCode::SensorIdTooLong,
            "sensor_id",
        ),
        (reading("a", f64::NAN), RejectCode::NotFinite, "temperature"),
        (
            reading("a", f64::INFINITY),
            RejectCode::NotFinite,
            "temperature",
        ),
        (
            reading_full("a", 20.0, f64::NEG_INFINITY, None),
            RejectCode::NotFinite,
            "humidity",
        ),
        (reading("a", -90.5), RejectCode::OutOfRange, "temperature"),
        (reading("a", 100.5), RejectCode::OutOfRange, "temperature"),
        (
            reading_full("a", 20.0, 100.5, None),
            RejectCode::OutOfRange,
            "humidity",
        ),
        (
            reading_full("a", 20.0, -1.0, None),
            RejectCode::OutOfRange,
            "humidity",
        ),
        (
            reading_full("a", 20.0, 50.0, Some(future)),
            RejectCode::FutureTimestamp,
            "timestamp",
        ),
    ];
    for (req, code, field) in cases {
        f.send(req).await;
        match f.next().await {
            Msg::Rejected(r) => {
                assert_eq!(r.code(), code);
                assert!(
                    r.reason.contains(field),
                    "{:?} should name {field}",
                    r.reason
                );
            }
            other => panic!("expected a rejection ({code:?}), got {other:?}"),
        }
        f.send(reading("ok", 20.0)).await;
        assert_eq!(
            processed(f.next().await).temp_f,
            68.0,
            "the stream goes on after {code:?}"
        );
    }
}

#[tokio::test]
async fn a_senseless_config_is_refused_in_band_and_the_old_one_stays() {
    let server = TestServer::start().await;
    let mut f = feed(&server).await;
    let bad = [
        FeedConfig {
            warn: Some(50.0),
            crit: Some(40.0),
            ..Default::default()
        },
        FeedConfig {
            window_count: Some(0),
            ..Default::default()
        },
        FeedConfig {
            window_duration: Some(prost_types::Duration {
                seconds: -5,
                nanos: 0,
            }),
            ..Default::default()
        },
        FeedConfig {
            hysteresis: Some(-1.0),
            ..Default::default()
        },
    ];
    for cfg in bad {
        f.send(config(cfg)).await;
        match f.next().await {
            Msg::ConfigRejected(r) => assert!(!r.reason.is_empty()),
            other => panic!("expected ConfigRejected, got {other:?}"),
        }
    }
    f.send(reading("s1", 28.5)).await;
    let r = processed(f.next().await);
    assert!(
        r.alert && r.window.is_none(),
        "the defaults are still in force"
    );
}

#[tokio::test]
async fn ten_thousand_readings_of_a_hundred_sensors_come_back_in_order() {
    use futures::StreamExt;
    let server = TestServer::start().await;
    const N: usize = 10_000;
    let temp = |i: usize| 20.0 + (i % 97) as f64 / 10.0;
    // All requests are ready at once, so they arrive in large frames and the server takes many
    // per wake-up: the batching path must keep every one and their order.
    let requests =
        futures::stream::iter(0..N).map(move |i| reading(&format!("sensor-{}", i % 100), temp(i)));
    let mut rx = streamgate_client::SensorServiceClient::new(server.channel().await)
        .sensor_feed(requests)
        .await
        .expect("SensorFeed opens")
        .into_inner();
    let mut i = 0;
    while let Some(resp) = rx.message().await.expect("stream ok") {
        if let Some(Msg::Reading(r)) = resp.msg {
            assert_eq!(r.sensor_id, format!("sensor-{}", i % 100), "reading {i}");
            assert_eq!(r.temp_c, temp(i), "reading {i}");
            i += 1;
        }
    }
    assert_eq!(i, N, "every reading answered before the stream ended");
}

#[tokio::test]
async fn a_sensor_beyond_the_limit_is_rejected_in_band_and_the_stream_goes_on() {
    let server = TestServer::start_with_args(&["--sensor-max-sensors", "3"]).await;
    let mut f = feed(&server).await;
    for id in ["a", "b", "c"] {
        f.send(reading(id, 20.0)).await;
        processed(f.next().await);
    }
    f.send(reading("d", 20.0)).await;
    match f.next().await {
        Msg::Rejected(r) => {
            assert_eq!(r.sensor_id, "d");
            assert!(r.reason.contains("--sensor-max-sensors"), "{}", r.reason);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    f.send(reading("a", 20.0)).await;
    assert_eq!(processed(f.next().await).sensor_id, "a");
}

#[tokio::test]
async fn a_window_beyond_the_sample_budget_is_rejected_in_band_and_the_stream_goes_on() {
    let server = TestServer::start_with_args(&["--sensor-max-samples", "1000"]).await;
    let mut f = feed(&server).await;
    f.send(config(FeedConfig {
        sensor_id: "a".into(),
        window_count: Some(800),
        ..Default::default()
    }))
    .await;
    f.send(config(FeedConfig {
        sensor_id: "b".into(),
        window_count: Some(800),
        ..Default::default()
    }))
    .await;
    match f.next().await {
        Msg::ConfigRejected(r) => {
            assert_eq!(r.sensor_id, "b");
            assert!(r.reason.contains("--sensor-max-samples"), "{}", r.reason);
        }
        other => panic!("expected a config rejection, got {other:?}"),
    }
    f.send(reading("a", 20.0)).await;
    assert_eq!(processed(f.next().await).window.map(|w| w.count), Some(1));
}

#[tokio::test]
async fn an_oversized_message_ends_the_stream_with_resource_exhausted() {
    let server = TestServer::start_with_args(&["--sensor-max-message-bytes", "1024"]).await;
    let mut f = feed(&server).await;
    f.send(reading("a", 20.0)).await;
    processed(f.next().await);
    f.send(reading(&"x".repeat(2048), 20.0)).await;
    let status = f.end_status().await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().starts_with("request message of ")
            && status
                .message()
                .ends_with("bytes is over --sensor-max-message-bytes (1024)"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn half_closing_the_request_stream_ends_the_response_stream_with_ok() {
    let server = TestServer::start().await;
    let Feed { tx, rx } = feed(&server).await;
    tx.send(reading("a", 20.0)).await.expect("open");
    drop(tx);
    let mut f = Feed {
        tx: tokio::sync::mpsc::channel(1).0,
        rx,
    };
    processed(f.next().await);
    assert_eq!(f.end_status().await.code(), Code::Ok);
}
