//! HTTP/2 keepalive frees the slot of a peer that vanished: a connection whose peer stops
//! answering PINGs is closed within `--keepalive-interval` + `--keepalive-timeout`, even with
//! a stream open (which keeps `--idle-timeout` away); a peer that answers them stays.

use crate::common;

use std::time::Duration;

use common::TestServer;
use common::h2raw::{ACK, PING, RawH2};
use tokio::time::Instant;

const FEED: &str = "/streamgate.v1.SensorService/SensorFeed";

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(300);

/// Generous: the machine running the tests may be busy.
const MARGIN: Duration = Duration::from_secs(5);

async fn server() -> TestServer {
    TestServer::start_with_args(&[
        "--keepalive-interval",
        "300ms",
        "--keepalive-timeout",
        "300ms",
    ])
    .await
}

/// A connection with one SensorFeed stream open and answered, so it is not idle.
async fn busy_connection(server: &TestServer) -> RawH2 {
    let mut conn = RawH2::connect(server.addr).await.expect("served");
    conn.open_stream(1, FEED).await;
    let (answered, _) = conn.answers(1).await;
    assert_eq!(answered, [1]);
    conn
}

#[tokio::test]
async fn a_peer_that_never_answers_a_ping_is_closed_after_the_keepalive_timeout() {
    let server = server().await;
    let mut conn = busy_connection(&server).await;
    let quiet_since = Instant::now();
    let mut pings = 0;
    // Bounded: the server sends a handful of frames at most before it gives up.
    for _ in 0..20 {
        let Some(frame) = conn.read_frame().await else {
            break;
        };
        if frame.kind == PING && frame.flags & ACK == 0 {
            pings += 1;
        }
    }
    assert!(conn.is_closed().await, "the connection of a dead peer ends");
    let lasted = quiet_since.elapsed();
    assert!(pings >= 1, "the server asked with a PING before closing");
    assert!(
        lasted < INTERVAL + TIMEOUT + MARGIN,
        "closed {lasted:?} after the peer went quiet"
    );
}

#[tokio::test]
async fn a_peer_that_answers_its_pings_stays_connected() {
    let server = server().await;
    let mut conn = busy_connection(&server).await;
    // Three times what a dead peer gets, answering every PING on the way.
    let until = Instant::now() + 3 * (INTERVAL + TIMEOUT);
    let mut pings = 0;
    for _ in 0..100 {
        if Instant::now() >= until {
            break;
        }
        // A PING comes every interval, so this read never waits long.
        let frame = conn
            .read_frame()
            .await
            .expect("the connection of a live peer stays open, and pinged every interval");
        if frame.kind == PING && frame.flags & ACK == 0 {
            pings += 1;
            conn.ack_ping(&frame).await;
        }
    }
    assert!(
        Instant::now() >= until,
        "the server kept sending PINGs to a live peer"
    );
    assert!(pings >= 2, "{pings} PINGs: the server kept asking");
    conn.open_stream(3, FEED).await;
    let (answered, refused) = conn.answers(1).await;
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(answered, [3], "the connection still serves new streams");
}
