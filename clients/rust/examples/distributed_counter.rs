//! Seed case 3, the distributed lock: three workers each increment a shared counter 100 times
//! (read, wait 10 ms, write) under one lock. Waiters are queued and woken by the server, not
//! polling every 500 ms as the seed did. Expected: 300.
//!
//! `cargo run -p streamgate-client --example distributed_counter`; with the server started
//! with `--redis-url`, the lock lives in Redis and workers may talk to different servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use streamgate_client::{Client, LockOptions};

/// Workers and increments per worker, as in the seed.
const WORKERS: usize = 3;
const INCREMENTS: usize = 100;

/// Runs the three workers against `server`; returns the final count.
pub async fn run(server: &str) -> anyhow::Result<u64> {
    let client = Client::connect(server).await?;
    let counter = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (client, counter) = (client.clone(), counter.clone());
        workers.spawn(async move {
            for _ in 0..INCREMENTS {
                let lock = client
                    .lock("counter_lock", LockOptions::new().wait_secs(60))
                    .await?;
                let current = counter.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.store(current + 1, Ordering::SeqCst);
                lock.release().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(counter.load(Ordering::SeqCst))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("STREAMGATE_SERVER").unwrap_or("http://127.0.0.1:50051".into());
    let total = run(&server).await?;
    println!(
        "final counter value: {total} (expected: {})",
        WORKERS * INCREMENTS
    );
    anyhow::ensure!(total == (WORKERS * INCREMENTS) as u64, "lost updates");
    Ok(())
}
