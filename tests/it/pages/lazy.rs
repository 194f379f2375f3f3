//! ListPages is lazy: pages are fetched only as the client reads them (plus a bounded
//! prefetch), prefetched pages are still delivered in order, and a cancelled stream drops its
//! upstream requests at once. Counted in upstream hits, not time.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::fetch::{Collection, Hits, ids, list};
use common::{TestServer, Upstream};
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::{ListPagesRequest, PaginationStyle};
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

/// A client whose HTTP/2 windows hold less than one page, so that what it has not read
/// cannot pile up in its receive buffers: the server sees the client's reading pace.
async fn narrow_client(server: &TestServer) -> FetchServiceClient<Channel> {
    let channel = Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(8_192)
        .initial_connection_window_size(8_192)
        .connect()
        .await
        .unwrap();
    FetchServiceClient::new(channel)
}

/// Waits until the upstream has seen no new request for 300 ms (the last ones settled).
async fn settled(hits: &Hits) -> usize {
    let last = &std::cell::Cell::new(hits.get());
    let what = "no new upstream request for 300 ms";
    common::eventually(Duration::from_secs(10), what, move || async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = hits.get();
        if now == last.replace(now) {
            Ok(now)
        } else {
            Err(now)
        }
    })
    .await
}

#[tokio::test]
async fn reading_one_page_then_cancelling_causes_at_most_prefetch_plus_two_requests() {
    let server = TestServer::start().await;
    for (style, path, pointer) in [
        (PaginationStyle::PageNumber, "/pages", "/data"),
        (PaginationStyle::OffsetLimit, "/offset", "/data"),
        (PaginationStyle::Cursor, "/cursor", "/data"),
        (PaginationStyle::LinkHeader, "/link?start=0&limit=100", ""),
    ] {
        for prefetch in [1u32, 3] {
            // 100 items of ~1 KiB: each page is bigger than the client's window.
            let mut c = Collection::new(100_000);
            c.pad = 1000;
            let up = Upstream::start(c.router()).await;
            let mut client = narrow_client(&server).await;
            let req = ListPagesRequest {
                style: style as i32,
                items_pointer: pointer.into(),
                cursor_pointer: "/meta/next".into(),
                prefetch,
                ..list(up.url(path), 100)
            };
            let mut stream = client.list_pages(req).await.unwrap().into_inner();
            let first = stream.message().await.unwrap().expect("a first page");
            assert_eq!(ids(&[first])[0], 0);
            drop(stream);
            let hits = settled(&c.hits).await;
            // The page read, the prefetch (cursor and link pages can only run one ahead), and
            // one more: the server's HTTP/2 send path holds two pages the client has not read,
            // and those count against the prefetch window until they are written.
            let ahead = match style {
                PaginationStyle::Cursor | PaginationStyle::LinkHeader => 1,
                _ => prefetch as usize,
            };
            let bound = ahead + 2;
            assert!(
                (1..=bound).contains(&hits),
                "{style:?} prefetch {prefetch}: {hits} upstream requests, bound {bound}"
            );
        }
    }
}

#[tokio::test]
async fn prefetched_pages_run_concurrently_and_arrive_in_order() {
    let mut c = Collection::new(200);
    c.delay = Duration::from_millis(30);
    let up = Upstream::start(c.router()).await;
    let server = TestServer::start().await;
    let mut client = narrow_client(&server).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        prefetch: 4,
        ..list(up.url("/pages"), 10)
    };
    let (pages, end) = common::fetch::read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), (0..200).collect::<Vec<_>>());
    let max = c.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=5).contains(&max),
        "prefetch 4 allows 5 requests at once, saw {max}"
    );
}

#[tokio::test]
async fn prefetch_is_capped_by_the_server() {
    let mut c = Collection::new(400);
    c.delay = Duration::from_millis(30);
    let up = Upstream::start(c.router()).await;
    let server = TestServer::start_with_args(&["--pages-max-prefetch", "2"]).await;
    let mut client = narrow_client(&server).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        prefetch: 50,
        ..list(up.url("/pages"), 10)
    };
    let (pages, end) = common::fetch::read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(pages.len(), 40);
    let max = c.max_in_flight.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        max <= 3,
        "prefetch capped at 2 allows 3 requests at once, saw {max}"
    );
}

/// Page 1 answers at once; later pages never answer, and report when their request is
/// dropped by the server.
async fn hanging_upstream(dropped: mpsc::Sender<()>) -> Upstream {
    struct OnDrop(mpsc::Sender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.try_send(());
        }
    }
    let dropped = Arc::new(dropped);
    Upstream::start(Router::new().route(
        "/hang",
        get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let dropped = dropped.clone();
                async move {
                    if q.get("page").map(String::as_str) == Some("1") {
                        return serde_json::json!([{"id": 0}]).to_string();
                    }
                    let _guard = OnDrop((*dropped).clone());
                    std::future::pending::<()>().await;
                    unreachable!("this request never completes")
                }
            },
        ),
    ))
    .await
}

#[tokio::test]
async fn cancelling_a_stream_drops_its_upstream_request_at_once() {
    let (tx, mut rx) = mpsc::channel(8);
    let up = hanging_upstream(tx).await;
    let server = TestServer::start().await;
    let mut client = narrow_client(&server).await;
    let mut stream = client
        .list_pages(list(up.url("/hang"), 1))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the in-flight upstream request was dropped within 5 s of the cancel")
        .expect("a drop report");
}

#[tokio::test]
async fn a_stream_past_its_grpc_deadline_ends_with_deadline_exceeded() {
    let (tx, _rx) = mpsc::channel(8);
    let up = hanging_upstream(tx).await;
    let server = TestServer::start().await;
    let mut client = narrow_client(&server).await;
    let mut req = tonic::Request::new(list(up.url("/hang"), 1));
    req.set_timeout(Duration::from_millis(500));
    let mut stream = client.list_pages(req).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("page 2"), "{}", status.message());
}

#[tokio::test]
async fn the_page_timeout_ends_a_stream_whose_page_hangs() {
    let (tx, _rx) = mpsc::channel(8);
    let up = hanging_upstream(tx).await;
    let server = TestServer::start().await;
    let mut client = narrow_client(&server).await;
    let req = ListPagesRequest {
        page_timeout: Some(prost_types::Duration {
            seconds: 0,
            nanos: 300_000_000,
        }),
        ..list(up.url("/hang"), 1)
    };
    let (pages, end) = common::fetch::read_all(&mut client, req).await;
    assert_eq!(pages.len(), 1);
    let end = end.expect("a status");
    assert_eq!(end.code(), tonic::Code::DeadlineExceeded, "{end:?}");
}
