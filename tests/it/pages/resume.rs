//! ListPages resume tokens, retries honouring Retry-After, and a graceful shutdown with a
//! stream open.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::fetch::{Collection, Hits, client_for, ids, list, read_all};
use common::{TestServer, Upstream};
use streamgate_client::proto::{ListPagesRequest, PaginationStyle};
use tonic::Code;

fn styled(up: &Upstream, style: PaginationStyle) -> ListPagesRequest {
    let (path, pointer) = match style {
        PaginationStyle::OffsetLimit => ("/offset", "/data"),
        PaginationStyle::Cursor => ("/cursor", "/data"),
        PaginationStyle::LinkHeader => ("/link?start=0&limit=10", ""),
        _ => ("/pages", "/data"),
    };
    ListPagesRequest {
        style: style as i32,
        items_pointer: pointer.into(),
        cursor_pointer: "/meta/next".into(),
        ..list(up.url(path), 10)
    }
}

#[tokio::test]
async fn a_page_token_resumes_right_after_its_page_in_every_style() {
    let c = Collection::new(55);
    let up = Upstream::start(c.router()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    for style in [
        PaginationStyle::PageNumber,
        PaginationStyle::OffsetLimit,
        PaginationStyle::Cursor,
        PaginationStyle::LinkHeader,
    ] {
        let first = ListPagesRequest {
            max_pages: 2,
            ..styled(&up, style)
        };
        let (head, end) = read_all(&mut client, first).await;
        assert!(end.is_none(), "{style:?}: {end:?}");
        assert_eq!(head.len(), 2);
        let token = head[1].next_page_token.clone();
        assert!(
            !token.is_empty(),
            "{style:?}: a resumable page carries a token"
        );
        let rest_req = ListPagesRequest {
            page_token: token,
            ..styled(&up, style)
        };
        let (rest, end) = read_all(&mut client, rest_req).await;
        assert!(end.is_none(), "{style:?}: {end:?}");
        assert_eq!(rest[0].number, 3, "{style:?}: numbering continues");
        let mut all = ids(&head);
        all.extend(ids(&rest));
        assert_eq!(
            all,
            (0..55).collect::<Vec<_>>(),
            "{style:?}: nothing lost or repeated"
        );
    }
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_invalid_argument() {
    let c = Collection::new(30);
    let up = Upstream::start(c.router()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        max_pages: 1,
        ..styled(&up, PaginationStyle::PageNumber)
    };
    let (pages, _) = read_all(&mut client, req).await;
    let token = pages[0].next_page_token.clone();

    let foreign = ListPagesRequest {
        page_token: token.clone(),
        ..styled(&up, PaginationStyle::OffsetLimit)
    };
    let mut tampered = token.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let forged = ListPagesRequest {
        page_token: String::from_utf8(tampered).unwrap(),
        ..styled(&up, PaginationStyle::PageNumber)
    };
    for req in [foreign, forged] {
        let Err(status) = client.list_pages(req).await else {
            panic!("a bad token was accepted")
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("page_token"),
            "{}",
            status.message()
        );
    }

    // Another server with its own random key does not accept it; one sharing a key does.
    let other = TestServer::start().await;
    let mut other_client = client_for(other.addr).await;
    let req = ListPagesRequest {
        page_token: token,
        ..styled(&up, PaginationStyle::PageNumber)
    };
    let Err(status) = other_client.list_pages(req).await else {
        panic!("a token from another server was accepted")
    };
    assert_eq!(status.code(), Code::InvalidArgument);

    let a = TestServer::start_with_args(&["--page-token-key", "shared"]).await;
    let b = TestServer::start_with_args(&["--page-token-key", "shared"]).await;
    let req = ListPagesRequest {
        max_pages: 1,
        ..styled(&up, PaginationStyle::PageNumber)
    };
    let (pages, _) = read_all(&mut client_for(a.addr).await, req).await;
    let req = ListPagesRequest {
        page_token: pages[0].next_page_token.clone(),
        ..styled(&up, PaginationStyle::PageNumber)
    };
    let (rest, end) = read_all(&mut client_for(b.addr).await, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(rest[0].number, 2);
}

/// `/tail?page=N`: pages 1 and 2 of one item each, page 2 after `slow_page2`, and an empty
/// page 3 after `slow_end`.
async fn tail(slow_page2: Duration, slow_end: Duration) -> Upstream {
    Upstream::start(Router::new().route(
        "/tail",
        get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| async move {
                let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                match page {
                    1 => axum::Json(serde_json::json!([{"id": 1}])),
                    2 => {
                        tokio::time::sleep(slow_page2).await;
                        axum::Json(serde_json::json!([{"id": 2}]))
                    }
                    _ => {
                        tokio::time::sleep(slow_end).await;
                        axum::Json(serde_json::json!([]))
                    }
                }
            },
        ),
    ))
    .await
}

#[tokio::test]
async fn the_last_page_has_no_token_when_the_empty_page_after_it_is_already_back() {
    // Page 2 takes 300 ms; the empty page 3, fetched alongside it (prefetch 2), is back
    // long before: page 2 is known to be the last when it goes out.
    let up = tail(Duration::from_millis(300), Duration::ZERO).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        prefetch: 2,
        ..list(up.url("/tail"), 1)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), [1, 2]);
    assert!(!pages[0].next_page_token.is_empty());
    assert_eq!(
        pages[1].next_page_token, "",
        "page 2 is known to be the last"
    );
}

#[tokio::test]
async fn a_last_page_sent_before_the_end_was_known_resumes_to_an_empty_stream() {
    // The empty page 3 takes 300 ms, so page 2 goes out first, with a token.
    let up = tail(Duration::ZERO, Duration::from_millis(300)).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        prefetch: 2,
        ..list(up.url("/tail"), 1)
    };
    let (pages, end) = read_all(&mut client, req.clone()).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), [1, 2]);
    let token = pages[1].next_page_token.clone();
    assert!(!token.is_empty(), "the end was not yet known");
    let resumed = ListPagesRequest {
        page_token: token,
        ..req
    };
    let (rest, end) = read_all(&mut client, resumed).await;
    assert!(end.is_none(), "{end:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

/// `/flaky`: the first `fail` requests answer `status` (with `Retry-After` if given), then
/// one page of items and the end. Records when each request for page 1 came.
async fn flaky(
    fail: usize,
    status: StatusCode,
    retry_after: Option<&'static str>,
) -> (Upstream, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let hits = Hits::default();
    let t = times.clone();
    let up = Upstream::start(Router::new().route(
        "/flaky",
        get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let (t, hits) = (t.clone(), hits.clone());
                async move {
                    if q.get("page").map(String::as_str) != Some("1") {
                        return axum::Json(serde_json::json!([])).into_response();
                    }
                    t.lock().unwrap().push(Instant::now());
                    if hits.hit() <= fail {
                        let mut r: Response = (status, "try later").into_response();
                        if let Some(ra) = retry_after {
                            r.headers_mut().insert("retry-after", ra.parse().unwrap());
                        }
                        return r;
                    }
                    axum::Json(serde_json::json!([{"id": 1}])).into_response()
                }
            },
        ),
    ))
    .await;
    (up, times)
}

#[tokio::test]
async fn throttled_pages_are_retried_after_the_retry_after_delay() {
    let (up, times) = flaky(1, StatusCode::TOO_MANY_REQUESTS, Some("1")).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (pages, end) = read_all(&mut client, list(up.url("/flaky"), 1)).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), [1]);
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 2, "one retry");
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
}

/// `/dated`: the first request for page 1 answers 503 with `Retry-After` as an HTTP-date between 1 and
/// 2 s ahead (a whole second, as HTTP-dates are), later ones a page. Records the date and
/// the wall-clock time of each request.
async fn dated() -> (Upstream, Arc<Mutex<(Option<SystemTime>, Vec<SystemTime>)>>) {
    let seen = Arc::new(Mutex::new((None, Vec::new())));
    let s = seen.clone();
    let up = Upstream::start(Router::new().route(
        "/dated",
        get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let s = s.clone();
                async move {
                    if q.get("page").map(String::as_str) != Some("1") {
                        return axum::Json(serde_json::json!([])).into_response();
                    }
                    let now = SystemTime::now();
                    let mut seen = s.lock().unwrap();
                    seen.1.push(now);
                    if seen.0.is_some() {
                        return axum::Json(serde_json::json!([{"id": 7}])).into_response();
                    }
                    let secs = now
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(secs + 2);
                    seen.0 = Some(date);
                    let mut r: Response =
                        (StatusCode::SERVICE_UNAVAILABLE, "later").into_response();
                    let value = httpdate::fmt_http_date(date);
                    r.headers_mut()
                        .insert("retry-after", value.parse().unwrap());
                    r
                }
            },
        ),
    ))
    .await;
    (up, seen)
}

#[tokio::test]
async fn a_retry_after_http_date_is_waited_for_before_the_retry() {
    let (up, seen) = dated().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (pages, end) = read_all(&mut client, list(up.url("/dated"), 1)).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), [7]);
    let (date, times) = seen.lock().unwrap().clone();
    let date = date.expect("the first request was answered with a date");
    assert_eq!(times.len(), 2, "the 503 and one retry: {times:?}");
    // The default backoff would have retried after 50-100 ms; the date is >= 1 s ahead.
    // 50 ms of slack covers the system clock being stepped between the two readings.
    assert!(
        times[1] + Duration::from_millis(50) >= date,
        "retried at {:?}, before the Retry-After date {date:?}",
        times[1]
    );
}

#[tokio::test]
async fn gateway_errors_are_retried_with_backoff_until_success() {
    let (up, _) = flaky(2, StatusCode::SERVICE_UNAVAILABLE, None).await;
    let server = TestServer::start_with_args(&["--pages-retry-base", "10ms"]).await;
    let mut client = client_for(server.addr).await;
    let (pages, end) = read_all(&mut client, list(up.url("/flaky"), 1)).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), [1]);
}

#[tokio::test]
async fn retries_stop_after_max_attempts_with_unavailable_naming_the_page() {
    let (up, times) = flaky(usize::MAX, StatusCode::BAD_GATEWAY, None).await;
    let server =
        TestServer::start_with_args(&["--pages-max-attempts", "3", "--pages-retry-base", "10ms"])
            .await;
    let mut client = client_for(server.addr).await;
    let (pages, end) = read_all(&mut client, list(up.url("/flaky"), 1)).await;
    assert!(pages.is_empty());
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(
        end.message().contains("page 1") && end.message().contains("3 attempt"),
        "{}",
        end.message()
    );
    assert_eq!(times.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_server_maximum_gives_up_at_once() {
    let (up, times) = flaky(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Some("3600")).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (_, end) = read_all(&mut client, list(up.url("/flaky"), 1)).await;
    let end = end.expect("a status");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(end.message().contains("Retry-After"), "{}", end.message());
    assert_eq!(times.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn stopping_the_server_ends_an_open_stream_with_a_status_and_serve_returns() {
    let mut c = Collection::new(1_000_000);
    c.delay = Duration::from_millis(200);
    let up = Upstream::start(c.router()).await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages"), 5)
    };
    let mut stream = client.list_pages(req).await.unwrap().into_inner();
    assert!(
        stream.message().await.unwrap().is_some(),
        "the stream is open and serving"
    );
    let stopped = tokio::spawn(server.stop());
    let mut end = None;
    for _ in 0..1000 {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(s) => {
                end = Some(s);
                break;
            }
        }
    }
    let end = end.expect("the stream ended with a status, not a clean end");
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    assert!(
        common::fetch::upstream_marker(&end).is_none(),
        "streamgate stopping is not an upstream being down: {end:?}"
    );
    stopped.await.unwrap().expect("serve returned Ok");
}
