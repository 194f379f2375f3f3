//! Bounds a caller cannot push past: names without control characters (a `\n` once forged a
//! log line), a server-wide cap on in-process lock names, and a Redis outage that costs a
//! few log lines and a backed-off Hold retry, not a line every 20 ms per stream: retries come
//! fast at first (a blip costs the lease little), then about once a second.

use crate::common;

use std::time::Duration;

use common::lock::*;
use common::logs::Captured;
use common::{RedisServer, TestServer, eventually};
use streamgate_client::proto::{ExtendRequest, ReleaseRequest, hold_event};
use tokio::time::Instant;
use tonic::Code;

const FORGED: &str = "evil\n2026-12-03T00:00:00Z  INFO streamgate: forged line\u{1b}[2J";

// One thread: the captured subscriber is this thread's, and the server's tasks run here too.
#[tokio::test(flavor = "current_thread")]
async fn a_name_with_a_control_character_is_invalid_argument_and_forges_no_line() {
    let (logs, _default) = Captured::start("debug");
    let server = TestServer::start().await;
    let mut c = client_for(&server).await;
    let mut statuses = vec![
        c.acquire_lock(acquire_req(FORGED, 1_000, 0))
            .await
            .unwrap_err(),
        c.hold(hold_req(FORGED, 1_000, 0)).await.unwrap_err(),
        c.release(ReleaseRequest {
            name: FORGED.into(),
            token: "t".into(),
        })
        .await
        .unwrap_err(),
        c.extend(ExtendRequest {
            name: FORGED.into(),
            token: "t".into(),
            ttl: Some(ms(1_000)),
        })
        .await
        .unwrap_err(),
    ];
    for name in ["tab\there", "nul\0", "c1\u{85}"] {
        statuses.push(
            c.acquire_lock(acquire_req(name, 1_000, 0))
                .await
                .unwrap_err(),
        );
    }
    for s in statuses {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(
            s.message().starts_with("name: ") && s.message().contains("control character"),
            "{s:?}"
        );
    }
    // An owner is free text: accepted, and logged escaped on one line.
    let owned = acquire_req(&unique("owned"), 1_000, 0);
    let owned = streamgate_client::proto::AcquireLockRequest {
        owner: FORGED.into(),
        ..owned
    };
    assert!(c.acquire_lock(owned).await.unwrap().into_inner().acquired);
    let text = logs.text();
    assert!(text.contains("granted"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-03T00:00:00Z")),
        "a forged line: {text}"
    );
    assert!(!text.contains('\u{1b}'), "a raw escape: {text}");
}

#[tokio::test]
async fn names_beyond_lock_max_names_are_resource_exhausted_naming_the_flag() {
    let server = TestServer::start_with_args(&["--lock-max-names", "3"]).await;
    let mut c = client_for(&server).await;
    let names: Vec<String> = (0..4).map(|i| unique(&format!("cap{i}"))).collect();
    let mut held = Vec::new();
    for name in &names[..3] {
        let g = acquire(&mut c, name, 30_000, 0).await;
        assert!(g.acquired, "{name}");
        held.push(g);
    }
    let over = c
        .acquire_lock(acquire_req(&names[3], 30_000, 0))
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    assert!(over.message().contains("--lock-max-names"), "{over:?}");
    // A name already tracked is still served: busy, not refused.
    assert!(!acquire(&mut c, &names[0], 30_000, 0).await.acquired);
    // Released, its name is forgotten and makes room.
    assert!(release(&mut c, &names[0], &held[0].token).await);
    assert!(acquire(&mut c, &names[3], 30_000, 0).await.acquired);
}

#[tokio::test]
async fn lock_max_names_zero_is_refused_at_start() {
    let out = std::process::Command::new(common::server_binary())
        .args(["--listen", "127.0.0.1:0", "--lock-max-names", "0"])
        .output()
        .expect("run streamgate");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lock-max-names"));
}

// One thread, as above.
#[tokio::test(flavor = "current_thread")]
async fn a_redis_outage_under_a_hold_logs_a_few_lines_and_backs_off() {
    let (logs, _default) = Captured::start("info");
    let mut redis = RedisServer::start();
    let server = TestServer::start_with_args(&["--redis-url", &redis.url()]).await;
    let mut c = client_for(&server).await;
    // Renewed every second (ttl/3): each renewal during the outage fails.
    let mut hold = c
        .hold(hold_req(&unique("outage"), 3_000, 0))
        .await
        .unwrap()
        .into_inner();
    match hold.message().await.unwrap().and_then(|e| e.event) {
        Some(hold_event::Event::Acquired(g)) => assert!(g.acquired),
        other => panic!("expected the grant, got {other:?}"),
    }
    redis.kill();
    // Bounded: the outage is watched for 4 s, then the stream is dropped.
    let watched = tokio::time::timeout(Duration::from_secs(4), hold.message()).await;
    if let Ok(Ok(Some(event))) = &watched {
        assert!(
            matches!(event.event, Some(hold_event::Event::Lost(_))),
            "{event:?}"
        );
    }
    drop(hold);
    let warn: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN"))
        .map(str::to_owned)
        .collect();
    // Before: one renewal line every 20 ms (~7 a second logged) and a reconnect line every
    // 0.5 s; now each kind of outage line at most once per 10 s.
    assert!(!warn.is_empty(), "the outage is logged");
    assert!(
        warn.len() <= 8,
        "{} WARN lines in 4 s:\n{}",
        warn.len(),
        warn.join("\n")
    );
}

/// EVALSHA calls Redis has refused so far (`rejected_calls` of `INFO commandstats`): each is
/// one renewal attempt once the scripts are denied.
async fn refused_scripts(mut conn: redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO commandstats");
    info.lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| {
            l.split("rejected_calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_hold_whose_renewals_fail_retries_fast_at_first_then_about_once_a_second() {
    let redis = RedisServer::start();
    // No call-level retries: each renewal attempt of the Hold is one script sent to Redis.
    let server =
        TestServer::start_with_args(&["--redis-url", &redis.url(), "--redis-retries", "0"]).await;
    let admin = redis::Client::open(redis.url())
        .expect("redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let mut c = client_for(&server).await;
    // Renewed from 3 s on (ttl/3); failing renewals are retried until the lease ends at 9 s.
    let mut hold = c
        .hold(hold_req(&unique("backoff"), 9_000, 0))
        .await
        .unwrap()
        .into_inner();
    match hold.message().await.unwrap().and_then(|e| e.event) {
        Some(hold_event::Event::Acquired(g)) => assert!(g.acquired),
        other => panic!("expected the grant, got {other:?}"),
    }
    // Redis stays up but refuses the scripts, so every attempt reaches it and is counted
    // (with Redis down the server would not even dial it).
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "default", "-evalsha"][..])
        .query_async(&mut admin.clone())
        .await
        .expect("deny EVALSHA");
    eventually(Duration::from_secs(10), "the first renewal fails", || {
        let admin = admin.clone();
        async move {
            let n = refused_scripts(admin).await;
            if n > 0 { Ok(()) } else { Err(n) }
        }
    })
    .await;
    let failing_since = Instant::now();
    // Pauses of 20 ms doubling: five attempts within 0.3 s of the first failure.
    tokio::time::sleep_until(failing_since + Duration::from_millis(400)).await;
    let early = refused_scripts(admin.clone()).await;
    // From about 1 s past the first failure, the pause is at its 1 s ceiling.
    tokio::time::sleep_until(failing_since + Duration::from_millis(1_400)).await;
    let before = refused_scripts(admin.clone()).await;
    tokio::time::sleep_until(failing_since + Duration::from_millis(3_400)).await;
    let late = refused_scripts(admin.clone()).await - before;
    assert!(
        early >= 4,
        "{early} attempts in the first 0.4 s: the first retries come fast"
    );
    assert!(
        (1..=4).contains(&late),
        "{late} attempts in 2 s, a second and more into the failure: backed off to ~1 a second, \
         still trying (a fixed 20 ms pause would make ~100)"
    );
    drop(hold);
}
