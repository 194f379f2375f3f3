//! The seed article's four cases, reproduced through the service with the Rust client.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::upstreams::{Concurrency, Upstream, collection_router, fetch_router};
use common::{RedisProcess, ServerProcess};
use futures::{StreamExt, TryStreamExt};
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::{Client, LockOptions, PagesOptions, SensorSimulator};

/// Case 1: a pool of concurrent fetches, one connection shared by all of them.
#[tokio::test]
async fn pooled_fetches_share_one_client_and_run_concurrently() {
    let server = ServerProcess::start(&[]);
    let concurrency = Concurrency::default();
    let upstream = Upstream::start(fetch_router(concurrency.clone())).await;
    let client = server.client().await;
    let urls: Vec<String> = [1000, 2000, 500]
        .iter()
        .map(|ms| upstream.url(&format!("/delay/{ms}")))
        .collect();
    let results = futures::future::join_all(urls.iter().map(|u| client.get(u))).await;
    for (ms, result) in [1000, 2000, 500].iter().zip(results) {
        let response = result.expect("fetch");
        assert_eq!(response.text(), format!("delayed {ms} ms"));
    }
    assert_eq!(concurrency.total.load(Ordering::SeqCst), 3);
    assert!(
        concurrency.max.load(Ordering::SeqCst) >= 2,
        "the fetches overlapped at the upstream"
    );
}

/// Case 2: a paginated API read lazily, `?page=N&size=10`, until the first empty page.
#[tokio::test]
async fn a_paginated_api_is_read_page_by_page_until_the_end() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(35)).await;
    let client = server.client().await;
    let mut pages =
        Box::pin(client.list_pages(&upstream.url("/items"), PagesOptions::new().page_size(10)));
    let mut sizes = Vec::new();
    while let Some(page) = pages.try_next().await.expect("a page") {
        sizes.push(page.items.len());
    }
    assert_eq!(sizes, [10, 10, 10, 5]);
}

/// Case 3: three workers, 100 read-modify-write increments each under one Redis-backed lock,
/// spread over two servers sharing that Redis: exactly 300.
#[tokio::test]
async fn three_workers_under_a_redis_lock_count_to_exactly_300() {
    let redis = RedisProcess::start();
    let servers = [
        ServerProcess::start(&["--redis-url", &redis.url()]),
        ServerProcess::start(&["--redis-url", &redis.url()]),
    ];
    let counter = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..3 {
        let client = servers[worker % 2].client().await;
        let counter = counter.clone();
        workers.spawn(increment(client, counter, 100));
    }
    let mut last_tokens = Vec::new();
    while let Some(done) = workers.join_next().await {
        last_tokens.push(done.expect("worker task").expect("worker"));
    }
    assert_eq!(counter.load(Ordering::SeqCst), 300);
    assert!(last_tokens.iter().all(|t| *t > 0));
}

/// The seed's `increment_counter`: read, wait 10 ms, write, all under the lock. Returns the
/// last fencing token it was granted.
async fn increment(
    client: Client,
    counter: Arc<AtomicU64>,
    times: usize,
) -> streamgate_client::Result<u64> {
    let mut last = 0;
    for _ in 0..times {
        let guard = client
            .lock("counter_lock", LockOptions::new().wait_secs(60))
            .await?;
        assert!(guard.fencing_token() > last, "fencing tokens only grow");
        last = guard.fencing_token();
        let current = counter.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        counter.store(current + 1, Ordering::SeqCst);
        guard.release().await?;
    }
    Ok(last)
}

/// Case 4: simulated sensors streaming for 5 s, then stopped; every reading comes back
/// processed (°F, alert above 28 °C) and the feed ends cleanly.
#[tokio::test]
async fn a_sensor_stream_with_alerts_stops_cleanly_after_five_seconds() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let requests = SensorSimulator::seeded(3, Duration::from_millis(300), 2025)
        .requests()
        .inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .take_until(tokio::time::sleep(Duration::from_secs(5)));
    let responses: Vec<_> = client
        .sensor_feed(requests)
        .try_collect()
        .await
        .expect("the feed ends cleanly when the sensor stops");
    let readings: Vec<_> = responses
        .iter()
        .filter_map(|r| match &r.msg {
            Some(Msg::Reading(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert!(
        sent.load(Ordering::SeqCst) >= 30,
        "about 16 rounds of 3 readings"
    );
    assert_eq!(readings.len() as u64, sent.load(Ordering::SeqCst));
    for r in &readings {
        assert_eq!(r.alert, r.temp_c > 28.0, "{r:?}");
        assert!((r.temp_f - (r.temp_c * 9.0 / 5.0 + 32.0)).abs() < 1e-9);
        assert!((20.0..=30.0).contains(&r.temp_c) && (40.0..=70.0).contains(&r.humidity));
    }
    assert!(
        readings.iter().any(|r| r.alert),
        "this seed's readings go above 28 °C"
    );
}
