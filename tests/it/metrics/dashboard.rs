//! The Grafana dashboard and the observability doc name only metrics a real server exports.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::RedisServer;
use common::metrics::Metrics;
use prometheus_parse::Value;
use streamgate::AuthFailure;
use streamgate::{App, Config, Deps};
use tokio::net::TcpListener;

/// Prefixes of every metric name streamgate exports.
const PREFIXES: [&str; 3] = ["grpc_server_", "streamgate_", "process_"];

/// The metric names in `text`: identifiers starting with one of [`PREFIXES`].
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| is_ident(c)) {
        let from = &rest[start..];
        let end = from.find(|c: char| !is_ident(c)).unwrap_or(from.len());
        let word = &from[..end];
        // Only whole identifiers: not the tail of a longer one.
        let whole = start == 0 || !rest[..start].ends_with(is_ident);
        if whole && PREFIXES.iter().any(|p| word.starts_with(p)) {
            names.insert(word.to_owned());
        }
        rest = &from[end..];
    }
    names
}

/// Every PromQL expression of the dashboard (panel targets and template queries).
fn dashboard_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// Whether the scrape has `name`: a sample of that name, or for `x_bucket` a histogram `x`.
fn exported(m: &Metrics, name: &str) -> bool {
    let histogram = name.strip_suffix("_bucket").is_some_and(|base| {
        m.scrape
            .samples
            .iter()
            .any(|s| s.metric == base && matches!(s.value, Value::Histogram(_)))
    });
    histogram || m.scrape.samples.iter().any(|s| s.metric == name)
}

/// A server with Redis (so `streamgate_redis_up` is exported) and one edge failure and
/// denial recorded through the functions the edge calls; its scrape.
async fn scrape_a_full_server() -> Metrics {
    let redis = RedisServer::start();
    let port = common::free_port();
    let config = Config::from_args([
        "streamgate",
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &redis.url(),
        "--metrics-listen",
        &format!("127.0.0.1:{port}"),
    ])
    .expect("flags parse");
    let app = App::build(config.settings().expect("valid settings"), Deps::default())
        .await
        .expect("the server builds");
    let edge = app.metrics().edge();
    edge.auth_failure(AuthFailure::UnknownToken);
    edge.policy_denied("billing", "fetch_hosts");
    let addr = app.metrics_addr().expect("the metrics endpoint is bound");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("a body");
    let _ = stop.send(());
    server
        .await
        .expect("the server task did not panic")
        .expect("the server stops cleanly");
    drop(redis);
    Metrics::parse(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_doc_name_is_exported_by_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/streamgate.json"))
            .expect("deploy/grafana/streamgate.json"),
    )
    .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 20, "only {} queries found", queries.len());
    let in_dashboard: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    let doc =
        std::fs::read_to_string(root.join("docs/observability.md")).expect("docs/observability.md");
    let in_doc = metric_names(&doc);

    let scrape = scrape_a_full_server().await;
    for name in &in_dashboard {
        assert!(
            exported(&scrape, name),
            "the dashboard queries {name}, which the server does not export"
        );
    }
    for name in &in_doc {
        // The doc names histograms by their family name.
        let known = exported(&scrape, name) || exported(&scrape, &format!("{name}_bucket"));
        assert!(
            known,
            "docs/observability.md names {name}, which the server does not export"
        );
    }
    // Both cover every family the contract requires.
    for required in [
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "grpc_server_msg_received_total",
        "grpc_server_msg_sent_total",
        "grpc_server_handling_seconds_bucket",
        "streamgate_fetch_upstream_requests_total",
        "streamgate_fetch_upstream_seconds_bucket",
        "streamgate_fetch_queue_seconds_bucket",
        "streamgate_fetch_in_flight",
        "streamgate_fetch_refused_total",
        "streamgate_pages_total",
        "streamgate_pages_retries_total",
        "streamgate_lock_grants_total",
        "streamgate_lock_waiters",
        "streamgate_lock_wait_seconds_bucket",
        "streamgate_redis_up",
        "streamgate_sensor_streams",
        "streamgate_sensor_readings_total",
        "streamgate_sensor_alerts_total",
        "streamgate_auth_failures_total",
        "streamgate_policy_denied_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(
            in_dashboard.contains(required),
            "the dashboard does not show {required}"
        );
        assert!(
            exported(&scrape, required),
            "the server does not export {required}"
        );
    }
    assert_eq!(
        scrape.value(
            "streamgate_policy_denied_total",
            &[("principal", "billing"), ("rule", "fetch_hosts")]
        ),
        1.0
    );
    assert_eq!(
        scrape.value(
            "streamgate_auth_failures_total",
            &[("reason", "unknown_token")]
        ),
        1.0
    );
}

#[test]
fn metric_names_are_found_as_whole_identifiers() {
    let q = r#"histogram_quantile(0.99, sum by (le) (rate(streamgate_lock_wait_seconds_bucket{job=~"$job"}[5m]))) / x_streamgate_no"#;
    assert_eq!(
        metric_names(q).into_iter().collect::<Vec<_>>(),
        ["streamgate_lock_wait_seconds_bucket"]
    );
}
