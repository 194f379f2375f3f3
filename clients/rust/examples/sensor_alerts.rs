//! Seed case 4, real-time stream processing: a simulated sensor reports every 0.3 s, the server
//! converts to °F and flags temperatures above 28 °C, this loop prints alert or normal per
//! reading; after 5 s the sensor stops and the stream ends cleanly.
//!
//! `cargo run -p streamgate-client --example sensor_alerts`

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::{Client, SensorSimulator};

/// Streams one simulated sensor for `duration`; returns (readings back, alert readings).
pub async fn run(server: &str, duration: Duration) -> anyhow::Result<(usize, usize)> {
    let client = Client::connect(server).await?;
    let sensor = SensorSimulator::new(1, Duration::from_millis(300));
    let readings = sensor.requests().take_until(tokio::time::sleep(duration));
    let mut responses = Box::pin(client.sensor_feed(readings));
    let (mut total, mut alerts) = (0, 0);
    while let Some(response) = responses.try_next().await? {
        match response.msg {
            Some(Msg::Reading(r)) if r.alert => {
                alerts += 1;
                total += 1;
                println!(
                    "⚠️ alert: sensor {} temperature too high ({:.2}°C)",
                    r.sensor_id, r.temp_c
                );
            }
            Some(Msg::Reading(r)) => {
                total += 1;
                println!(
                    "✅ normal: sensor {} temperature {:.2}°C",
                    r.sensor_id, r.temp_c
                );
            }
            Some(Msg::Alert(a)) => println!("🔔 {}", a.message),
            _ => {}
        }
    }
    println!("sensor stopped after {duration:?}: {total} readings, {alerts} alerts");
    Ok((total, alerts))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("STREAMGATE_SERVER").unwrap_or("http://127.0.0.1:50051".into());
    run(&server, Duration::from_secs(5)).await?;
    Ok(())
}
