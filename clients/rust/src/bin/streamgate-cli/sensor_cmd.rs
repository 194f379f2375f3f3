//! `streamgate-cli sensor simulate`: the seed's SensorSimulator streaming to a real server,
//! printing processed readings and alerts as they come back, stopping cleanly on Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use clap::Args;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use streamgate_client::proto::{self, sensor_feed_response::Msg};
use streamgate_client::{Error, SensorSimulator, config_request};
use tokio::time::Instant;

use crate::exit;
use crate::output::Output;

/// How long the server gets to send its last responses once the readings stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of simulated sensors (sensor_01, sensor_02...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    sensors: u32,
    /// Time between two readings of a sensor.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    interval: Duration,
    /// Stop after this long; 0s = run until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// Alert threshold in °C sent as a FeedConfig for every sensor (default: the server's, 28).
    #[arg(long)]
    threshold: Option<f64>,
    /// Seed of the random readings, to repeat a run exactly.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, Default)]
struct Tally {
    readings: u64,
    alert_readings: u64,
    alerts: u64,
    rejected: u64,
}

pub async fn run(server: &crate::Server, args: SimulateArgs, out: &Output) -> anyhow::Result<u8> {
    let client = server.connect().await?;
    let sensors = args.sensors as usize;
    let simulator = match args.seed {
        Some(seed) => SensorSimulator::seeded(sensors, args.interval, seed),
        None => SensorSimulator::new(sensors, args.interval),
    };

    // Readings stop at the duration or on Ctrl-C; the server then finishes and ends the stream.
    let duration = args.duration;
    let stop = async move {
        let timer = async {
            if duration.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(duration).await
            }
        };
        tokio::select! {
            _ = timer => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    .shared();

    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let first = args.threshold.map(|t| {
        config_request(proto::FeedConfig {
            threshold: Some(t),
            ..Default::default()
        })
    });
    let readings = simulator
        .requests()
        .inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .take_until(stop.clone());
    let requests = futures::stream::iter(first).chain(readings);

    let mut responses = std::pin::pin!(client.sensor_feed(requests));
    let mut tally = Tally::default();
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let deadline = drain_deadline;
        tokio::select! {
            item = responses.next() => match item {
                None => break,
                Some(response) => print_response(response?, &mut tally, out)?,
            },
            _ = stop.clone(), if deadline.is_none() => {
                drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                return Err(Error::new(
                    tonic::Code::DeadlineExceeded,
                    format!("the server did not end the feed within {DRAIN_TIMEOUT:?} of the last reading"),
                ).into());
            }
        }
    }

    let sent = sent.load(Ordering::Relaxed);
    out.note(
        &format!(
            "sensor stopped: sent {sent} readings, got {} back ({} over the threshold), {} alerts, {} rejected",
            tally.readings, tally.alert_readings, tally.alerts, tally.rejected
        ),
        json!({"event": "summary", "sent": sent, "readings": tally.readings,
               "alert_readings": tally.alert_readings, "alerts": tally.alerts,
               "rejected": tally.rejected}),
    );
    Ok(exit::OK)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn print_response(
    response: proto::SensorFeedResponse,
    tally: &mut Tally,
    out: &Output,
) -> anyhow::Result<()> {
    let Some(msg) = response.msg else {
        return Ok(());
    };
    match msg {
        Msg::Reading(r) => {
            tally.readings += 1;
            tally.alert_readings += u64::from(r.alert);
            if out.json {
                return out.json_line(&json!({
                    "type": "reading", "sensor_id": r.sensor_id, "temp_c": r.temp_c,
                    "temp_f": r.temp_f, "humidity": r.humidity, "alert": r.alert,
                    "timestamp": timestamp(r.timestamp.as_ref()),
                }));
            }
            // The seed rounds °F to two places; the wire value is exact, so round for display.
            let line = if r.alert {
                format!(
                    "⚠️  alert  {}: temperature too high, {:.2} °C ({:.2} °F), humidity {:.2} %",
                    r.sensor_id, r.temp_c, r.temp_f, r.humidity
                )
            } else {
                format!(
                    "✅ normal {}: {:.2} °C ({:.2} °F), humidity {:.2} %",
                    r.sensor_id, r.temp_c, r.temp_f, r.humidity
                )
            };
            out.line(&line)
        }
        Msg::Alert(a) => {
            tally.alerts += 1;
            let state = proto::AlertState::try_from(a.state)
                .map(|s| s.as_str_name().trim_start_matches("ALERT_STATE_"))
                .unwrap_or("UNKNOWN");
            let severity = proto::Severity::try_from(a.severity)
                .map(|s| s.as_str_name().trim_start_matches("SEVERITY_"))
                .unwrap_or("UNKNOWN");
            if out.json {
                return out.json_line(&json!({
                    "type": "alert", "sensor_id": a.sensor_id, "state": state,
                    "severity": severity, "temp_c": a.temp_c, "threshold": a.threshold,
                    "at": timestamp(a.at.as_ref()), "message": a.message,
                }));
            }
            if a.message.is_empty() {
                out.line(&format!(
                    "🔔 {state} {severity} {}: {:.2} °C, threshold {:.2} °C",
                    a.sensor_id, a.temp_c, a.threshold
                ))
            } else {
                out.line(&format!("🔔 {state} {severity}: {}", a.message))
            }
        }
        Msg::Rejected(r) => {
            tally.rejected += 1;
            if out.json {
                return out.json_line(&json!({
                    "type": "rejected", "sensor_id": r.sensor_id, "reason": r.reason,
                }));
            }
            out.line(&format!("✖ rejected {}: {}", r.sensor_id, r.reason))
        }
        Msg::ConfigRejected(c) => {
            // Only the --threshold config is sent: a refusal means the flag was unusable.
            let e = Error::new(
                tonic::Code::InvalidArgument,
                format!("--threshold was refused by the server: {}", c.reason),
            );
            Err(e.into())
        }
    }
}

fn timestamp(t: Option<&prost_types::Timestamp>) -> Value {
    t.and_then(|t| {
        let secs = u64::try_from(t.seconds).ok()?;
        let nanos = u32::try_from(t.nanos).ok()?;
        let at = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        Some(Value::String(
            humantime::format_rfc3339_millis(at).to_string(),
        ))
    })
    .unwrap_or(Value::Null)
}
