//! FetchService metrics and trace context on real servers: guard refusals by kind, upstream
//! requests by status class, ListPages pages and messages, retries, and the caller's
//! `traceparent` continued on every upstream request.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::fetch::{Collection, FixedLookup, client_for, get as get_req, list, read_all};
use common::metrics::Metered;
use common::{Upstream, free_port};
use streamgate::Deps;
use streamgate_client::proto::ListPagesRequest;
use tonic::Code;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_refusals_are_counted_by_kind() {
    // The production guard, and a resolver that sends `inside.test` to a private address:
    // every refusal below happens before any packet leaves.
    let deps = Deps {
        lookup: FixedLookup::new(&[("inside.test", &["10.1.2.3"])]),
        ..Deps::default()
    };
    let m = Metered::start_with_deps(&["streamgate", "--listen", "127.0.0.1:0"], deps).await;
    let mut client = client_for(m.server.addr).await;
    let port = free_port();
    for (url, reason) in [
        (format!("http://127.0.0.1:{port}/secret-path"), "loopback"),
        (format!("http://[::1]:{port}/secret-path"), "loopback"),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "link_local",
        ),
        (format!("http://inside.test:{port}/secret-path"), "private"),
    ] {
        let before = m.scrape().await;
        let err = client.fetch(get_req(url.clone())).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{url}: {err:?}");
        let after = m.scrape().await;
        let labels = [("reason", reason)];
        let moved = after.value("streamgate_fetch_refused_total", &labels)
            - before.value("streamgate_fetch_refused_total", &labels);
        assert_eq!(moved, 1.0, "{url} counts under {reason}");
    }
    let after = m.scrape().await;
    let refused = |reason| after.value("streamgate_fetch_refused_total", &[("reason", reason)]);
    assert_eq!(refused("loopback"), 2.0);
    assert_eq!(refused("link_local"), 1.0);
    assert_eq!(refused("private"), 1.0);
    assert_eq!(refused("bad_scheme"), 0.0);
    assert_eq!(
        after.value("streamgate_fetch_upstream_requests_total", &[]),
        0.0
    );
    after.assert_no_label_contains(&["secret-path", "169.254", "inside.test", "127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_requests_are_counted_by_status_class() {
    let up = Upstream::start(
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route("/busy", get(|| async { StatusCode::SERVICE_UNAVAILABLE })),
    )
    .await;
    let m = Metered::start(&[]).await;
    let mut client = client_for(m.server.addr).await;
    for path in ["/ok", "/ok", "/missing", "/busy", "/busy", "/busy"] {
        client
            .fetch(get_req(up.url(path)))
            .await
            .expect("Fetch succeeds");
    }
    // Nothing listens on this port: no response at all.
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let err = client.fetch(get_req(closed)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    let after = m.scrape().await;
    let class = |c| {
        after.value(
            "streamgate_fetch_upstream_requests_total",
            &[("status_class", c)],
        )
    };
    assert_eq!(class("2xx"), 2.0);
    assert_eq!(class("4xx"), 1.0);
    assert_eq!(class("5xx"), 3.0);
    assert_eq!(class("error"), 1.0);
    assert_eq!(
        after.value("streamgate_fetch_upstream_seconds_count", &[]),
        7.0
    );
    assert_eq!(
        after.value("streamgate_fetch_queue_seconds_count", &[]),
        7.0
    );
    assert_eq!(after.value("streamgate_fetch_in_flight", &[]), 0.0);
    after.assert_no_label_contains(&[&up.addr.to_string(), "/busy"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_page_stream_moves_pages_and_messages_sent_by_five() {
    let c = Collection::new(45);
    let up = Upstream::start(c.router()).await;
    let m = Metered::start(&[]).await;
    let mut client = client_for(m.server.addr).await;
    let list_pages = [
        ("grpc_type", "server_stream"),
        ("grpc_service", "streamgate.v1.FetchService"),
        ("grpc_method", "ListPages"),
    ];
    let before = m.scrape().await;

    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages"), 10)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(pages.len(), 5);

    let after = m.scrape().await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert_eq!(moved("streamgate_pages_total", &[]), 5.0);
    assert_eq!(moved("grpc_server_msg_sent_total", &list_pages), 5.0);
    assert_eq!(moved("grpc_server_msg_received_total", &list_pages), 1.0);
    let ok = [list_pages.as_slice(), &[("grpc_code", "OK")]].concat();
    assert_eq!(moved("grpc_server_handled_total", &ok), 1.0);
    assert_eq!(moved("streamgate_pages_retries_total", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_retried_after_a_503_is_counted() {
    let failed_once = Arc::new(Mutex::new(false));
    let up = Upstream::start(Router::new().route(
        "/flaky",
        get(move || {
            let failed_once = failed_once.clone();
            async move {
                let mut f = failed_once.lock().unwrap();
                if !*f {
                    *f = true;
                    return (StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                (StatusCode::OK, r#"{"data": [1, 2]}"#.to_string())
            }
        }),
    ))
    .await;
    let m = Metered::start(&["--pages-retry-base", "1ms"]).await;
    let mut client = client_for(m.server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        max_pages: 1,
        ..list(up.url("/flaky"), 10)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(pages.len(), 1);
    let after = m.scrape().await;
    assert_eq!(after.value("streamgate_pages_retries_total", &[]), 1.0);
    assert_eq!(
        after.value(
            "streamgate_fetch_upstream_requests_total",
            &[("status_class", "5xx")]
        ),
        1.0
    );
}

/// The `traceparent` and `tracestate` of one upstream request.
type TraceHeaders = (Option<String>, Option<String>);

/// An upstream recording the trace headers of every request it gets.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<TraceHeaders>>>);

impl Seen {
    async fn upstream(&self) -> Upstream {
        let seen = self.clone();
        Upstream::start(Router::new().route(
            "/items",
            get(
                move |headers: HeaderMap,
                      Query(q): Query<std::collections::HashMap<String, String>>| {
                    let seen = seen.clone();
                    async move {
                        let header =
                            |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
                        seen.0
                            .lock()
                            .unwrap()
                            .push((header("traceparent"), header("tracestate")));
                        let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                        let items = if page <= 3 { "[1, 2]" } else { "[]" };
                        format!(r#"{{"data": {items}}}"#)
                    }
                },
            ),
        ))
        .await
    }

    fn take(&self) -> Vec<TraceHeaders> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn traced<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    req.metadata_mut()
        .insert("tracestate", "vendor=opaque,other=1".parse().unwrap());
    req
}

/// The parts of a `traceparent`: version, trace id, parent id, flags.
fn parts(tp: &str) -> Vec<String> {
    tp.split('-').map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traceparent_reaches_the_upstream_with_the_same_trace_and_a_new_parent() {
    let seen = Seen::default();
    let up = seen.upstream().await;
    let m = Metered::start(&[]).await;
    let mut client = client_for(m.server.addr).await;

    client
        .fetch(traced(get_req(up.url("/items"))))
        .await
        .expect("Fetch succeeds");
    let got = seen.take();
    assert_eq!(got.len(), 1);
    let (tp, ts) = &got[0];
    let p = parts(tp.as_deref().expect("a traceparent upstream"));
    assert_eq!(p, ["00", TRACE_ID, &p[2], "01"]);
    assert_ne!(p[2], PARENT_ID, "the server is a hop: a new parent id");
    assert_eq!(p[2].len(), 16);
    assert_eq!(ts.as_deref(), Some("vendor=opaque,other=1"));

    // Every page of a ListPages call continues the same trace, each with its own parent.
    let mut stream = client
        .list_pages(traced(ListPagesRequest {
            items_pointer: "/data".into(),
            ..list(up.url("/items"), 2)
        }))
        .await
        .expect("ListPages starts")
        .into_inner();
    while stream.message().await.expect("pages arrive").is_some() {}
    let got = seen.take();
    assert!(got.len() >= 3, "{got:?}");
    let parents: std::collections::HashSet<String> = got
        .iter()
        .map(|(tp, ts)| {
            let p = parts(tp.as_deref().expect("every page request is traced"));
            assert_eq!((p[0].as_str(), p[1].as_str()), ("00", TRACE_ID));
            assert_eq!(ts.as_deref(), Some("vendor=opaque,other=1"));
            p[2].clone()
        })
        .collect();
    assert_eq!(
        parents.len(),
        got.len(),
        "a fresh parent id per upstream request"
    );
    assert!(!parents.contains(PARENT_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_traceparent_sends_none() {
    let seen = Seen::default();
    let up = seen.upstream().await;
    let m = Metered::start(&[]).await;
    let mut client = client_for(m.server.addr).await;
    client
        .fetch(get_req(up.url("/items")))
        .await
        .expect("Fetch succeeds");
    // An invalid one is ignored as the spec says, and sends none either.
    let mut bad = tonic::Request::new(get_req(up.url("/items")));
    bad.metadata_mut()
        .insert("traceparent", "00-not-a-trace-01".parse().unwrap());
    client.fetch(bad).await.expect("Fetch succeeds");
    assert_eq!(seen.take(), [(None, None), (None, None)]);
}
