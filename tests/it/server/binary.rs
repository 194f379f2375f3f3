//! The server as a whole: command line, health, reflection, graceful shutdown.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use common::{TestServer, eventually_blocking, server_binary};
use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SERVICES: [&str; 3] = [
    "streamgate.v1.FetchService",
    "streamgate.v1.LockService",
    "streamgate.v1.SensorService",
];

#[tokio::test]
async fn health_reports_serving_for_every_service() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in SERVICES.into_iter().chain([""]) {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check answers")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "streamgate.v1.Nope".into(),
        })
        .await
        .expect_err("an unknown service is not found");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn reflection_v1_lists_every_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(req))
        .await
        .expect("reflection v1 answers")
        .into_inner();
    let resp = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("expected a service list, got {:?}", resp.message_response);
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES.into_iter().chain(["grpc.health.v1.Health"]) {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1alpha_describes_the_fetch_service() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "streamgate.v1.FetchService".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(req))
        .await
        .expect("reflection v1alpha answers")
        .into_inner();
    let resp = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::FileDescriptorResponse(files)) = resp.message_response else {
        panic!("expected file descriptors, got {:?}", resp.message_response);
    };
    assert!(!files.file_descriptor_proto.is_empty());
    let fetch_file = files.file_descriptor_proto.iter().find(|bytes| {
        bytes
            .windows(b"FetchService".len())
            .any(|w| w == b"FetchService")
    });
    assert!(fetch_file.is_some(), "no descriptor mentions FetchService");
}

#[tokio::test]
async fn stop_returns_ok_and_refuses_new_connections() {
    let server = TestServer::start().await;
    let addr = server.addr;
    server.stop().await.expect("serve returns Ok after a stop");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after the stop"
    );
}

#[test]
fn invalid_configuration_exits_2_naming_the_flag() {
    let out = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--fetch-max-concurrency", "0"])
        .output()
        .expect("run streamgate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--fetch-max-concurrency"),
        "stderr: {stderr}"
    );
}

#[test]
fn environment_twin_is_read_and_validated() {
    let out = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0"])
        .env("STREAMGATE_FETCH_MAX_PER_HOST", "0")
        .output()
        .expect("run streamgate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--fetch-max-per-host"), "stderr: {stderr}");
}

#[test]
fn unparsable_flag_value_exits_2() {
    let out = Command::new(server_binary())
        .args(["--listen", "not-an-address"])
        .output()
        .expect("run streamgate");
    assert_eq!(out.status.code(), Some(2));
}

/// Starts the real binary on port 0 and returns it with the address from its log line.
fn spawn_binary(extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run streamgate");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server logs `listening on ADDR`");
    (child, addr)
}

#[test]
fn binary_logs_its_bound_address_and_exits_0_on_sigterm() {
    let (mut child, addr) = spawn_binary(&[]);
    assert!(addr.starts_with("127.0.0.1:"), "bound address {addr}");
    assert_ne!(addr, "127.0.0.1:0", "the log names the port actually bound");
    std::net::TcpStream::connect(&addr).expect("the logged address accepts connections");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let exit = exited_within(&mut child, Duration::from_secs(20), "SIGTERM");
    assert_eq!(exit.code(), Some(0));
}

#[test]
fn binary_exits_0_on_sigint_with_json_logs() {
    let (mut child, _addr) = spawn_binary(&["--log-format", "json"]);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("send SIGINT");
    let exit = exited_within(&mut child, Duration::from_secs(20), "SIGINT");
    assert_eq!(exit.code(), Some(0));
}

/// The exit status of `child`, which must exit within `within` of being sent `signal`.
fn exited_within(child: &mut std::process::Child, within: Duration, signal: &str) -> ExitStatus {
    let what = format!("streamgate exits after {signal}");
    eventually_blocking(within, &what, || {
        child
            .try_wait()
            .expect("wait for streamgate")
            .ok_or("still running")
    })
}
