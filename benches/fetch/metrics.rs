//! What metrics cost Fetch: the same load through a server with `--metrics-listen` (every
//! call counted by the gRPC layer and the fetch families) and through the bench's server
//! without it, alternating, the better of two rounds each.

use streamgate_client::proto::fetch_service_client::FetchServiceClient;

use super::support::{self, Load, TestServer, load, result};
use super::{Bench, CONCURRENCY, REQUESTS, warm_up};

/// Prints `fetch_metrics_on_vs_off` (calls/s with metrics over calls/s without; target ≥ 0.95).
pub async fn run(bench: &Bench) {
    // The metered server gets a runtime of its own, as the bench's server has.
    let server_rt = support::runtime("server-metrics");
    let config = streamgate::Config::from_args([
        "streamgate",
        "--listen",
        "127.0.0.1:0",
        "--allow-private-networks",
        "--fetch-max-concurrency",
        "64",
        "--fetch-max-per-host",
        "64",
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .expect("bench flags parse");
    let metered =
        TestServer::start_on(config, streamgate::Deps::default(), server_rt.handle()).await;

    let off = FetchServiceClient::new(support::connect(bench.addr()).await);
    let on = FetchServiceClient::new(support::connect(metered.addr).await);
    warm_up(|_| bench.fetch_call(&on)).await;
    let (mut best_off, mut best_on): (Option<Load>, Option<Load>) = (None, None);
    for round in 1..=2 {
        let o = load(REQUESTS, CONCURRENCY, |_| bench.fetch_call(&off)).await;
        let m = load(REQUESTS, CONCURRENCY, |_| bench.fetch_call(&on)).await;
        println!(
            "fetch metrics round {round}: off {:.0} calls/s, on {:.0} calls/s",
            o.per_sec(),
            m.per_sec()
        );
        if best_off.as_ref().is_none_or(|b| o.per_sec() > b.per_sec()) {
            best_off = Some(o);
        }
        if best_on.as_ref().is_none_or(|b| m.per_sec() > b.per_sec()) {
            best_on = Some(m);
        }
    }
    let (off, on) = (best_off.expect("two rounds"), best_on.expect("two rounds"));
    result("fetch_metrics_on_vs_off", on.per_sec(), off.per_sec());
    result(
        "fetch_metrics_cpu_us_per_call",
        on.cpu_us_per_call(),
        off.cpu_us_per_call(),
    );
    let _ = metered.stop().await;
    // A runtime cannot be dropped inside another's async context.
    server_rt.shutdown_background();
}
