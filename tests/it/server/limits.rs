//! The server's own limits on what one caller may open: HTTP/2 streams per connection
//! (`--max-streams-per-connection`, advertised and enforced) and connections
//! (`--max-connections`, beyond it a connection is closed at once when every connection has a
//! stream open).

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::h2raw::{MAX_CONCURRENT_STREAMS, RawH2};

const FEED: &str = "/streamgate.v1.SensorService/SensorFeed";

#[tokio::test]
async fn the_default_stream_limit_is_advertised_in_the_servers_settings() {
    let server = TestServer::start().await;
    let conn = RawH2::connect(server.addr).await.expect("served");
    assert_eq!(conn.setting(MAX_CONCURRENT_STREAMS), Some(256));
}

#[tokio::test]
async fn streams_beyond_the_limit_are_refused_and_the_others_served() {
    let server = TestServer::start_with_args(&["--max-streams-per-connection", "3"]).await;
    let mut conn = RawH2::connect(server.addr).await.expect("served");
    assert_eq!(conn.setting(MAX_CONCURRENT_STREAMS), Some(3));
    // A client that ignores the advertised limit opens five streams that all stay open (a
    // SensorFeed whose request body never ends).
    for id in [1, 3, 5, 7, 9] {
        conn.open_stream(id, FEED).await;
    }
    let (mut answered, mut refused) = conn.answers(5).await;
    // Each stream is served by a task of its own: answers may come in any order.
    answered.sort_unstable();
    refused.sort_unstable();
    assert_eq!(answered, vec![1, 3, 5], "the first three are served");
    assert_eq!(refused, vec![7, 9], "the rest get REFUSED_STREAM");
}

#[tokio::test]
async fn a_connection_beyond_the_limit_is_closed_at_once_and_a_freed_slot_is_reused() {
    let server = TestServer::start_with_args(&["--max-connections", "2"]).await;
    // The readiness probe of the harness held a slot for a moment; retry until it is gone.
    // Each connection keeps a stream open: an idle one would be closed to make room
    // (tests/it/server/idle.rs).
    let mut first = connect_within(&server, Duration::from_secs(10)).await;
    first.open_stream(1, FEED).await;
    assert_eq!(first.answers(1).await.0, [1]);
    let mut second = connect_within(&server, Duration::from_secs(10)).await;
    second.open_stream(1, FEED).await;
    assert_eq!(second.answers(1).await.0, [1]);
    assert!(
        RawH2::connect(server.addr).await.is_none(),
        "a third connection is closed without SETTINGS"
    );
    drop(first);
    // The slot frees when the server notices the close; a new connection then fits.
    let _third = connect_within(&server, Duration::from_secs(10)).await;
}

/// A served connection, retrying turned-away ones for at most `limit`.
async fn connect_within(server: &TestServer, limit: Duration) -> RawH2 {
    let addr = server.addr;
    common::eventually(limit, "a connection is served", move || async move {
        RawH2::connect(addr).await.ok_or("turned away")
    })
    .await
}
