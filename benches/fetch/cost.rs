//! The fetch path's own cost: CPU per call (clients, server and upstream of this process
//! together, so it hardly moves when other processes share the cores) of Fetch against the two
//! hops it cannot avoid, a gRPC call (the health check) and an HTTP request (the direct path).
//!
//! The ceiling beside it: the bare forwarder (`support::forwarder`: the generated FetchService
//! trait implemented with nothing but a reqwest GET), served by plain tonic on a runtime of its
//! own. What it costs over the two hops is the price of chaining them with
//! tonic and reqwest; what Fetch costs over it is streamgate's own work.
//!
//! Besides the shared baseline runs, it measures the loads again in alternating rounds, so
//! that a change in the machine's load during the bench weighs on all of them alike.

use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tonic_health::pb::health_client::HealthClient;

use super::support::{self, load, result};
use super::{Bench, CONCURRENCY, REQUESTS, health_call, warm_up};

/// Rounds of (direct, health check, bare forwarder, Fetch) loads.
const ROUNDS: usize = 3;

/// Prints `fetch_cpu_us_per_call`, `health_check_cpu_us_per_call`, `fetch_cpu_vs_hops`
/// (Fetch's CPU per call over health check + direct request), and the ceiling:
/// `bare_forwarder_cpu_vs_hops` and `fetch_cpu_vs_bare_forwarder`; then the same ceiling in
/// calls/s: `fetch_rps_vs_bare_forwarder_rps`, and the forwarder's own ratio to the health
/// check (`bare_forwarder_rps_vs_health_check_rps`) beside Fetch's, so that a Fetch ratio
/// below the target can be read against what chaining tonic and reqwest allows at all.
pub async fn run(bench: &Bench) {
    let base = &bench.base;
    let direct = base.direct.cpu_us_per_call();
    result(
        "fetch_cpu_us_per_call",
        base.fetch.cpu_us_per_call(),
        direct,
    );
    result(
        "health_check_cpu_us_per_call",
        base.health.cpu_us_per_call(),
        direct,
    );

    let forwarder_rt = support::runtime("forwarder");
    let forwarder_addr = forwarder_rt
        .spawn(support::forwarder::start(None))
        .await
        .expect("the forwarder starts");
    let fetch = FetchServiceClient::new(support::connect(bench.addr()).await);
    let forwarder = FetchServiceClient::new(support::connect(forwarder_addr).await);
    let health = HealthClient::new(support::connect(bench.addr()).await);
    warm_up(|_| bench.fetch_call(&forwarder)).await;
    let calls = REQUESTS / 2;
    let mut sums = [0.0f64; 4];
    let mut rps = [0.0f64; 4];
    for round in 1..=ROUNDS {
        let d = load(calls, CONCURRENCY, |_| bench.direct_call()).await;
        let h = load(calls, CONCURRENCY, |_| health_call(&health)).await;
        let b = load(calls, CONCURRENCY, |_| bench.fetch_call(&forwarder)).await;
        let f = load(calls, CONCURRENCY, |_| bench.fetch_call(&fetch)).await;
        let loads = [d, h, b, f];
        let cpu = loads.each_ref().map(|l| l.cpu_us_per_call());
        for (sum, l) in rps.iter_mut().zip(&loads) {
            *sum += l.per_sec() / ROUNDS as f64;
        }
        println!(
            "fetch cost round {round}: µs/call direct {:.1}, health check {:.1}, bare forwarder {:.1}, fetch {:.1}: fetch / hops {:.3}, forwarder / hops {:.3}",
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[3],
            cpu[3] / (cpu[0] + cpu[1]),
            cpu[2] / (cpu[0] + cpu[1]),
        );
        for (sum, c) in sums.iter_mut().zip(cpu) {
            *sum += c / ROUNDS as f64;
        }
    }
    let [d, h, b, f] = sums;
    result("fetch_cpu_vs_hops", f, h + d);
    result("bare_forwarder_cpu_vs_hops", b, h + d);
    result("fetch_cpu_vs_bare_forwarder", f, b);
    let [_, h_rps, b_rps, f_rps] = rps;
    println!(
        "fetch: calls/s over {ROUNDS} rounds: health check {h_rps:.0}, bare forwarder {b_rps:.0}, fetch {f_rps:.0}"
    );
    result("fetch_rps_vs_bare_forwarder_rps", f_rps, b_rps);
    result("bare_forwarder_rps_vs_health_check_rps", b_rps, h_rps);
    result("fetch_rps_vs_health_check_rps_alternating", f_rps, h_rps);
    forwarder_rt.shutdown_background();
}
