//! The edge's cost: Fetch over TLS with a bearer token and a policy (the principal's
//! services, fetch_hosts, fetch_methods, rate_per_second and max_concurrent all checked on
//! every call) against plaintext Fetch without a policy, same load, measured back to back;
//! and the policy decision's own CPU per call, alone in a loop.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use streamgate::{Credentials, Gate, Policy, Service, Target};
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;

use super::support::common::edge::{Ca, Files, sha256_hex, tls_channel};
use super::support::{self, TestServer, load, result};
use super::{Bench, CONCURRENCY, REQUESTS, warm_up};

/// The bench caller's bearer token.
const TOKEN: &str = "bench-token-0123456789abcdef";

/// Policy decisions timed alone.
const DECISIONS: usize = 1_000_000;

/// A policy that checks every rule on each call and refuses none of the bench's.
fn policy() -> String {
    format!(
        r#"mode = "enforce"
[principals.bench]
tokens_sha256 = ["{}"]
services = ["fetch"]
fetch_hosts = ["127.0.0.1", "*.example.org"]
fetch_methods = ["GET", "HEAD"]
rate_per_second = 10000000
max_concurrent = 1024
[principals.other]
tokens_sha256 = ["{}"]
services = ["lock"]
lock_prefixes = ["other/"]
"#,
        sha256_hex(TOKEN),
        sha256_hex("another-token")
    )
}

/// Prints `fetch_tls_policy_rps_vs_plain`, `fetch_tls_policy_cpu_us_per_call` and
/// `policy_check_cpu_ns_per_call`.
pub async fn run(bench: &Bench) {
    let ca = Ca::new("bench CA");
    let files = Files::new();
    let server_cert = ca.server();
    let cert = files.write("server.pem", &server_cert.cert);
    let key = files.write("server.key", &server_cert.key);
    let policy_path = files.write("policy.toml", &policy());
    let config = streamgate::Config::from_args([
        "streamgate",
        "--listen",
        "127.0.0.1:0",
        "--allow-private-networks",
        "--fetch-max-concurrency",
        "64",
        "--fetch-max-per-host",
        "64",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--policy",
        &policy_path,
    ])
    .expect("bench flags parse");
    // The TLS server gets a runtime of its own, as the plaintext one has.
    let server_rt = support::runtime("tls-server");
    let server =
        TestServer::start_on(config, streamgate::Deps::default(), server_rt.handle()).await;

    // Plaintext again, right before, so both runs see the same machine load.
    let plain_client = FetchServiceClient::new(support::connect(bench.addr()).await);
    let plain_call = |_| bench.fetch_call(&plain_client);
    warm_up(plain_call).await;
    let plain = load(REQUESTS, CONCURRENCY, plain_call).await;

    let channel = tls_channel(server.addr, &ca.pem, None)
        .await
        .expect("TLS channel to the bench server");
    let client = FetchServiceClient::new(channel);
    let tls_call = |_| tls_fetch_call(&client, &bench.url);
    warm_up(tls_call).await;
    let tls = load(REQUESTS, CONCURRENCY, tls_call).await;
    println!(
        "edge: {REQUESTS} Fetch calls at concurrency {CONCURRENCY}: plaintext {:.2}s, TLS + token + policy {:.2}s",
        plain.wall.as_secs_f64(),
        tls.wall.as_secs_f64()
    );
    result(
        "fetch_tls_policy_rps_vs_plain",
        tls.per_sec(),
        plain.per_sec(),
    );
    result(
        "fetch_tls_policy_cpu_us_per_call",
        tls.cpu_us_per_call(),
        plain.cpu_us_per_call(),
    );

    let ns = policy_decision_ns(&policy_path);
    // Against the whole CPU of one plaintext Fetch (clients, server, upstream): the share of
    // a call the policy costs.
    result(
        "policy_check_cpu_ns_per_call",
        ns,
        plain.cpu_us_per_call() * 1000.0,
    );

    let _ = server.stop().await;
    server_rt.shutdown_background();
}

fn tls_fetch_call(
    client: &FetchServiceClient<tonic::transport::Channel>,
    url: &str,
) -> impl std::future::Future<Output = bool> + use<> {
    let mut c = client.clone();
    let mut req = tonic::Request::new(FetchRequest {
        url: url.to_string(),
        ..Default::default()
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii token"),
    );
    async move {
        match c.fetch(req).await {
            Ok(r) => r.get_ref().status == 200 && r.get_ref().body.len() == super::BODY_BYTES,
            Err(_) => false,
        }
    }
}

/// CPU nanoseconds of one whole policy decision as a Fetch call meets it: the token's
/// SHA-256 and constant-time lookup, `services`, the token bucket, the `max_concurrent`
/// count, then `fetch_methods` and `fetch_hosts`. Timed on this thread's own CPU clock.
fn policy_decision_ns(path: &str) -> f64 {
    let path = std::path::PathBuf::from(path);
    let gate = Gate::new(
        path.clone(),
        Arc::new(Policy::load(&path, None).expect("policy")),
    );
    let header = format!("Bearer {TOKEN}");
    let creds = Credentials {
        authorization: Some(header.as_bytes()),
        peer_certs: None,
    };
    let target = Target::Service(Service::Fetch);
    let url = url::Url::parse("http://127.0.0.1:8080/ok").expect("url");
    let decide = || {
        let admission = gate.admit(target, &creds).expect("admitted");
        admission
            .caller
            .method_allowed(&http::Method::GET)
            .expect("GET");
        admission.caller.host_allowed(&url).expect("host");
        black_box(admission);
    };
    for _ in 0..1000 {
        decide();
    }
    let start = thread_cpu();
    for _ in 0..DECISIONS {
        decide();
    }
    (thread_cpu() - start).as_secs_f64() * 1e9 / DECISIONS as f64
}

/// This thread's user + system CPU time (/proc/thread-self/stat, 100 Hz ticks).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}
