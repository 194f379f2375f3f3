//! Missing-data (deadman) alerts through the real service with tokio's clock paused: the
//! runtime jumps straight to the stream's timer, so a 5 s timeout is tested in milliseconds
//! and the alert's timing is checked on the virtual clock.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::sensor::{Feed, config, reading};
use streamgate::Config;
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::proto::{AlertState, FeedConfig};
use tokio::time::Instant;

/// With the clock paused, tokio timeouts in the test would themselves be jumped to, so the
/// test awaits without them; this real-time watchdog fails it instead of hanging.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("sensor_deadman: no progress within 60 s of real time");
        std::process::exit(1);
    });
}

async fn next(f: &mut Feed) -> Msg {
    f.rx.message()
        .await
        .expect("stream ok")
        .expect("stream open")
        .msg
        .expect("message set")
}

#[tokio::test(start_paused = true)]
async fn a_quiet_sensor_is_declared_silent_after_the_timeout_and_resolved_when_it_reports() {
    watchdog();
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut f = Feed::open(server.channel().await, 8).await;
    f.send(config(FeedConfig {
        missing_timeout: Some(prost_types::Duration {
            seconds: 5,
            nanos: 0,
        }),
        ..Default::default()
    }))
    .await;

    // Readings 4 s apart keep the sensor alive: no alert between them.
    for _ in 0..5 {
        f.send(reading("s1", 20.0)).await;
        assert!(
            matches!(next(&mut f).await, Msg::Reading(_)),
            "no SILENT before the timeout"
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    f.send(reading("s1", 21.0)).await;
    assert!(matches!(next(&mut f).await, Msg::Reading(_)));
    let last = Instant::now();

    match next(&mut f).await {
        Msg::Alert(a) => {
            assert_eq!(a.state(), AlertState::Silent);
            assert_eq!((a.sensor_id.as_str(), a.temp_c), ("s1", 21.0));
            assert!(a.message.contains("no reading"), "{}", a.message);
        }
        other => panic!("expected SILENT, got {other:?}"),
    }
    let waited = last.elapsed();
    assert!(
        waited >= Duration::from_secs(5),
        "SILENT after only {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(6),
        "SILENT only after {waited:?}"
    );

    f.send(reading("s1", 22.0)).await;
    assert!(matches!(next(&mut f).await, Msg::Reading(r) if r.temp_c == 22.0));
    match next(&mut f).await {
        Msg::Alert(a) => assert_eq!(a.state(), AlertState::Resolved),
        other => panic!("expected RESOLVED, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn many_sensors_share_one_timer_and_each_goes_silent_once() {
    watchdog();
    let server = TestServer::start_with(Config::for_tests()).await;
    let mut f = Feed::open(server.channel().await, 8).await;
    f.send(config(FeedConfig {
        missing_timeout: Some(prost_types::Duration {
            seconds: 10,
            nanos: 0,
        }),
        ..Default::default()
    }))
    .await;
    for i in 0..20 {
        f.send(reading(&format!("s{i}"), 20.0)).await;
        assert!(matches!(next(&mut f).await, Msg::Reading(_)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut silent = Vec::new();
    for _ in 0..20 {
        match next(&mut f).await {
            Msg::Alert(a) if a.state() == AlertState::Silent => silent.push(a.sensor_id),
            other => panic!("expected SILENT, got {other:?}"),
        }
    }
    let expected: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    assert_eq!(silent, expected, "in deadline order, once each");
    // Half-close: the stream ends with OK, and no further alert was queued.
    drop(f.tx);
    assert!(f.rx.message().await.expect("ends cleanly").is_none());
}
