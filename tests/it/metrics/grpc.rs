//! The gRPC server metrics on a real `/metrics` endpoint: go-grpc-prometheus's names,
//! labels and code spellings, one count per call and per message.

use crate::common;

use axum::Router;
use axum::routing::get;
use common::Upstream;
use common::fetch::{client_for, get as get_req};
use common::metrics::Metered;
use streamgate::Deps;
use tonic::Code;

const FETCH: [(&str, &str); 3] = [
    ("grpc_type", "unary"),
    ("grpc_service", "streamgate.v1.FetchService"),
    ("grpc_method", "Fetch"),
];

fn with<'a>(base: &[(&'a str, &'a str)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(more).copied().collect()
}

async fn ok_upstream() -> Upstream {
    Upstream::start(Router::new().route("/ok", get(|| async { "fine" }))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_fetch_calls_move_handled_ok_by_exactly_n() {
    const N: f64 = 7.0;
    let up = ok_upstream().await;
    let m = Metered::start(&[]).await;
    let mut client = client_for(m.server.addr).await;
    let ok = with(&FETCH, &[("grpc_code", "OK")]);
    let before = m.scrape().await;

    for _ in 0..N as usize {
        let resp = client
            .fetch(get_req(up.url("/ok")))
            .await
            .expect("Fetch succeeds");
        assert_eq!(resp.into_inner().status, 200);
    }

    let after = m.scrape().await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert_eq!(moved("grpc_server_handled_total", &ok), N);
    assert_eq!(moved("grpc_server_started_total", &FETCH), N);
    assert_eq!(moved("grpc_server_msg_received_total", &FETCH), N);
    assert_eq!(moved("grpc_server_msg_sent_total", &FETCH), N);
    assert_eq!(moved("grpc_server_handling_seconds_count", &FETCH), N);
    assert!(after.value("grpc_server_handling_seconds_sum", &FETCH) > 0.0);
    after.assert_no_label_contains(&[&up.addr.to_string(), "/ok", "127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_argument_and_permission_denied_are_counted_under_their_codes() {
    let up = ok_upstream().await;
    // The production guard: a loopback target is PERMISSION_DENIED (refused before any
    // connection is made).
    let m =
        Metered::start_with_deps(&["streamgate", "--listen", "127.0.0.1:0"], Deps::default()).await;
    let mut client = client_for(m.server.addr).await;

    let bad = client.fetch(get_req("not a url")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    for _ in 0..2 {
        let denied = client.fetch(get_req(up.url("/ok"))).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    let after = m.scrape().await;
    assert_eq!(
        after.value(
            "grpc_server_handled_total",
            &with(&FETCH, &[("grpc_code", "InvalidArgument")])
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "grpc_server_handled_total",
            &with(&FETCH, &[("grpc_code", "PermissionDenied")])
        ),
        2.0
    );
    assert_eq!(
        after.value(
            "grpc_server_handled_total",
            &with(&FETCH, &[("grpc_code", "OK")])
        ),
        0.0
    );
    after.assert_no_label_contains(&["not a url", &up.addr.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_method_counts_as_unknown_and_unimplemented() {
    let m = Metered::start(&[]).await;
    // A path no service serves, through a raw gRPC client.
    let mut grpc = tonic::client::Grpc::new(m.server.channel().await);
    grpc.ready().await.expect("channel ready");
    let path =
        http::uri::PathAndQuery::from_static("/streamgate.v1.FetchService/secret-url.example");
    let err = grpc
        .unary::<(), (), _>(
            tonic::Request::new(()),
            path,
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let after = m.scrape().await;
    let labels = [
        ("grpc_service", "unknown"),
        ("grpc_method", "unknown"),
        ("grpc_code", "Unimplemented"),
    ];
    assert_eq!(after.value("grpc_server_handled_total", &labels), 1.0);
    after.assert_no_label_contains(&["secret-url"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_serves_metrics_with_process_figures_and_404_elsewhere() {
    let m = Metered::start(&[]).await;
    let scrape = m.scrape().await;
    assert!(scrape.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(scrape.value("process_open_fds", &[]) > 0.0);
    assert!(scrape.declares("process_cpu_seconds_total"));
    for family in [
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "grpc_server_msg_received_total",
        "grpc_server_msg_sent_total",
        "grpc_server_handling_seconds",
        "streamgate_fetch_upstream_requests_total",
        "streamgate_fetch_refused_total",
        "streamgate_lock_waiters",
        "streamgate_sensor_streams",
        "streamgate_auth_failures_total",
    ] {
        assert!(scrape.declares(family), "{family} is not exported");
    }
    // The in-process lock store has no Redis to be down.
    assert!(!scrape.declares("streamgate_redis_up"));

    for path in ["/", "/metrics/x", "/favicon.ico"] {
        let resp = reqwest::get(m.url(path))
            .await
            .expect("the endpoint answers");
        assert_eq!(resp.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_fails_the_start_naming_the_flag() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = streamgate::Config::from_args([
        "streamgate",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        &addr,
    ])
    .unwrap();
    let err = streamgate::App::build(config.settings().unwrap(), Deps::default())
        .await
        .err()
        .expect("the build fails");
    assert!(format!("{err:#}").contains("--metrics-listen"), "{err:#}");
}
