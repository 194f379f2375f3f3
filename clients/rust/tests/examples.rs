//! Runs the crate's examples (the seed's four cases) against the real server, so that the code
//! users copy is known to work.

// Each example file brings its own copy of the demo upstream module.
#![allow(clippy::duplicate_mod)]

mod common;

#[allow(dead_code)]
#[path = "../examples/pooled_fetch.rs"]
mod pooled_fetch;

#[allow(dead_code)]
#[path = "../examples/paginated_read.rs"]
mod paginated_read;

#[allow(dead_code)]
#[path = "../examples/distributed_counter.rs"]
mod distributed_counter;

#[allow(dead_code)]
#[path = "../examples/sensor_alerts.rs"]
mod sensor_alerts;

#[allow(dead_code)]
#[path = "../examples/support/demo_upstream.rs"]
mod demo_upstream;

use std::time::Duration;

use common::{RedisProcess, ServerProcess};

#[tokio::test]
async fn the_pooled_fetch_example_gets_every_url() {
    let server = ServerProcess::start(&[]);
    let (addr, task) = demo_upstream::start().await.expect("demo upstream");
    let urls: Vec<String> = [300, 600, 150]
        .iter()
        .map(|ms| format!("http://{addr}/delay/{ms}"))
        .collect();
    let sizes = pooled_fetch::run(&server.url, &urls)
        .await
        .expect("example");
    let expected: Vec<(String, usize)> = [300, 600, 150]
        .iter()
        .zip(&urls)
        .map(|(ms, url)| (url.clone(), format!("waited {ms} ms").len()))
        .collect();
    assert_eq!(sizes, expected);
    task.abort();
}

#[tokio::test]
async fn the_paginated_read_example_reads_45_users_in_pages_of_10() {
    let server = ServerProcess::start(&[]);
    let (addr, task) = demo_upstream::start().await.expect("demo upstream");
    let sizes = paginated_read::run(&server.url, &format!("http://{addr}/users"))
        .await
        .expect("example");
    assert_eq!(sizes, [10, 10, 10, 10, 5]);
    assert_eq!(sizes.iter().sum::<usize>(), demo_upstream::ITEMS);
    task.abort();
}

#[tokio::test]
async fn the_distributed_counter_example_counts_to_300_on_a_redis_backed_server() {
    let redis = RedisProcess::start();
    let server = ServerProcess::start(&["--redis-url", &redis.url()]);
    let total = distributed_counter::run(&server.url)
        .await
        .expect("example");
    assert_eq!(total, 300);
}

#[tokio::test]
async fn the_sensor_alerts_example_stops_after_its_duration() {
    let server = ServerProcess::start(&[]);
    let (total, alerts) = sensor_alerts::run(&server.url, Duration::from_secs(2))
        .await
        .expect("example");
    // One reading every 0.3 s for 2 s: at most 6, at least one even on a loaded machine.
    assert!((1..=7).contains(&total), "{total} readings");
    assert!(alerts <= total);
}
