//! `Client::sensor_feed` against the real server: the seed's processing, in-band rejections.

mod common;

use common::ServerProcess;
use futures::{StreamExt, TryStreamExt, stream};
use streamgate_client::proto::{self, sensor_feed_response::Msg};
use streamgate_client::{config_request, reading_request};

async fn feed(requests: Vec<proto::SensorFeedRequest>) -> Vec<Msg> {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let responses: Vec<proto::SensorFeedResponse> = client
        .sensor_feed(stream::iter(requests))
        .try_collect()
        .await
        .expect("the feed ends cleanly once the readings end");
    responses.into_iter().filter_map(|r| r.msg).collect()
}

fn readings(msgs: &[Msg]) -> Vec<&proto::ProcessedReading> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Reading(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn readings_are_converted_and_flagged_as_the_seed_does() {
    let msgs = feed(vec![
        reading_request("sensor_01", 20.0, 50.0),
        reading_request("sensor_01", 28.0, 55.5),
        reading_request("sensor_01", 28.01, 60.0),
    ])
    .await;
    let got = readings(&msgs);
    assert_eq!(got.len(), 3, "one processed reading per reading: {msgs:?}");
    assert_eq!(
        (got[0].temp_c, got[0].temp_f, got[0].alert),
        (20.0, 68.0, false)
    );
    assert_eq!(got[1].temp_f, 28.0 * 9.0 / 5.0 + 32.0);
    assert!(!got[1].alert, "28.0 is not above the threshold");
    assert!(got[2].alert, "28.01 is above the threshold");
    assert_eq!(got[2].temp_f, 28.01 * 9.0 / 5.0 + 32.0);
    assert_eq!(got[1].humidity, 55.5);
    assert!(got.iter().all(|r| r.sensor_id == "sensor_01"));
}

#[tokio::test]
async fn bad_readings_are_rejected_in_band_and_the_stream_goes_on() {
    let msgs = feed(vec![
        reading_request("s1", 21.0, 50.0),
        reading_request("s1", f64::NAN, 50.0),
        reading_request("", 21.0, 50.0),
        reading_request("s1", 22.0, 50.0),
    ])
    .await;
    let temps: Vec<f64> = readings(&msgs).iter().map(|r| r.temp_c).collect();
    assert_eq!(temps, [21.0, 22.0]);
    let rejected = msgs
        .iter()
        .filter(|m| matches!(m, Msg::Rejected(_)))
        .count();
    assert_eq!(rejected, 2, "{msgs:?}");
}

#[tokio::test]
async fn a_config_threshold_applies_to_the_readings_after_it() {
    let msgs = feed(vec![
        reading_request("s1", 26.0, 50.0),
        config_request(proto::FeedConfig {
            threshold: Some(25.0),
            ..Default::default()
        }),
        reading_request("s1", 26.0, 50.0),
    ])
    .await;
    let alerts: Vec<bool> = readings(&msgs).iter().map(|r| r.alert).collect();
    assert_eq!(alerts, [false, true]);
    assert!(
        msgs.iter().any(|m| matches!(m, Msg::Alert(_))),
        "crossing the new threshold fires an alert: {msgs:?}"
    );
}

#[tokio::test]
async fn responses_arrive_while_the_client_is_still_sending() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    // The request stream waits for the first answer before it sends its second reading, so
    // the feed only completes if responses flow back before the requests end.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(reading_request("s1", 21.0, 50.0))
        .await
        .expect("send");
    let mut responses =
        Box::pin(client.sensor_feed(tokio_stream::wrappers::ReceiverStream::new(rx)));
    let first = responses.next().await.expect("a response").expect("ok");
    assert!(matches!(first.msg, Some(Msg::Reading(_))));
    tx.send(reading_request("s1", 22.0, 50.0))
        .await
        .expect("send");
    drop(tx);
    let rest: Vec<_> = responses.try_collect().await.expect("clean end");
    assert_eq!(rest.len(), 1);
}
