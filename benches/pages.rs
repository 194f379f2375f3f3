//! ListPages: 200 pages × 100 JSON objects through streamgate vs a direct reqwest +
//! serde_json loop (items/s), and the same 200 pages with 20 ms upstream latency per page
//! against the seed's sequential loop (wall time) at the default prefetch and at prefetch 4.
//! Prints `RESULT` lines (ratio = streamgate / baseline).
//!
//! Run: `cargo bench --bench pages`

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use streamgate::Config;
use streamgate_client::proto::ListPagesRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use support::{TestServer, result};

const PAGES: u64 = 200;
const PER_PAGE: u64 = 100;

/// The seed's API: `?page=N&size=M` → a JSON array, empty past the last page.
async fn page(
    State(delay): State<Duration>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let n: u64 = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let size: u64 = q.get("size").and_then(|v| v.parse().ok()).unwrap_or(20);
    let items: Vec<serde_json::Value> = if n > PAGES {
        Vec::new()
    } else {
        ((n - 1) * size..n * size)
            .map(|i| {
                serde_json::json!({
                    "id": i, "name": format!("user-{i}"), "email": format!("user{i}@example.com"),
                    "active": i % 3 == 0, "score": i as f64 / 7.0, "tags": ["a", "b"],
                })
            })
            .collect()
    };
    axum::Json(serde_json::Value::Array(items))
}

async fn upstream(delay: Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = l.local_addr().expect("upstream address");
    let router = Router::new().route("/users", get(page)).with_state(delay);
    tokio::spawn(async move { axum::serve(l, router).await });
    format!("http://{addr}/users")
}

/// The seed's `paginated_api_generator`: one page after the other until an empty one.
async fn sequential_loop(client: &reqwest::Client, url: &str) -> (u64, Duration) {
    let start = Instant::now();
    let mut items = 0;
    for n in 1.. {
        let body = client
            .get(format!("{url}?page={n}&size={PER_PAGE}"))
            .send()
            .await
            .expect("upstream answers")
            .bytes()
            .await
            .expect("a body");
        let page: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("JSON");
        if page.is_empty() {
            break;
        }
        items += page.len() as u64;
    }
    (items, start.elapsed())
}

async fn list_pages(
    client: &mut FetchServiceClient<Channel>,
    url: &str,
    prefetch: u32,
) -> (u64, Duration) {
    let start = Instant::now();
    let req = ListPagesRequest {
        url: url.into(),
        page_size: PER_PAGE as u32,
        prefetch,
        ..Default::default()
    };
    let mut stream = client
        .list_pages(req)
        .await
        .expect("ListPages starts")
        .into_inner();
    let mut items = 0;
    while let Some(p) = stream.message().await.expect("ListPages streams") {
        items += p.items.len() as u64;
    }
    (items, start.elapsed())
}

fn main() {
    support::runtime("bench").block_on(async {
        let fast = upstream(Duration::ZERO).await;
        let slow = upstream(Duration::from_millis(20)).await;

        let server = TestServer::start_with(Config::for_tests()).await;
        let mut client = FetchServiceClient::new(server.channel().await);
        let direct = reqwest::Client::builder().no_proxy().build().expect("reqwest client");
        let expected = PAGES * PER_PAGE;

        // Warm both paths (connections, allocator), then take the best of 3 of each.
        sequential_loop(&direct, &fast).await;
        list_pages(&mut client, &fast, 0).await;
        let mut base = Duration::MAX;
        let mut sg = Duration::MAX;
        for _ in 0..3 {
            let (n, t) = sequential_loop(&direct, &fast).await;
            assert_eq!(n, expected);
            base = base.min(t);
            let (n, t) = list_pages(&mut client, &fast, 0).await;
            assert_eq!(n, expected);
            sg = sg.min(t);
        }
        let per_sec = |t: Duration| expected as f64 / t.as_secs_f64();
        println!("pages: {PAGES} pages × {PER_PAGE} objects, no latency: direct {base:?}, ListPages {sg:?}");
        result("pages_items_per_sec", per_sec(sg), per_sec(base));

        let (n, seq) = sequential_loop(&direct, &slow).await;
        assert_eq!(n, expected);
        let (n, p1) = list_pages(&mut client, &slow, 0).await;
        assert_eq!(n, expected);
        let (n, p4) = list_pages(&mut client, &slow, 4).await;
        assert_eq!(n, expected);
        println!("pages: 20 ms per page: seed's sequential loop {seq:?}, prefetch 1 {p1:?}, prefetch 4 {p4:?}");
        result("pages_wall_20ms_prefetch1_s", p1.as_secs_f64(), seq.as_secs_f64());
        result("pages_wall_20ms_prefetch4_s", p4.as_secs_f64(), seq.as_secs_f64());

        let _ = server.stop().await;
    });
}
