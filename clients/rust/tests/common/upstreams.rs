//! Loopback HTTP upstreams (axum) standing in for the APIs the seed called.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::routing::{any, get};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// An upstream serving a router on a free loopback port, stopped on drop.
pub struct Upstream {
    pub addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl Upstream {
    pub async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, handle }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Counts requests in flight and the most seen at once.
#[derive(Clone, Default)]
pub struct Concurrency {
    now: Arc<AtomicUsize>,
    pub max: Arc<AtomicUsize>,
    pub total: Arc<AtomicUsize>,
}

impl Concurrency {
    fn enter(&self) -> InFlight {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        InFlight(self.now.clone())
    }
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `/hello`, `/status/{code}`, `/echo`, `/bytes/{n}`, `/delay/{ms}`, counting concurrency.
pub fn fetch_router(concurrency: Concurrency) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|| async { ([("x-upstream", "yes")], "hello from upstream\n") }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
                (status, format!("status {code}"))
            }),
        )
        .route(
            "/echo",
            any(
                |method: Method, headers: HeaderMap, body: Bytes| async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    Json(json!({
                        "method": method.as_str(),
                        "x_test": header("x-test"),
                        "content_type": header("content-type"),
                        "body": String::from_utf8_lossy(&body),
                    }))
                },
            ),
        )
        .route(
            "/bytes/{n}",
            get(|Path(n): Path<usize>| async move { vec![b'x'; n.min(8 << 20)] }),
        )
        .route(
            "/delay/{ms}",
            get(
                |State(c): State<Concurrency>, Path(ms): Path<u64>| async move {
                    let _in_flight = c.enter();
                    tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
                    format!("delayed {ms} ms")
                },
            ),
        )
        .with_state(concurrency)
}

/// A collection of `total` items `{"id": 1..=total}` paginated the seed's way
/// (`?page=N&size=M`, an empty array past the end), as a bare array at `/items` and wrapped
/// as `{"data": [...]}` at `/wrapped`.
pub fn collection_router(total: usize) -> Router {
    Router::new()
        .route(
            "/items",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                Json(json!(page_of(total, &q)))
            }),
        )
        .route(
            "/wrapped",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                Json(json!({"data": page_of(total, &q), "total": total}))
            }),
        )
}

fn page_of(total: usize, q: &HashMap<String, String>) -> Vec<serde_json::Value> {
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let size: usize = q.get("size").and_then(|v| v.parse().ok()).unwrap_or(20);
    let start = page.saturating_sub(1).saturating_mul(size);
    (start + 1..=total.min(start + size))
        .map(|id| json!({"id": id}))
        .collect()
}

/// An endless collection whose pages from `stall_from` on never answer; each stalled request
/// reports on `started` when it arrives and on `dropped` when the server abandons it (its
/// handler future is dropped).
pub fn stalling_router(
    stall_from: usize,
    requests: Arc<AtomicUsize>,
    started: mpsc::Sender<usize>,
    dropped: mpsc::Sender<usize>,
) -> Router {
    Router::new().route(
        "/endless",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let requests = requests.clone();
            let dropped = dropped.clone();
            let started = started.clone();
            async move {
                requests.fetch_add(1, Ordering::SeqCst);
                let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
                if page >= stall_from {
                    let _report = ReportDrop(Some((dropped, page)));
                    let _ = started.try_send(page);
                    std::future::pending::<()>().await;
                }
                Json(json!([{"page": page}, {"page": page}])).into_response()
            }
        }),
    )
}

struct ReportDrop(Option<(mpsc::Sender<usize>, usize)>);

impl Drop for ReportDrop {
    fn drop(&mut self) {
        if let Some((tx, page)) = self.0.take() {
            let _ = tx.try_send(page);
        }
    }
}
