//! Seed case 2, paginated reading: `?page=N&size=M` pages read lazily, page by page, until the
//! first empty page. Pages are fetched only as this loop asks for them.
//!
//! `cargo run -p streamgate-client --example paginated_read [URL]`; without a URL it serves a
//! loopback demo API of 45 users (start the server with `--allow-private-networks`).

#[path = "support/demo_upstream.rs"]
mod demo_upstream;

use futures::TryStreamExt;
use streamgate_client::{Client, PagesOptions};

/// Reads every page of `url`, 10 items at a time; returns the number of items per page.
pub async fn run(server: &str, url: &str) -> anyhow::Result<Vec<usize>> {
    let client = Client::connect(server).await?;
    let mut pages = Box::pin(client.list_pages(url, PagesOptions::new().page_size(10)));
    let mut sizes = Vec::new();
    while let Some(page) = pages.try_next().await? {
        println!(
            "page {}: received {} records",
            page.number,
            page.items.len()
        );
        sizes.push(page.items.len());
    }
    Ok(sizes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("STREAMGATE_SERVER").unwrap_or("http://127.0.0.1:50051".into());
    match std::env::args().nth(1) {
        Some(url) => {
            run(&server, &url).await?;
        }
        None => {
            let (addr, task) = demo_upstream::start().await?;
            run(&server, &format!("http://{addr}/users")).await?;
            task.abort();
        }
    }
    Ok(())
}
