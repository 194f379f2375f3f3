//! Seed case 1, the HTTP connection pool: several URLs fetched concurrently through one
//! client, whose calls share one HTTP/2 connection to streamgate (and streamgate's own pool).
//!
//! `cargo run -p streamgate-client --example pooled_fetch [URL...]`; without URLs it serves
//! a loopback demo API (start the server with `--allow-private-networks`).
//! The server is `STREAMGATE_SERVER` (default `http://127.0.0.1:50051`).

#[path = "support/demo_upstream.rs"]
mod demo_upstream;

use streamgate_client::Client;

/// Fetches every URL at once; returns each URL with the size of its body.
pub async fn run(server: &str, urls: &[String]) -> anyhow::Result<Vec<(String, usize)>> {
    let client = Client::connect(server).await?;
    let fetches = urls.iter().map(|url| client.get(url));
    let mut sizes = Vec::new();
    for (url, response) in urls.iter().zip(futures::future::join_all(fetches).await) {
        let response = response?;
        println!(
            "{url}: received {} bytes (HTTP {})",
            response.body.len(),
            response.status
        );
        sizes.push((url.clone(), response.body.len()));
    }
    Ok(sizes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("STREAMGATE_SERVER").unwrap_or("http://127.0.0.1:50051".into());
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    let mut demo = None;
    if urls.is_empty() {
        let (addr, task) = demo_upstream::start().await?;
        urls = [1000, 2000, 500]
            .iter()
            .map(|ms| format!("http://{addr}/delay/{ms}"))
            .collect();
        demo = Some(task);
    }
    run(&server, &urls).await?;
    if let Some(task) = demo {
        task.abort();
    }
    Ok(())
}
