//! Fetch against the direct path and the health check: calls/s and latency on one channel,
//! and calls/s over four channels (a client pool of separate connections).

use streamgate_client::proto::fetch_service_client::FetchServiceClient;

use super::support::{self, load, result};
use super::{Bench, CONCURRENCY, REQUESTS, warm_up};

/// Prints `fetch_throughput_rps*`, `fetch_p50_ms`, `fetch_p99_ms` and the health-check ratios.
pub async fn run(bench: &Bench) {
    let base = &bench.base;
    let (direct, sg) = (&base.direct, &base.fetch);
    println!(
        "fetch: {REQUESTS} GETs of 1 KiB at concurrency {CONCURRENCY}: direct {:.2}s, via streamgate {:.2}s (one channel)",
        direct.wall.as_secs_f64(),
        sg.wall.as_secs_f64()
    );
    result("fetch_throughput_rps", sg.per_sec(), direct.per_sec());
    let (p50, b50) = (sg.percentile_ms(0.5), direct.percentile_ms(0.5));
    result("fetch_p50_ms", p50, b50);
    result(
        "fetch_p99_ms",
        sg.percentile_ms(0.99),
        direct.percentile_ms(0.99),
    );
    println!("fetch: added p50 latency {:.3} ms", p50 - b50);

    let channels = 4;
    let mut clients = Vec::new();
    for _ in 0..channels {
        clients.push(FetchServiceClient::new(
            support::connect(bench.addr()).await,
        ));
    }
    let call = |i: usize| bench.fetch_call(&clients[i % channels]);
    warm_up(call).await;
    let pooled = load(REQUESTS, CONCURRENCY, call).await;
    result(
        &format!("fetch_throughput_rps_{channels}_channels"),
        pooled.per_sec(),
        direct.per_sec(),
    );
    result(
        "health_check_rps_vs_direct",
        base.health.per_sec(),
        direct.per_sec(),
    );
    result(
        "fetch_rps_vs_health_check_rps",
        sg.per_sec(),
        base.health.per_sec(),
    );
}
