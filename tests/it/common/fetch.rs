//! Helpers for the FetchService tests: a tonic client, a test resolver, and counting loopback
//! upstreams.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streamgate::Config;
use streamgate::{Lookup, LookupFuture};
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tonic::transport::{Channel, Endpoint};

/// A connected FetchService client for `addr`.
pub async fn client_for(addr: SocketAddr) -> FetchServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid endpoint")
        .connect()
        .await
        .expect("connect to the test server");
    FetchServiceClient::new(channel)
}

/// A GET of `url` with every other field at its default.
pub fn get(url: impl Into<String>) -> FetchRequest {
    FetchRequest {
        url: url.into(),
        ..Default::default()
    }
}

/// The config of a server that refuses private networks (the production default).
pub fn guarded_config(extra: &[&str]) -> Config {
    let mut args = vec!["streamgate", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Config::from_args(args).expect("test flags parse")
}

/// A resolver with fixed answers; any other name fails as NXDOMAIN would, so no test ever
/// sends a DNS packet.
pub struct FixedLookup(pub HashMap<String, Vec<IpAddr>>);

impl FixedLookup {
    /// From `(name, addresses)` pairs.
    pub fn new(entries: &[(&str, &[&str])]) -> Arc<Self> {
        Arc::new(Self(
            entries
                .iter()
                .map(|(n, ips)| {
                    let ips = ips
                        .iter()
                        .map(|i| i.parse().expect("test IP parses"))
                        .collect();
                    (n.to_string(), ips)
                })
                .collect(),
        ))
    }
}

impl Lookup for FixedLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let answer = self.0.get(host).cloned();
        let host = host.to_string();
        Box::pin(async move {
            answer.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no such host {host} (test resolver)"),
                )
            })
        })
    }
}

/// A shared hit counter for upstream handlers.
#[derive(Clone, Default)]
pub struct Hits(pub Arc<AtomicUsize>);

impl Hits {
    /// Counts one hit.
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Hits so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A paginated loopback API over `total` items, serving every pagination style and counting
/// its hits. Item `i` is `{"id": i, "name": "item-i", "pad": "x…", "nested": {"even": bool},
/// "nothing": null}`.
///
/// Routes: `/pages?page=N&size=M` (or `p`/`per`) → `{"data": [...]}`, an empty list past the
/// end; `/pages404` → 404 past the end; `/offset?offset=K&limit=M` → `{"data": [...]}`;
/// `/cursor?cursor=cK&limit=M` → `{"data": [...], "meta": {"next": "cK'" | null}}`;
/// `/link?start=K&limit=M` → a bare array and `Link: </link?...>; rel="next"`.
#[derive(Clone)]
pub struct Collection {
    /// Items in the collection.
    pub total: u64,
    /// Bytes of padding per item (to make pages large).
    pub pad: usize,
    /// Requests served.
    pub hits: Hits,
    /// Requests being served right now, and the most at once.
    pub in_flight: Arc<AtomicUsize>,
    /// The most requests served at once.
    pub max_in_flight: Arc<AtomicUsize>,
    /// Latency added to every response.
    pub delay: std::time::Duration,
}

impl Collection {
    /// A collection of `total` small items.
    pub fn new(total: u64) -> Self {
        Self {
            total,
            pad: 0,
            hits: Hits::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// Item `i` as JSON.
    pub fn item(&self, i: u64) -> serde_json::Value {
        serde_json::json!({
            "id": i,
            "name": format!("item-{i}"),
            "pad": "x".repeat(self.pad),
            "nested": {"even": i % 2 == 0},
            "nothing": null,
        })
    }

    fn slice(&self, start: u64, n: u64) -> Vec<serde_json::Value> {
        (start..self.total.min(start.saturating_add(n)))
            .map(|i| self.item(i))
            .collect()
    }

    async fn enter(&self) -> InFlight {
        self.hits.hit();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        InFlight(self.in_flight.clone())
    }

    /// The axum router serving this collection.
    pub fn router(&self) -> axum::Router {
        use axum::extract::{Query, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::get;
        type Q = Query<HashMap<String, String>>;
        fn num(q: &HashMap<String, String>, names: &[&str], default: u64) -> u64 {
            names
                .iter()
                .find_map(|n| q.get(*n))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        }
        async fn pages(State(c): State<Collection>, Query(q): Q) -> Response {
            let _g = c.enter().await;
            let (page, size) = (num(&q, &["page", "p"], 1), num(&q, &["size", "per"], 20));
            let items = c.slice(page.saturating_sub(1) * size, size);
            axum::Json(serde_json::json!({ "data": items })).into_response()
        }
        async fn pages404(State(c): State<Collection>, Query(q): Q) -> Response {
            let _g = c.enter().await;
            let (page, size) = (num(&q, &["page"], 1), num(&q, &["size"], 20));
            let items = c.slice(page.saturating_sub(1) * size, size);
            if items.is_empty() {
                return (StatusCode::NOT_FOUND, "past the last page").into_response();
            }
            axum::Json(serde_json::json!({ "data": items })).into_response()
        }
        async fn offset(State(c): State<Collection>, Query(q): Q) -> Response {
            let _g = c.enter().await;
            let items = c.slice(num(&q, &["offset"], 0), num(&q, &["limit"], 20));
            axum::Json(serde_json::json!({ "data": items })).into_response()
        }
        async fn cursor(State(c): State<Collection>, Query(q): Q) -> Response {
            let _g = c.enter().await;
            let start = q
                .get("cursor")
                .and_then(|c| c.trim_start_matches('c').parse().ok())
                .unwrap_or(0);
            let limit = num(&q, &["limit"], 20);
            let items = c.slice(start, limit);
            let next = (start + limit < c.total).then(|| format!("c{}", start + limit));
            axum::Json(serde_json::json!({ "data": items, "meta": {"next": next} })).into_response()
        }
        async fn link(State(c): State<Collection>, Query(q): Q) -> Response {
            let _g = c.enter().await;
            let (start, limit) = (num(&q, &["start"], 0), num(&q, &["limit"], 20));
            let mut headers = HeaderMap::new();
            if start + limit < c.total {
                let v = format!(
                    "</link?start={}&limit={limit}>; rel=\"next\", </link?start=0>; rel=\"first\"",
                    start + limit
                );
                headers.insert("link", v.parse().expect("valid Link header"));
            }
            (headers, axum::Json(c.slice(start, limit))).into_response()
        }
        axum::Router::new()
            .route("/pages", get(pages))
            .route("/pages404", get(pages404))
            .route("/offset", get(offset))
            .route("/cursor", get(cursor))
            .route("/link", get(link))
            .with_state(self.clone())
    }
}

/// Decrements the in-flight gauge when a response is done (or its request was dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A `ListPagesRequest` for `url` with `page_size`.
pub fn list(url: impl Into<String>, page_size: u32) -> streamgate_client::proto::ListPagesRequest {
    streamgate_client::proto::ListPagesRequest {
        url: url.into(),
        page_size,
        ..Default::default()
    }
}

/// Reads a whole ListPages stream: the pages, and the status it ended with (`None` = OK).
pub async fn read_all(
    client: &mut FetchServiceClient<Channel>,
    req: streamgate_client::proto::ListPagesRequest,
) -> (Vec<streamgate_client::proto::Page>, Option<tonic::Status>) {
    let mut stream = match client.list_pages(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => return (Vec::new(), Some(s)),
    };
    let mut pages = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(p)) => pages.push(p),
            Ok(None) => return (pages, None),
            Err(s) => return (pages, Some(s)),
        }
    }
}

/// The `id` of every item of `pages`, in order.
pub fn ids(pages: &[streamgate_client::proto::Page]) -> Vec<u64> {
    use prost_types::value::Kind;
    pages
        .iter()
        .flat_map(|p| p.items.iter())
        .map(|v| match &v.kind {
            Some(Kind::StructValue(s)) => match s.fields.get("id").and_then(|f| f.kind.as_ref()) {
                Some(Kind::NumberValue(n)) => *n as u64,
                other => panic!("item id is not a number: {other:?}"),
            },
            other => panic!("item is not an object: {other:?}"),
        })
        .collect()
}

/// What a status says about the upstream it blames (src/fetch/upstream.rs): the
/// `google.rpc.ErrorInfo` in `grpc-status-details-bin` and the `streamgate-upstream` trailer.
#[derive(Debug)]
pub struct UpstreamMarker {
    /// `ErrorInfo.reason`: `UPSTREAM_UNAVAILABLE` or `UPSTREAM_TIMEOUT`.
    pub reason: String,
    /// `ErrorInfo.domain`.
    pub domain: String,
    /// `ErrorInfo.metadata` (`upstream`, `url`, `httpStatus`).
    pub metadata: HashMap<String, String>,
    /// The `streamgate-upstream` trailer.
    pub trailer: Option<String>,
}

/// The upstream marker of `status`, `None` when it carries neither part.
pub fn upstream_marker(status: &tonic::Status) -> Option<UpstreamMarker> {
    use tonic_types::StatusExt;
    let trailer = status
        .metadata()
        .get("streamgate-upstream")
        .map(|v| v.to_str().expect("an ASCII trailer").to_string());
    let info = status.get_details_error_info();
    if info.is_none() && trailer.is_none() {
        return None;
    }
    let (reason, domain, metadata) = info
        .map(|i| (i.reason, i.domain, i.metadata))
        .unwrap_or_default();
    Some(UpstreamMarker {
        reason,
        domain,
        metadata,
        trailer,
    })
}
