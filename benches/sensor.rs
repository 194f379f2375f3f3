//! SensorFeed benchmark (`cargo bench --bench sensor`), each figure next to a baseline started
//! in the same run:
//!
//! 1. Throughput: readings/s through one SensorFeed stream (send and receive concurrently,
//!    `SENSOR_BENCH_READINGS` readings of 100 sensors, default 1,000,000) against a bare tonic
//!    bidi echo implementing the same generated `SensorService` trait, which maps each reading
//!    to a `ProcessedReading` in the response stream itself (no task, no channel, no state).
//!    Both servers run in this process; the better of two alternating rounds counts. Then the
//!    same against a server with `--metrics-listen` (`sensor_metrics_on_vs_off`).
//! 2. Latency under many streams: `SENSOR_BENCH_STREAMS` streams (default 1,000, over 10
//!    connections) each sending 10 readings/s for `SENSOR_BENCH_SECS` s (default 10): p50/p99
//!    reading→response latency against the streamgate binary (a separate process, so its RSS is
//!    the server's own) and against the in-process echo; the server's RSS idle and under load.
//!    Each stream waits for a reading's response before its next tick (closed loop).

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use streamgate_client::SensorServiceClient;
use streamgate_client::proto as client;
use tokio_stream::wrappers::ReceiverStream;

use support::process::ServerProcess;
use support::{TestServer, connect, percentile, result};

const SENSORS: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start_in_process() -> TestServer {
    TestServer::start_with(streamgate::Config::for_tests()).await
}

async fn start_in_process_with_metrics() -> TestServer {
    TestServer::start_with_args(&["--metrics-listen", "127.0.0.1:0"]).await
}

fn reading(ids: &[String], i: usize) -> client::SensorFeedRequest {
    client::SensorFeedRequest {
        msg: Some(client::sensor_feed_request::Msg::Reading(
            client::SensorReading {
                sensor_id: ids[i % ids.len()].clone(),
                // Below 28 °C: one response per reading, no alerts, the same for both servers.
                temperature: 20.0 + (i % 50) as f64 / 10.0,
                humidity: 50.0,
                timestamp: None,
            },
        )),
    }
}

/// Readings/s through one stream of `n` readings.
async fn throughput(addr: SocketAddr, n: usize) -> f64 {
    let ids: Arc<Vec<String>> = Arc::new((0..SENSORS).map(|i| format!("sensor-{i}")).collect());
    let mut client = SensorServiceClient::new(connect(addr).await);
    let start = Instant::now();
    let requests = futures::stream::iter(0..n).map(move |i| reading(&ids, i));
    let mut responses = client
        .sensor_feed(requests)
        .await
        .expect("open feed")
        .into_inner();
    let mut got = 0;
    while got < n {
        match responses
            .message()
            .await
            .expect("stream ok")
            .expect("stream open")
            .msg
        {
            Some(client::sensor_feed_response::Msg::Reading(_)) => got += 1,
            other => panic!("unexpected response {other:?}"),
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Reading→response latencies (µs) of `streams` streams at 10 readings/s for `secs` s.
async fn latencies(addr: SocketAddr, streams: usize, secs: u64) -> Vec<u32> {
    let mut channels = Vec::new();
    for _ in 0..10 {
        channels.push(connect(addr).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..streams {
        let channel = channels[s % channels.len()].clone();
        tasks.spawn(async move {
            let ids = vec![format!("stream-{s}-sensor")];
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let mut client = SensorServiceClient::new(channel);
            let mut responses = client
                .sensor_feed(ReceiverStream::new(rx))
                .await
                .expect("open")
                .into_inner();
            // Spread the streams' ticks over the 100 ms period.
            tokio::time::sleep(Duration::from_micros((s as u64 * 100_000) / streams as u64)).await;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut out = Vec::with_capacity(secs as usize * 10);
            for i in 0..secs as usize * 10 {
                tick.tick().await;
                let sent = Instant::now();
                tx.send(reading(&ids, i))
                    .await
                    .expect("request stream open");
                responses
                    .message()
                    .await
                    .expect("stream ok")
                    .expect("stream open");
                out.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(res) = tasks.join_next().await {
        all.extend(res.expect("stream task"));
    }
    all.sort_unstable();
    all
}

/// Percentile `p` of sorted microsecond latencies, in milliseconds.
fn pct(sorted: &[u32], p: f64) -> f64 {
    f64::from(percentile(sorted, p)) / 1000.0
}

#[tokio::main]
async fn main() {
    let n = env_or("SENSOR_BENCH_READINGS", 1_000_000) as usize;
    let streams = env_or("SENSOR_BENCH_STREAMS", 1_000) as usize;
    let secs = env_or("SENSOR_BENCH_SECS", 10);

    let echo = support::echo::start(None).await;
    let in_process = start_in_process().await;
    let sg = in_process.addr;
    // Warm both up (connections, allocator) before timing.
    throughput(echo, 10_000).await;
    throughput(sg, 10_000).await;
    let (mut best_echo, mut best_sg) = (0f64, 0f64);
    for round in 1..=2 {
        let e = throughput(echo, n).await;
        let s = throughput(sg, n).await;
        println!("round {round}: echo {e:.0} readings/s, streamgate {s:.0} readings/s");
        best_echo = best_echo.max(e);
        best_sg = best_sg.max(s);
    }
    result("sensor_readings_per_s", best_sg, best_echo);

    // What metrics cost: the same stream through a server with `--metrics-listen` (every
    // message and reading counted), alternating with the one without.
    let metered = start_in_process_with_metrics().await;
    throughput(metered.addr, 10_000).await;
    let (mut best_off, mut best_on) = (0f64, 0f64);
    for round in 1..=2 {
        let off = throughput(sg, n).await;
        let on = throughput(metered.addr, n).await;
        println!("metrics round {round}: off {off:.0} readings/s, on {on:.0} readings/s");
        best_off = best_off.max(off);
        best_on = best_on.max(on);
    }
    result("sensor_metrics_on_vs_off", best_on, best_off);
    let _ = metered.stop().await;

    let server = ServerProcess::start().await;
    let idle = server.rss_kib();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let pid_status = format!("/proc/{}/status", server.child.id());
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Ok(status) = std::fs::read_to_string(&pid_status) else {
                    break;
                };
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                peak = peak.max(rss);
            }
            peak
        })
    };
    let sg_lat = latencies(server.addr, streams, secs).await;
    let loaded = server.rss_kib();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.await.expect("RSS sampler").max(loaded);
    let echo_lat = latencies(echo, streams, secs).await;
    println!(
        "{streams} streams x 10 readings/s x {secs} s: streamgate p50 {:.3} ms p99 {:.3} ms \
         max {:.3} ms ({} samples); echo p50 {:.3} ms p99 {:.3} ms max {:.3} ms",
        pct(&sg_lat, 0.5),
        pct(&sg_lat, 0.99),
        pct(&sg_lat, 1.0),
        sg_lat.len(),
        pct(&echo_lat, 0.5),
        pct(&echo_lat, 0.99),
        pct(&echo_lat, 1.0),
    );
    let (p99, p99_echo) = (pct(&sg_lat, 0.99), pct(&echo_lat, 0.99));
    result("sensor_p99_latency_ms", p99, p99_echo);
    println!("server RSS: idle {idle} KiB, peak under load {peak} KiB, at the end {loaded} KiB");
    result("sensor_server_rss_kib", peak as f64, idle as f64);
    drop(server);
}
