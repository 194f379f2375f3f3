//! Full-speed SensorFeed senders, Go client against Rust client (`cargo bench --bench
//! sensor_flood`): each sends small readings as fast as it can on streams sharing one
//! connection to the streamgate binary (a process of its own) and reads every answer.
//!
//! The Go side is `clients/go/cmd/sensor-flood`, built by this bench with the `go` on PATH;
//! grpc-go sends each message in a DATA frame of its own, the pattern the server's windows
//! are sized for (docs/sensor.md, "Full-speed streams"). The Rust side is the
//! streamgate-client crate (tonic) in this process. Rounds alternate Go and Rust on one
//! server; the best round of each counts, and every run must deliver every event.
//!
//! Prints `RESULT sensor_go_flood_events_per_s` (one stream, `SENSOR_FLOOD_READINGS`
//! readings, default 200,000) and `RESULT sensor_go_flood32_events_per_s` (32 streams of
//! `SENSOR_FLOOD_READINGS / 32`), each with the Rust client's figure as the baseline; then the
//! Go client's ceiling on this machine, the same floods against a server that only answers
//! (`support::echo`), as `RESULT sensor_go_flood_vs_go_ceiling` (Go against streamgate over Go
//! against that server).

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::future::join_all;
use streamgate_client::SensorServiceClient;
use streamgate_client::proto as client;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use support::process::ServerProcess;
use support::{connect, result};

/// Alternating rounds per figure.
const ROUNDS: usize = 2;

/// Bounds one flood (either client), so a killed connection fails the bench, not hangs it.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(300);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds the Go flood program into target/; panics saying what to install without Go.
fn build_go_flood() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = repo.join("target").join("sensor-flood-go");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./cmd/sensor-flood")
        .current_dir(repo.join("clients/go"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): install Go 1.26 or newer"));
    assert!(status.success(), "go build ./cmd/sensor-flood failed");
    out
}

/// Events/s of the Go client: `streams` × `readings`, every answer required.
fn go_flood(bin: &Path, addr: SocketAddr, streams: usize, readings: usize) -> f64 {
    let out = Command::new(bin)
        .arg("--server")
        .arg(addr.to_string())
        .arg(format!("--streams={streams}"))
        .arg(format!("--readings={readings}"))
        .output()
        .expect("run sensor-flood");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Go flood failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> f64 {
        stdout
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in the Go flood's output: {stdout}"))
    };
    let (events, expected) = (field("events"), field("expected"));
    assert_eq!(events, expected, "the Go client lost events");
    assert_eq!(expected, (streams * readings) as f64);
    events / field("seconds")
}

/// Events/s of the Rust client: `streams` × `readings` on one channel, every answer required.
async fn rust_flood(addr: SocketAddr, streams: usize, readings: usize) -> f64 {
    let channel = connect(addr).await;
    let start = Instant::now();
    let counts = join_all((0..streams).map(|s| {
        let channel = channel.clone();
        async move {
            let (tx, rx) = mpsc::channel(1_024);
            let mut responses = SensorServiceClient::new(channel)
                .sensor_feed(ReceiverStream::new(rx))
                .await
                .expect("open feed")
                .into_inner();
            let sensor = format!("sensor-{s}");
            let sending = async move {
                for i in 0..readings {
                    tx.send(reading(&sensor, i))
                        .await
                        .expect("request stream open");
                }
            };
            let receiving = async {
                let mut got = 0;
                while let Some(resp) = responses.message().await.expect("stream ok") {
                    if let Some(client::sensor_feed_response::Msg::Reading(_)) = resp.msg {
                        got += 1;
                    }
                }
                got
            };
            tokio::join!(sending, receiving).1
        }
    }))
    .await;
    let elapsed = start.elapsed();
    let events: usize = counts.iter().sum();
    assert_eq!(events, streams * readings, "the Rust client lost events");
    events as f64 / elapsed.as_secs_f64()
}

fn reading(sensor: &str, i: usize) -> client::SensorFeedRequest {
    client::SensorFeedRequest {
        msg: Some(client::sensor_feed_request::Msg::Reading(
            client::SensorReading {
                sensor_id: sensor.to_string(),
                // Below 28 °C: one answer per reading, no alerts (as the Go program sends).
                temperature: 20.0 + (i % 50) as f64 / 10.0,
                humidity: 50.0,
                timestamp: None,
            },
        )),
    }
}

/// Best-of-rounds events/s of (Go, Rust), alternating on the same server.
async fn compare(go: &Path, addr: SocketAddr, streams: usize, readings: usize) -> (f64, f64) {
    let (mut best_go, mut best_rust) = (0f64, 0f64);
    for round in 1..=ROUNDS {
        let g = tokio::task::block_in_place(|| go_flood(go, addr, streams, readings));
        let r = tokio::time::timeout(FLOOD_TIMEOUT, rust_flood(addr, streams, readings))
            .await
            .expect("the Rust flood finished in time");
        println!(
            "{streams} stream(s) x {readings}, round {round}: Go {g:.0} events/s, Rust {r:.0} events/s"
        );
        best_go = best_go.max(g);
        best_rust = best_rust.max(r);
    }
    (best_go, best_rust)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let readings = env_or("SENSOR_FLOOD_READINGS", 200_000);
    let go = build_go_flood();
    let server = ServerProcess::start().await;
    // Warm up the server, both clients' connections and the allocator before timing.
    tokio::task::block_in_place(|| go_flood(&go, server.addr, 1, 10_000));
    rust_flood(server.addr, 1, 10_000).await;

    let (g, r) = compare(&go, server.addr, 1, readings).await;
    result("sensor_go_flood_events_per_s", g, r);
    let (g32, r32) = compare(&go, server.addr, 32, readings / 32).await;
    result("sensor_go_flood32_events_per_s", g32, r32);

    // The Go client's own ceiling: the same floods against a server that only answers (tonic,
    // streamgate's windows). When Go against streamgate is close to Go against it, the gap to
    // the Rust client is the Go client's, not the server's.
    let echo = support::echo::start(Some(support::echo::STREAMGATE_WINDOWS)).await;
    tokio::task::block_in_place(|| go_flood(&go, echo, 1, 10_000));
    let ceiling = best_go(&go, echo, 1, readings);
    println!(
        "ceiling: the Go client against a bare echo server: {ceiling:.0} events/s = {:.3} x the Rust client's rate against streamgate (target 0.8)",
        ceiling / r
    );
    result("sensor_go_flood_vs_go_ceiling", g, ceiling);
    let ceiling32 = best_go(&go, echo, 32, readings / 32);
    println!(
        "ceiling: 32 streams, the Go client against a bare echo server: {ceiling32:.0} events/s = {:.3} x the Rust client's rate against streamgate",
        ceiling32 / r32
    );
    result("sensor_go_flood32_vs_go_ceiling", g32, ceiling32);
}

/// Best-of-rounds events/s of the Go client alone against `addr`.
fn best_go(go: &Path, addr: SocketAddr, streams: usize, readings: usize) -> f64 {
    tokio::task::block_in_place(|| {
        (0..ROUNDS)
            .map(|_| go_flood(go, addr, streams, readings))
            .fold(0f64, f64::max)
    })
}
