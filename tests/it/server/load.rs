//! A bounded load test of every limit at once, loopback only, over in about ten seconds at
//! most (30 s hard stop): more connections than `--max-connections`, more streams on one
//! connection than `--max-streams-per-connection`, more Fetch calls than the slots and the
//! wait queue hold, in-process locks extended in a loop, and SensorFeed streams pushing past
//! the sensor and sample budgets. The server must turn the excess away (closed connections,
//! REFUSED_STREAM, RESOURCE_EXHAUSTED, in-band rejections), keep answering health checks on
//! a connection opened before the flood, and keep its memory under a stated bound.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::fetch::get as get_req;
use common::h2raw::RawH2;
use common::lock::{acquire_req, client_for as lock_client, ms};
use common::sensor::{Feed, config, reading, rss_kib};
use common::{TestServer, Upstream};
use futures::stream::{FuturesUnordered, StreamExt};
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::sensor_feed_response::Msg;
use streamgate_client::proto::{ExtendRequest, FeedConfig};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const MAX_CONNECTIONS: usize = 24;
const MAX_STREAMS: usize = 8;
/// The test process (client and in-process server) may grow by at most this much while the
/// flood runs; measured growth was a few MiB.
const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_a_flood_beyond_every_limit_is_turned_away_and_the_server_stays_healthy() {
    tokio::time::timeout(Duration::from_secs(30), flood())
        .await
        .expect("the load test ends within 30 s");
}

async fn flood() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let up = Upstream::start(Router::new().route(
        "/slow",
        get(move || {
            let g = g.clone();
            async move {
                let _pass = g.acquire().await;
                "done"
            }
        }),
    ))
    .await;
    let server = TestServer::start_with_args(&[
        "--max-connections",
        &MAX_CONNECTIONS.to_string(),
        "--max-streams-per-connection",
        &MAX_STREAMS.to_string(),
        "--fetch-max-concurrency",
        "2",
        "--fetch-max-queue",
        "4",
        "--sensor-max-sensors",
        "50",
        "--sensor-max-samples",
        "1000",
    ])
    .await;
    // Opened before the flood: the operator's view must keep working on it. It watches
    // health, as a load balancer does, so its connection always has a stream open and is
    // never the idle one closed to make room (tests/it/server/idle.rs).
    let mut health = HealthClient::new(server.channel().await);
    let _watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health watch opens");
    // One call first, so the client has read the server's SETTINGS and queues streams above
    // its limit itself (before that, HTTP/2 lets a client assume no limit, and the excess
    // would be refused with REFUSED_STREAM instead of reaching the Fetch queue).
    let fetch_channel = server.channel().await;
    HealthClient::new(fetch_channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers");
    let fetch = FetchServiceClient::new(fetch_channel);
    let sensor = server.channel().await;
    let mut locks = lock_client(&server).await;
    let rss_before = rss_kib();
    let mut rss_peak = rss_before;

    // 1. Fetch: 60 calls against 2 slots and a queue of 4.
    let calls: Vec<_> = (0..60)
        .map(|_| {
            let mut c = fetch.clone();
            let url = up.url("/slow");
            tokio::spawn(async move { c.fetch(get_req(url)).await.map(|_| ()) })
        })
        .collect();

    // 2. SensorFeed: streams each pushing 100 sensors with windows past both budgets.
    let mut feeds = Vec::new();
    for s in 0..MAX_STREAMS {
        let mut f = Feed::open(sensor.clone(), 64).await;
        f.send(config(FeedConfig {
            sensor_id: String::new(),
            window_count: Some(30),
            ..Default::default()
        }))
        .await;
        let (mut accepted, mut rejected) = (0, 0);
        for i in 0..100 {
            f.send(reading(&format!("s{s}-{i}"), 20.0)).await;
            match f.next().await {
                Msg::Reading(_) => accepted += 1,
                Msg::Rejected(r) => {
                    assert!(r.reason.contains("--sensor-max-"), "{}", r.reason);
                    rejected += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // 1000 samples / 30 per window = 33 sensors fit, under the 50-sensor limit.
        assert_eq!((accepted, rejected), (33, 67), "stream {s}");
        feeds.push(f);
    }

    // 3. Locks: one lease extended many times stays one lease (checked by the unit test);
    // here it must simply keep working under the flood.
    let grant = locks
        .acquire_lock(acquire_req("load", 60_000, 0))
        .await
        .expect("acquire")
        .into_inner();
    assert!(grant.acquired);
    for _ in 0..500 {
        let ext = locks
            .extend(ExtendRequest {
                name: "load".into(),
                token: grant.token.clone(),
                ttl: Some(ms(60_000)),
            })
            .await
            .expect("extend")
            .into_inner();
        assert!(ext.extended);
    }

    // 4. Connections: fill every remaining slot and more, each with a stream open (an idle
    // one would only make room for the next by being closed).
    let mut served = Vec::new();
    let mut turned_away = 0;
    for _ in 0..MAX_CONNECTIONS * 2 {
        match RawH2::connect(server.addr).await {
            Some(mut conn) => {
                conn.open_stream(1, "/streamgate.v1.SensorService/SensorFeed")
                    .await;
                assert_eq!(conn.answers(1).await.0, [1]);
                served.push(conn);
            }
            None => turned_away += 1,
        }
    }
    assert!(
        served.len() < MAX_CONNECTIONS && turned_away > MAX_CONNECTIONS,
        "served {} turned away {turned_away}",
        served.len()
    );

    // 5. Streams: 3× the limit on one served connection (stream 1 already open).
    let conn = served
        .first_mut()
        .expect("at least one connection was served");
    let ids: Vec<u32> = (0..3 * MAX_STREAMS as u32).map(|i| 2 * i + 3).collect();
    for &id in &ids {
        conn.open_stream(id, "/streamgate.v1.SensorService/SensorFeed")
            .await;
    }
    let (answered, refused) = conn.answers(ids.len()).await;
    assert_eq!(
        (answered.len(), refused.len()),
        (MAX_STREAMS - 1, 2 * MAX_STREAMS + 1)
    );

    // The Fetch calls beyond slots + queue are turned away at once: with the upstream
    // holding every request, 54 of the 60 end with RESOURCE_EXHAUSTED, and none succeeds.
    let started = Instant::now();
    let mut calls: FuturesUnordered<_> = calls.into_iter().collect();
    let mut exhausted = 0;
    while exhausted < 60 - 6 {
        let err = calls
            .next()
            .await
            .expect("calls left")
            .unwrap()
            .expect_err("no call can complete while the upstream holds them");
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        exhausted += 1;
    }

    // Health answers on the connection opened before the flood.
    rss_peak = rss_peak.max(rss_kib());
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        health.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .expect("health answers within 5 s under the flood")
    .expect("health check succeeds")
    .into_inner()
    .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    gate.add_permits(1_000);
    while let Some(call) = calls.next().await {
        call.unwrap()
            .expect("a queued call completes once the upstream answers");
    }
    let growth = rss_peak.saturating_sub(rss_before);
    println!(
        "load: rss {rss_before} KiB before, peak {rss_peak} KiB (+{growth} KiB); \
         connections served {} turned away {turned_away}; fetch turned away {exhausted}; \
         checked in {:?}",
        served.len(),
        started.elapsed()
    );
    assert!(
        growth < RSS_GROWTH_BOUND_KIB,
        "RSS grew by {growth} KiB, bound {RSS_GROWTH_BOUND_KIB} KiB"
    );
    drop(feeds);
}
