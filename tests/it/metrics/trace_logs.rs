//! The log lines of a call that arrived with a `traceparent` carry its trace id; those of a
//! call without one carry none.

use crate::common;

use common::TestServer;
use common::lock::{acquire_req, client_for, unique};
use common::logs::Captured;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

// One thread: the subscriber set below is this thread's, and the server's tasks run here too.
#[tokio::test(flavor = "current_thread")]
async fn the_log_lines_of_a_traced_call_carry_its_trace_id() {
    let (logs, _default) = Captured::start("debug");
    let server = TestServer::start().await;
    let mut client = client_for(&server).await;

    let mut traced = tonic::Request::new(acquire_req(&unique("traced"), 5_000, 0));
    traced.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-b7ad6b7169203331-01")
            .parse()
            .unwrap(),
    );
    assert!(
        client
            .acquire_lock(traced)
            .await
            .unwrap()
            .into_inner()
            .acquired
    );
    let plain = acquire_req(&unique("plain"), 5_000, 0);
    assert!(
        client
            .acquire_lock(plain)
            .await
            .unwrap()
            .into_inner()
            .acquired
    );

    let text = logs.text();
    let granted: Vec<&str> = text.lines().filter(|l| l.contains("granted")).collect();
    assert_eq!(granted.len(), 2, "{text}");
    assert!(
        granted[0].contains(&format!("trace_id={TRACE_ID}")) && granted[0].contains("traced-"),
        "{}",
        granted[0]
    );
    assert!(
        !granted[1].contains("trace_id") && granted[1].contains("plain-"),
        "{}",
        granted[1]
    );
}
