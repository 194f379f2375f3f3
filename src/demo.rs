//! `streamgate demo-api`: the small JSON API the getting-started pages call through
//! streamgate, so that a first Fetch and a first ListPages need nothing else installed.
//!
//! `GET /hello` answers `hello`; `GET /items?page=N&size=M` answers page N (from 1) of
//! [`DEFAULT_DEMO_ITEMS`] items `{"id": 1}`, `{"id": 2}`..., M per page, as a bare JSON array,
//! and `[]` past the last page: the page-number pagination ListPages uses by default.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use tokio::net::TcpListener;

/// Where the demo API listens: port 8000 on loopback, the address the getting-started pages
/// use for `DEMO_API`; loopback because it is a toy nobody else should reach.
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:8000";

/// Items in the collection: enough for a few pages at any page size a newcomer tries, few
/// enough that `ListPages` with no `max_pages` ends quickly.
pub const DEFAULT_DEMO_ITEMS: u32 = 100;

/// The largest `size` a page request may ask for: every response stays small.
pub const MAX_DEMO_PAGE_SIZE: u32 = 1000;

/// The page size when the request names none (ListPages' own default).
const DEFAULT_DEMO_PAGE_SIZE: u32 = 20;

/// `streamgate demo-api`: serve the getting-started pages' demo API until SIGINT/SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "streamgate demo-api", version)]
pub struct DemoApiArgs {
    /// Where the demo API listens (plain HTTP/1.1). Port 0 picks a free port; the bound
    /// address is logged as `demo API listening on ADDR`.
    #[arg(long, env = "STREAMGATE_DEMO_API_LISTEN", default_value = DEFAULT_DEMO_LISTEN)]
    pub listen: SocketAddr,
    /// How many items `/items` serves in all.
    #[arg(long, env = "STREAMGATE_DEMO_API_ITEMS", default_value_t = DEFAULT_DEMO_ITEMS)]
    pub items: u32,
}

/// The demo API's routes over a collection of `items` items.
pub fn router(items: u32) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello\n" }))
        .route(
            "/items",
            get(move |RawQuery(query): RawQuery| async move { page(items, query.as_deref()) }),
        )
}

/// Serves [`router`] on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    items: u32,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!("demo API listening on {local} with GET /hello and GET /items?page=N&size=M");
    axum::serve(listener, router(items))
        .with_graceful_shutdown(stop)
        .await
}

/// One page of the collection, or 400 naming the bad parameter.
fn page(items: u32, query: Option<&str>) -> Response {
    let mut page = 1u32;
    let mut size = DEFAULT_DEMO_PAGE_SIZE;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let target = match &*key {
            "page" => &mut page,
            "size" => &mut size,
            _ => continue,
        };
        match value.parse::<u32>() {
            Ok(n) if n >= 1 => *target = n,
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("{key}: {value:?} is not a whole number from 1\n"),
                )
                    .into_response();
            }
        }
    }
    if size > MAX_DEMO_PAGE_SIZE {
        return (
            StatusCode::BAD_REQUEST,
            format!("size: {size} is above {MAX_DEMO_PAGE_SIZE}\n"),
        )
            .into_response();
    }
    let first = u64::from(page - 1) * u64::from(size) + 1;
    let last = u64::from(items).min(first + u64::from(size) - 1);
    let body: Vec<serde_json::Value> = (first..=last)
        .map(|id| serde_json::json!({ "id": id }))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::Value::Array(body).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn pages_number_from_one_and_end_empty() {
        assert_eq!(
            body(page(5, Some("page=1&size=2"))).await,
            (StatusCode::OK, r#"[{"id":1},{"id":2}]"#.into())
        );
        assert_eq!(
            body(page(5, Some("page=3&size=2"))).await,
            (StatusCode::OK, r#"[{"id":5}]"#.into())
        );
        assert_eq!(
            body(page(5, Some("page=4&size=2"))).await,
            (StatusCode::OK, "[]".into())
        );
        let (status, all) = body(page(DEFAULT_DEMO_ITEMS, None)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all.matches("\"id\"").count(), 20);
    }

    #[tokio::test]
    async fn a_bad_parameter_is_400_naming_it() {
        for (query, name) in [
            ("page=0", "page"),
            ("size=x", "size"),
            ("size=5000", "size"),
        ] {
            let (status, text) = body(page(5, Some(query))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(text.starts_with(&format!("{name}: ")), "{query}: {text}");
        }
    }
}
