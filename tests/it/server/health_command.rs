//! `streamgate health`, the probe a container's HEALTHCHECK runs: its exit status is what the
//! runtime reads.

use crate::common;

use std::process::{Command, Output};

use common::{TestServer, server_binary};

fn probe(args: &[&str]) -> Output {
    Command::new(server_binary())
        .arg("health")
        .args(args)
        // The image sets none of these, but a developer's shell might.
        .env_remove("STREAMGATE_HEALTH_ADDR")
        .env_remove("STREAMGATE_HEALTH_SERVICE")
        .env_remove("STREAMGATE_HEALTH_TIMEOUT")
        .output()
        .expect("run streamgate health")
}

#[tokio::test]
async fn health_command_exits_zero_when_the_server_is_serving() {
    let server = TestServer::start().await;
    let url = server.url();
    for service in ["", "streamgate.v1.LockService"] {
        let out = tokio::task::spawn_blocking({
            let url = url.clone();
            move || probe(&["--addr", &url, "--service", service])
        })
        .await
        .expect("probe task");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{service:?}: {out:?}");
        assert!(stdout.ends_with("SERVING\n"), "{service:?}: {stdout}");
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn health_command_exits_one_for_an_unknown_service() {
    let server = TestServer::start().await;
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        probe(&["--addr", &url, "--service", "streamgate.v1.Nope"])
    })
    .await
    .expect("probe task");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("streamgate.v1.Nope"), "{stderr}");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn health_command_exits_one_when_nothing_listens() {
    // A port that was free a moment ago: bound, then released.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || probe(&["--addr", &url, "--timeout", "2s"]))
        .await
        .expect("probe task");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains(&addr.to_string()), "{stderr}");
}

#[test]
fn health_command_refuses_an_unknown_flag_with_usage() {
    let out = probe(&["--no-such-flag"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}
