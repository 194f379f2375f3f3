//! The log lines of a call that arrived with a `traceparent` carry its trace id; those of a
//! call without one carry none.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::TestServer;
use common::lock::{acquire_req, client_for, unique};
use tracing_subscriber::fmt::MakeWriter;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// One thread: the subscriber set below is this thread's, and the server's tasks run here too.
#[tokio::test(flavor = "current_thread")]
async fn the_log_lines_of_a_traced_call_carry_its_trace_id() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("streamgate=debug")
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
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

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
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
