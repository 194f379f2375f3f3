//! SensorService metrics on a real `/metrics` endpoint: open streams, readings, alerts by
//! state, rejected readings by reason, and the stream's messages both ways.

use crate::common;

use common::metrics::Metered;
use common::sensor::{Feed, reading};
use streamgate_client::proto::sensor_feed_response::Msg;

const FEED: [(&str, &str); 3] = [
    ("grpc_type", "bidi_stream"),
    ("grpc_service", "streamgate.v1.SensorService"),
    ("grpc_method", "SensorFeed"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_alerts_and_rejections_are_counted_and_the_stream_gauge_follows() {
    let m = Metered::start(&[]).await;
    let sensor = format!("boiler-{}", uuid::Uuid::new_v4());
    let mut f = Feed::open(m.server.channel().await, 8).await;

    // Default threshold 28 °C: below, above (FIRING), below again (RESOLVED), then NaN.
    for t in [20.0, 29.0, 20.0, f64::NAN] {
        f.send(reading(&sensor, t)).await;
    }
    let mut responses = Vec::new();
    for _ in 0..6 {
        responses.push(f.next().await);
    }
    let count = |pred: fn(&Msg) -> bool| responses.iter().filter(|r| pred(r)).count();
    assert_eq!(count(|r| matches!(r, Msg::Reading(_))), 3);
    assert_eq!(count(|r| matches!(r, Msg::Alert(_))), 2);
    assert_eq!(count(|r| matches!(r, Msg::Rejected(_))), 1);

    let open = m.wait_for("streamgate_sensor_streams", &[], 1.0).await;
    assert_eq!(open.value("streamgate_sensor_readings_total", &[]), 3.0);
    assert_eq!(
        open.value("streamgate_sensor_alerts_total", &[("state", "firing")]),
        1.0
    );
    assert_eq!(
        open.value("streamgate_sensor_alerts_total", &[("state", "resolved")]),
        1.0
    );
    assert_eq!(
        open.value("streamgate_sensor_alerts_total", &[("state", "silent")]),
        0.0
    );
    assert_eq!(
        open.value(
            "streamgate_sensor_rejected_readings_total",
            &[("reason", "not_finite")]
        ),
        1.0
    );
    assert_eq!(open.value("grpc_server_msg_received_total", &FEED), 4.0);
    assert_eq!(open.value("grpc_server_msg_sent_total", &FEED), 6.0);
    assert_eq!(open.value("grpc_server_started_total", &FEED), 1.0);
    open.assert_no_label_contains(&[&sensor, "boiler"]);

    // The client half-closes: the stream ends OK and leaves the gauge.
    drop(f.tx);
    while f
        .rx
        .message()
        .await
        .expect("the stream ends cleanly")
        .is_some()
    {}
    let closed = m.wait_for("streamgate_sensor_streams", &[], 0.0).await;
    assert_eq!(
        closed.value(
            "grpc_server_handled_total",
            &[FEED.as_slice(), &[("grpc_code", "OK")]].concat()
        ),
        1.0
    );
}
