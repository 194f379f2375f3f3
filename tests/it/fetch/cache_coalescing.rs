//! Request coalescing in the shared cache: identical requests in flight share one upstream
//! exchange, which the leader's cancellation does not end; an upstream error is not handed to
//! the followers; an answer that proves uncacheable sends every follower upstream itself.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use common::Upstream;
use common::fetch::{client_for, get as get_req};
use common::metrics::Metered;
use streamgate_client::proto::FetchResponse;
use tokio::sync::{Semaphore, mpsc};
use tonic::Code;

const CACHE: [&str; 2] = ["--fetch-cache-bytes", "1048576"];

/// How long the slow answers take: long enough for the concurrent calls to meet.
const SLOW: Duration = Duration::from_millis(300);

const COALESCED: &str = "streamgate_fetch_cache_coalesced_total";

/// Counts requests to a route.
#[derive(Clone, Default)]
struct Count(Arc<AtomicUsize>);

impl Count {
    fn next(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `n` identical Fetches of `url` at once, each result in order of start.
async fn concurrently(
    server: &Metered,
    url: String,
    n: usize,
) -> Vec<Result<FetchResponse, tonic::Status>> {
    let client = client_for(server.server.addr).await;
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let mut client = client.clone();
            let req = get_req(url.clone());
            tokio::spawn(async move { client.fetch(req).await.map(|r| r.into_inner()) })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for call in calls {
        out.push(call.await.expect("the call's task ends"));
    }
    out
}

fn body(r: &FetchResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test]
async fn identical_concurrent_requests_make_one_upstream_request() {
    let count = Count::default();
    let c = count.clone();
    let up = Upstream::start(Router::new().route(
        "/slow",
        get(move || {
            let n = c.next();
            async move {
                tokio::time::sleep(SLOW).await;
                ([("cache-control", "max-age=60")], format!("answer #{n}"))
            }
        }),
    ))
    .await;
    let server = Metered::start(&CACHE).await;
    let results = concurrently(&server, up.url("/slow"), 100).await;
    let mut collapsed = 0;
    for r in results {
        let r = r.expect("every call answered");
        assert_eq!(body(&r), "answer #1");
        collapsed += usize::from(r.cache_status.contains("collapsed"));
    }
    assert_eq!(count.get(), 1, "one upstream request for 100 calls");
    let m = server.scrape().await;
    assert_eq!(
        m.value(COALESCED, &[]) as usize,
        collapsed,
        "every waiter is counted"
    );
    assert!(collapsed >= 1, "calls waited on the one in flight");
}

#[tokio::test]
async fn the_leaders_cancellation_does_not_cancel_the_followers() {
    let count = Count::default();
    let (entered_tx, mut entered) = mpsc::channel::<()>(16);
    let release = Arc::new(Semaphore::new(0));
    let finished = Count::default();
    let (c, r, f) = (count.clone(), release.clone(), finished.clone());
    let up = Upstream::start(Router::new().route(
        "/held",
        get(move || {
            let (c, r, f, tx) = (c.clone(), r.clone(), f.clone(), entered_tx.clone());
            async move {
                c.next();
                let _ = tx.send(()).await;
                let _permit = r.acquire().await;
                f.next();
                ([("cache-control", "max-age=60")], "held answer")
            }
        }),
    ))
    .await;
    let server = Metered::start(&CACHE).await;
    let url = up.url("/held");
    let mut leader_client = client_for(server.server.addr).await;
    let leader_req = get_req(url.clone());
    let leader = tokio::spawn(async move { leader_client.fetch(leader_req).await });
    entered
        .recv()
        .await
        .expect("the leader's request reached the origin");
    let followers: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            let addr = server.server.addr;
            tokio::spawn(async move {
                client_for(addr)
                    .await
                    .fetch(get_req(url))
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    server.wait_for(COALESCED, &[], 5.0).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // Nothing to await for a cancellation that must not reach the origin: give it time to.
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.add_permits(100);
    for f in followers {
        let r = f.await.unwrap().expect("a follower is answered");
        assert_eq!(body(&r), "held answer");
        assert!(r.cache_status.contains("collapsed"), "{}", r.cache_status);
    }
    assert_eq!(count.get(), 1, "the followers shared the leader's request");
    assert_eq!(finished.get(), 1, "which ran to its end");
}

#[tokio::test]
async fn an_upstream_error_is_not_given_to_the_waiters_a_new_leader_asks_again() {
    let count = Count::default();
    let c = count.clone();
    let up = Upstream::start(Router::new().route(
        "/flaky",
        get(move || {
            let n = c.next();
            async move {
                tokio::time::sleep(SLOW).await;
                if n == 1 {
                    // A body that breaks half-way: the first exchange fails.
                    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                        Ok("partial"),
                        Err(std::io::Error::other("origin broke the body")),
                    ];
                    Body::from_stream(futures::stream::iter(chunks)).into_response()
                } else {
                    ([("cache-control", "max-age=60")], format!("answer #{n}")).into_response()
                }
            }
        }),
    ))
    .await;
    let server = Metered::start(&CACHE).await;
    let results = concurrently(&server, up.url("/flaky"), 10).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        failed.len(),
        1,
        "only the first leader gets its error: {failed:?}"
    );
    assert_eq!(failed[0].code(), Code::Unavailable, "{:?}", failed[0]);
    for r in results.iter().filter_map(|r| r.as_ref().ok()) {
        assert_eq!(body(r), "answer #2");
    }
    assert_eq!(
        count.get(),
        2,
        "one failed exchange, one good one for all the rest"
    );
}

#[tokio::test]
async fn an_answer_that_proves_uncacheable_sends_100_waiters_upstream_on_their_own() {
    let count = Count::default();
    let c = count.clone();
    let up = Upstream::start(Router::new().route(
        "/mine",
        get(move || {
            let n = c.next();
            async move {
                tokio::time::sleep(SLOW).await;
                (
                    [("cache-control", "private")],
                    format!("private answer #{n}"),
                )
            }
        }),
    ))
    .await;
    let server = Metered::start(&CACHE).await;
    let results = concurrently(&server, up.url("/mine"), 100).await;
    let bodies: HashSet<String> = results
        .iter()
        .map(|r| body(r.as_ref().expect("every call answered")))
        .collect();
    assert_eq!(
        bodies.len(),
        100,
        "no private answer was handed to another caller"
    );
    assert_eq!(count.get(), 100);
    let m = server.scrape().await;
    assert!(
        m.value(COALESCED, &[]) >= 1.0,
        "some calls had waited on the first"
    );
    // Hit-for-miss: the next call goes straight upstream, without waiting on anyone.
    let next = concurrently(&server, up.url("/mine"), 1)
        .await
        .remove(0)
        .unwrap();
    assert!(
        next.cache_status.contains("detail=hit-for-miss"),
        "{}",
        next.cache_status
    );
}
