//! The fetch path's own cost: CPU per call (clients, server and upstream of this process
//! together, so it hardly moves when other processes share the cores) of Fetch against the two
//! hops it cannot avoid, a gRPC call (the health check) and an HTTP request (the direct path).

use super::Bench;
use super::support::result;

/// Prints `fetch_cpu_us_per_call`, `health_check_cpu_us_per_call` and `fetch_cpu_vs_hops`
/// (Fetch's CPU per call over health check + direct request: the server's own work on top).
pub async fn run(bench: &Bench) {
    let base = &bench.base;
    let fetch = base.fetch.cpu_us_per_call();
    let health = base.health.cpu_us_per_call();
    let direct = base.direct.cpu_us_per_call();
    result("fetch_cpu_us_per_call", fetch, direct);
    result("health_check_cpu_us_per_call", health, direct);
    result("fetch_cpu_vs_hops", fetch, health + direct);
}
