//! ListPages, one test per pagination style, plus the ways a walk can end badly: a
//! non-JSON page, a wrong items_pointer, a cursor loop, malformed requests.

use crate::common;

use axum::Router;
use axum::routing::get;
use common::fetch::{Collection, client_for, ids, list, read_all};
use common::{TestServer, Upstream};
use prost_types::value::Kind;
use streamgate_client::proto::{ListPagesRequest, PaginationStyle};
use tonic::Code;

async fn serve(c: &Collection) -> (Upstream, TestServer) {
    (Upstream::start(c.router()).await, TestServer::start().await)
}

#[tokio::test]
async fn page_number_style_reads_every_item_in_order_like_the_seed() {
    let c = Collection::new(45);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages"), 10)
    };
    let (pages, end) = read_all(&mut client, req.clone()).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [10, 10, 10, 10, 5]
    );
    assert_eq!(ids(&pages), (0..45).collect::<Vec<_>>());
    assert!(
        pages[0].url.ends_with("/pages?page=1&size=10"),
        "{}",
        pages[0].url
    );
    assert!(pages[..4].iter().all(|p| !p.next_page_token.is_empty()));
    // The end is known from the empty page 6: page 5's token is empty if that answer was
    // already in when page 5 went out, else it resumes to an empty stream.
    let last = pages[4].next_page_token.clone();
    if !last.is_empty() {
        let resumed = ListPagesRequest {
            page_token: last,
            ..req
        };
        let (rest, end) = read_all(&mut client, resumed).await;
        assert!(end.is_none() && rest.is_empty(), "{rest:?} {end:?}");
    }
}

#[tokio::test]
async fn items_keep_numbers_strings_nested_objects_and_nulls() {
    let c = Collection::new(3);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages"), 0)
    };
    let (pages, _) = read_all(&mut client, req).await;
    let Some(Kind::StructValue(item)) = &pages[0].items[1].kind else {
        panic!("not an object")
    };
    assert_eq!(item.fields["id"].kind, Some(Kind::NumberValue(1.0)));
    assert_eq!(
        item.fields["name"].kind,
        Some(Kind::StringValue("item-1".into()))
    );
    assert_eq!(item.fields["nothing"].kind, Some(Kind::NullValue(0)));
    let Some(Kind::StructValue(nested)) = &item.fields["nested"].kind else {
        panic!("not nested")
    };
    assert_eq!(nested.fields["even"].kind, Some(Kind::BoolValue(false)));
}

#[tokio::test]
async fn a_404_past_the_last_page_ends_the_stream_and_start_and_max_pages_apply() {
    let c = Collection::new(30);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/pages404"), 10)
    };
    let (pages, end) = read_all(&mut client, req.clone()).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), (0..30).collect::<Vec<_>>());
    let req = ListPagesRequest {
        start_page: 2,
        max_pages: 1,
        ..req
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(pages.len(), 1);
    assert_eq!((pages[0].number, ids(&pages)[0]), (2, 10));
}

#[tokio::test]
async fn parameter_names_are_configurable() {
    let c = Collection::new(7);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        page_param: "p".into(),
        size_param: "per".into(),
        ..list(up.url("/pages?keep=1"), 3)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ids(&pages), (0..7).collect::<Vec<_>>());
    assert!(
        pages[1].url.ends_with("/pages?keep=1&p=2&per=3"),
        "{}",
        pages[1].url
    );
}

#[tokio::test]
async fn offset_limit_style_ends_at_a_short_page_with_an_empty_token() {
    let c = Collection::new(45);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        style: PaginationStyle::OffsetLimit as i32,
        items_pointer: "/data".into(),
        ..list(up.url("/offset"), 10)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(ids(&pages), (0..45).collect::<Vec<_>>());
    assert!(pages[4].next_page_token.is_empty());
    assert!(
        pages[4].url.ends_with("offset=40&limit=10"),
        "{}",
        pages[4].url
    );
}

#[tokio::test]
async fn cursor_style_follows_the_cursor_at_its_pointer() {
    let c = Collection::new(25);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        style: PaginationStyle::Cursor as i32,
        items_pointer: "/data".into(),
        cursor_pointer: "/meta/next".into(),
        ..list(up.url("/cursor"), 10)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(ids(&pages), (0..25).collect::<Vec<_>>());
    assert!(
        pages[1].url.ends_with("cursor=c10&limit=10"),
        "{}",
        pages[1].url
    );
    assert!(pages[2].next_page_token.is_empty());
    assert_eq!(c.hits.get(), 3, "no request past the last cursor");
}

#[tokio::test]
async fn link_header_style_follows_rel_next() {
    let c = Collection::new(25);
    let (up, server) = serve(&c).await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        style: PaginationStyle::LinkHeader as i32,
        ..list(up.url("/link?start=0&limit=10"), 0)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(end.is_none(), "{end:?}");
    assert_eq!(
        pages.iter().map(|p| p.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(ids(&pages), (0..25).collect::<Vec<_>>());
    assert!(
        pages[2].url.ends_with("/link?start=20&limit=10"),
        "{}",
        pages[2].url
    );
    assert!(pages[2].next_page_token.is_empty());
    assert_eq!(c.hits.get(), 3);
}

async fn bad_upstream() -> Upstream {
    Upstream::start(
        Router::new()
            .route(
                "/html",
                get(
                    |axum::extract::Query(q): axum::extract::Query<
                        std::collections::HashMap<String, String>,
                    >| async move {
                        if q.get("page").map(String::as_str) == Some("1") {
                            serde_json::json!([1, 2]).to_string()
                        } else {
                            "<html>oops</html>".to_string()
                        }
                    },
                ),
            )
            .route(
                "/object",
                get(|| async { axum::Json(serde_json::json!({"data": {"a": 1}})) }),
            )
            .route(
                "/loop",
                get(|| async {
                    axum::Json(serde_json::json!({"data": [1], "next_cursor": "same"}))
                }),
            ),
    )
    .await
}

#[tokio::test]
async fn a_non_json_page_ends_the_stream_naming_the_page() {
    let up = bad_upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let (pages, end) = read_all(&mut client, list(up.url("/html"), 2)).await;
    assert_eq!(pages.len(), 1);
    let end = end.expect("the stream ends with a status");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert!(
        end.message().contains("page 2") && end.message().contains("not JSON"),
        "{}",
        end.message()
    );
}

#[tokio::test]
async fn an_items_pointer_that_is_not_an_array_ends_the_stream() {
    let up = bad_upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        items_pointer: "/data".into(),
        ..list(up.url("/object"), 2)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert!(pages.is_empty());
    let end = end.expect("the stream ends with a status");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert!(
        end.message().contains("page 1") && end.message().contains("items_pointer"),
        "{}",
        end.message()
    );
}

#[tokio::test]
async fn a_cursor_loop_ends_the_stream() {
    let up = bad_upstream().await;
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let req = ListPagesRequest {
        style: PaginationStyle::Cursor as i32,
        items_pointer: "/data".into(),
        ..list(up.url("/loop"), 2)
    };
    let (pages, end) = read_all(&mut client, req).await;
    assert_eq!(pages.len(), 1, "the second page repeats the cursor");
    let end = end.expect("the stream ends with a status");
    assert_eq!(end.code(), Code::FailedPrecondition, "{end:?}");
    assert!(end.message().contains("already seen"), "{}", end.message());
}

#[tokio::test]
async fn malformed_list_requests_are_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let mut client = client_for(server.addr).await;
    let ok = "http://127.0.0.1:1/c";
    for (req, field) in [
        (list("", 0), "url"),
        (list("gopher://127.0.0.1/", 0), "url"),
        (
            ListPagesRequest {
                items_pointer: "data".into(),
                ..list(ok, 0)
            },
            "items_pointer",
        ),
        (
            ListPagesRequest {
                cursor_pointer: "next".into(),
                ..list(ok, 0)
            },
            "cursor_pointer",
        ),
        (
            ListPagesRequest {
                style: 99,
                ..list(ok, 0)
            },
            "style",
        ),
        (
            ListPagesRequest {
                page_token: "forged".into(),
                ..list(ok, 0)
            },
            "page_token",
        ),
        (
            ListPagesRequest {
                headers: vec![streamgate_client::proto::Header {
                    name: "bad name".into(),
                    value: "v".into(),
                }],
                ..list(ok, 0)
            },
            "headers[0].name",
        ),
    ] {
        let status = client
            .list_pages(req)
            .await
            .err()
            .unwrap_or_else(|| panic!("{field} accepted"));
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
}
