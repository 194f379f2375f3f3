//! A loopback HTTP API for the examples to call when no URL is given, so that they run with
//! nothing but a streamgate server started with `--allow-private-networks`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::Json;
use axum::routing::get;
use serde_json::json;

/// Items in the demo collection.
pub const ITEMS: usize = 45;

/// Serves `/delay/{ms}` (answers after ms milliseconds) and `/users?page=N&size=M` (a
/// collection of 45 users) on a free loopback port until the task is aborted.
pub async fn start() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let router = Router::new()
        .route(
            "/delay/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
                format!("waited {ms} ms")
            }),
        )
        .route(
            "/users",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
                let size: usize = q.get("size").and_then(|v| v.parse().ok()).unwrap_or(20);
                let start = page.saturating_sub(1).saturating_mul(size);
                let users: Vec<_> = (start + 1..=ITEMS.min(start + size))
                    .map(|id| json!({"id": id, "name": format!("user {id}")}))
                    .collect();
                Json(users)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, task))
}
