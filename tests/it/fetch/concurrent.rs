//! Many small Fetch calls at once on one connection, each request message in a DATA frame of
//! its own (as grpc-go sends them): every one is answered, none is cut off by the server's
//! HTTP/2 small-frame protection.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::fetch::get as get_req;
use common::frame_client::FrameClient;
use common::{TestServer, Upstream};
use futures::StreamExt;
use streamgate_client::proto::{FetchRequest, FetchResponse};

const CALLS: usize = 2_000;
/// Below the default 256 streams per connection, so no call is refused.
const IN_FLIGHT: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_small_fetches_200_at_a_time_on_one_connection_all_succeed() {
    let upstream = Upstream::start(Router::new().route("/item", get(|| async { "ok" }))).await;
    let server = TestServer::start().await;
    let client = FrameClient::connect(server.addr).await;
    let calls = futures::stream::iter(0..CALLS)
        .map(|i| {
            let req: FetchRequest = get_req(upstream.url(&format!("/item?i={i}")));
            let client = &client;
            async move {
                let answers = client
                    .call::<_, FetchResponse>(
                        "/streamgate.v1.FetchService/Fetch",
                        std::iter::once(req),
                    )
                    .await;
                (i, answers)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>();
    let results = tokio::time::timeout(Duration::from_secs(120), calls)
        .await
        .expect("2,000 calls answered within 120 s");
    assert_eq!(results.len(), CALLS);
    for (i, answers) in results {
        assert_eq!(answers.status, Ok(0), "call {i}");
        assert_eq!(answers.messages.len(), 1, "call {i}");
        let resp = &answers.messages[0];
        assert_eq!((resp.status, &resp.body[..]), (200, &b"ok"[..]), "call {i}");
    }
}
