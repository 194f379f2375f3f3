//! `Client::list_pages` against the real server and loopback paginated APIs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::ServerProcess;
use common::upstreams::{Upstream, collection_router, stalling_router};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use streamgate_client::{Page, PagesOptions};

fn ids(pages: &[Page]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i["id"].as_u64().unwrap_or(0)))
        .collect()
}

#[tokio::test]
async fn list_pages_reads_every_page_in_order_until_an_empty_one() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(45)).await;
    let client = server.client().await;
    let pages: Vec<Page> = client
        .list_pages(&upstream.url("/items"), PagesOptions::new().page_size(20))
        .try_collect()
        .await
        .expect("every page");
    let numbers: Vec<u32> = pages.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(ids(&pages), (1..=45).collect::<Vec<u64>>());
}

#[tokio::test]
async fn max_pages_stops_after_that_many_pages() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(1000)).await;
    let client = server.client().await;
    let pages: Vec<Page> = client
        .list_pages(
            &upstream.url("/items"),
            PagesOptions::new().page_size(10).max_pages(2),
        )
        .try_collect()
        .await
        .expect("two pages");
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages), (1..=20).collect::<Vec<u64>>());
}

#[tokio::test]
async fn items_pointer_finds_the_array_inside_each_body() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(7)).await;
    let client = server.client().await;
    let pages: Vec<Page> = client
        .list_pages(
            &upstream.url("/wrapped"),
            PagesOptions::new().page_size(5).items_pointer("/data"),
        )
        .try_collect()
        .await
        .expect("every page");
    assert_eq!(pages[0].items[0], json!({"id": 1}));
    assert_eq!(ids(&pages), (1..=7).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_page_token_resumes_after_its_page() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(30)).await;
    let client = server.client().await;
    let url = upstream.url("/items");
    let mut first = Box::pin(client.list_pages(&url, PagesOptions::new().page_size(10)));
    let page1 = first.next().await.expect("a page").expect("page 1");
    drop(first);
    assert!(
        !page1.next_page_token.is_empty(),
        "page 1 has a resume token"
    );
    let rest: Vec<Page> = client
        .list_pages(
            &url,
            PagesOptions::new()
                .page_size(10)
                .page_token(page1.next_page_token.clone()),
        )
        .try_collect()
        .await
        .expect("the rest");
    assert_eq!(rest[0].number, 2);
    assert_eq!(ids(&rest), (11..=30).collect::<Vec<u64>>());
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_upstream_request_in_flight() {
    let server = ServerProcess::start(&[]);
    let requests = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel(8);
    let (dropped_tx, mut dropped_rx) = tokio::sync::mpsc::channel(8);
    let upstream =
        Upstream::start(stalling_router(2, requests.clone(), started_tx, dropped_tx)).await;
    let client = server.client().await;
    let mut pages = Box::pin(client.list_pages(
        &upstream.url("/endless"),
        PagesOptions::new().page_size(2).prefetch(1),
    ));
    let first = pages.next().await.expect("a page").expect("page 1");
    assert_eq!(first.number, 1);
    // Ask for page 2 until its request is stalled at the upstream, then walk away.
    let page_2_started = async {
        while let Some(page) = started_rx.recv().await {
            if page == 2 {
                return;
            }
        }
    };
    tokio::select! {
        page = pages.next() => panic!("page 2 never answers, yet got {page:?}"),
        _ = page_2_started => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("page 2 was never requested"),
    }
    drop(pages);
    // Every stalled request (page 2, and any page prefetched behind it) is abandoned by the
    // server once the client has gone; page 2's is always among them.
    let abandoned_page_2 = async {
        while let Some(page) = dropped_rx.recv().await {
            if page == 2 {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), abandoned_page_2)
        .await
        .expect("the server dropped its request for page 2 within 10 s");
    let sent = requests.load(Ordering::SeqCst);
    assert!(
        sent <= 3,
        "the server read ahead only its prefetch: {sent} requests"
    );
}

#[tokio::test]
async fn an_empty_url_is_invalid_argument() {
    let server = ServerProcess::start(&[]);
    let client = server.client().await;
    let err = client
        .list_pages("", PagesOptions::new())
        .try_collect::<Vec<Page>>()
        .await
        .expect_err("an empty url");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}
