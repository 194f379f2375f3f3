//! The `streamgate-cli` binary against the real server: output, exit codes, errors.

mod common;

use std::time::Duration;

use common::upstreams::{Concurrency, Upstream, collection_router, fetch_router};
use common::{ServerProcess, cli, run_cli};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn fetch_prints_the_body_and_exits_zero() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    let run = run_cli(&server.url, &["fetch", &upstream.url("/hello")]).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "hello from upstream\n");
}

#[tokio::test]
async fn fetch_json_reports_status_headers_and_body() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    let url = upstream.url("/echo");
    let args = [
        "--json",
        "fetch",
        "-X",
        "POST",
        "-H",
        "X-Test: 7",
        "-d",
        "hi",
        &url,
    ];
    let run = run_cli(&server.url, &args).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one JSON line");
    assert_eq!(v["status"], 200);
    let echo: serde_json::Value =
        serde_json::from_str(v["body"].as_str().expect("a text body")).expect("echo JSON");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["x_test"], "7");
    assert_eq!(echo["body"], "hi");
}

#[tokio::test]
async fn fetch_fail_exits_22_on_an_http_error_status_and_0_without_it() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    let url = upstream.url("/status/503");
    let run = run_cli(&server.url, &["fetch", "--fail", &url]).await;
    assert_eq!(run.code, Some(22), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 503"),
        "the status is said: {}",
        run.stderr
    );
    let run = run_cli(&server.url, &["fetch", &url]).await;
    assert_eq!(
        run.code,
        Some(0),
        "an HTTP error is a response: {}",
        run.stderr
    );
    assert_eq!(run.stdout, "status 503");
}

#[tokio::test]
async fn errors_print_the_code_name_and_exit_100_plus_the_code() {
    let server = ServerProcess::start(&[]);
    let run = run_cli(&server.url, &["fetch", "not-a-url"]).await;
    assert_eq!(run.code, Some(103), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("INVALID_ARGUMENT"), "{}", run.stderr);

    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let run = run_cli(&dead, &["fetch", "http://127.0.0.1/"]).await;
    assert_eq!(run.code, Some(114), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("UNAVAILABLE"), "{}", run.stderr);

    let run = run_cli(&dead, &["--json", "lock", "x", "--", "true"]).await;
    assert_eq!(run.code, Some(114));
    let v: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("JSON error");
    assert_eq!(v["error"]["code"], "UNAVAILABLE");
}

#[tokio::test]
async fn lock_exits_with_the_status_of_its_command() {
    let server = ServerProcess::start(&[]);
    let run = run_cli(&server.url, &["lock", "job", "--", "sh", "-c", "exit 3"]).await;
    assert_eq!(run.code, Some(3), "stderr: {}", run.stderr);
    let run = run_cli(&server.url, &["lock", "job", "--", "true"]).await;
    assert_eq!(
        run.code,
        Some(0),
        "the lock was released after the first run"
    );
}

#[tokio::test]
async fn lock_gives_the_command_its_fencing_token() {
    let server = ServerProcess::start(&[]);
    let script = "echo \"$STREAMGATE_LOCK_NAME $STREAMGATE_FENCING_TOKEN\"";
    let first = run_cli(&server.url, &["lock", "ft", "--", "sh", "-c", script]).await;
    let second = run_cli(&server.url, &["lock", "ft", "--", "sh", "-c", script]).await;
    let token = |out: &str| -> u64 {
        let (name, token) = out.trim().split_once(' ').expect("name and token");
        assert_eq!(name, "ft");
        token.parse().expect("a number")
    };
    assert!(token(&second.stdout) > token(&first.stdout));
}

#[tokio::test]
async fn lock_holds_the_lock_while_the_command_runs() {
    let server = ServerProcess::start(&[]);
    let cli_path = env!("CARGO_BIN_EXE_streamgate-cli");
    // The command itself tries the same lock without waiting: it must find it taken.
    let inner = format!(
        "{cli_path} --server {} lock shared -- true; echo inner=$?",
        server.url
    );
    let run = run_cli(&server.url, &["lock", "shared", "--", "sh", "-c", &inner]).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout.trim(), "inner=75", "stderr: {}", run.stderr);
    assert!(run.stderr.contains("not acquired"), "{}", run.stderr);
}

#[tokio::test]
async fn lock_with_a_limit_lets_that_many_commands_hold_a_permit_at_once() {
    let server = ServerProcess::start(&[]);
    let cli_path = env!("CARGO_BIN_EXE_streamgate-cli");
    // Inside a permit of two, a second permit is free and a third is not.
    let inner = format!(
        "{cli_path} --server {url} lock pool --limit 2 -- sh -c '{cli_path} --server {url} lock pool --limit 2 -- true; echo third=$?'; echo second=$?",
        url = server.url
    );
    let run = run_cli(
        &server.url,
        &["lock", "pool", "--limit", "2", "--", "sh", "-c", &inner],
    )
    .await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout.split_whitespace().collect::<Vec<_>>(),
        ["third=75", "second=0"],
        "stderr: {}",
        run.stderr
    );
}

#[tokio::test]
async fn lock_of_a_missing_command_exits_127_and_releases() {
    let server = ServerProcess::start(&[]);
    let run = run_cli(
        &server.url,
        &["lock", "m", "--", "/nonexistent/streamgate-test"],
    )
    .await;
    assert_eq!(run.code, Some(127), "stderr: {}", run.stderr);
    let run = run_cli(&server.url, &["lock", "m", "--", "true"]).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
}

#[tokio::test]
async fn lock_with_permits_takes_that_many_of_the_limit() {
    let server = ServerProcess::start(&[]);
    let cli_path = env!("CARGO_BIN_EXE_streamgate-cli");
    // Inside a grant of two permits of three, another two are not free and one is.
    let inner = format!(
        "{cli_path} --server {url} lock pool --limit 3 --permits 2 -- true; echo two=$?; \
         {cli_path} --server {url} lock pool --limit 3 -- true; echo one=$?",
        url = server.url
    );
    let args = [
        "lock",
        "pool",
        "--limit",
        "3",
        "--permits",
        "2",
        "--",
        "sh",
        "-c",
        &inner,
    ];
    let run = run_cli(&server.url, &args).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout.split_whitespace().collect::<Vec<_>>(),
        ["two=75", "one=0"],
        "stderr: {}",
        run.stderr
    );
}

#[tokio::test]
async fn lock_with_read_shares_with_readers_and_with_write_is_alone() {
    let server = ServerProcess::start(&[]);
    let cli_path = env!("CARGO_BIN_EXE_streamgate-cli");
    // Each command tries, without waiting, a read share and the write side of its own lock.
    let inner = format!(
        "{cli_path} --server {url} lock doc --read -- true; echo read=$?; \
         {cli_path} --server {url} lock doc --write -- true; echo write=$?",
        url = server.url
    );
    for (side, expected) in [
        ("--read", ["read=0", "write=75"]),
        ("--write", ["read=75", "write=75"]),
    ] {
        let run = run_cli(
            &server.url,
            &["lock", "doc", side, "--", "sh", "-c", &inner],
        )
        .await;
        assert_eq!(run.code, Some(0), "{side}: stderr: {}", run.stderr);
        assert_eq!(
            run.stdout.split_whitespace().collect::<Vec<_>>(),
            expected,
            "inside {side}; stderr: {}",
            run.stderr
        );
    }
}

/// A CLI holding a read share of `doc` whose command prints its fencing token and then runs
/// until its stdin closes; returns the process and its token, read once it holds the share.
async fn reader_holding_doc(url: &str) -> (tokio::process::Child, u64) {
    let mut child = cli(
        url,
        &[
            "lock",
            "doc",
            "--read",
            "--",
            "sh",
            "-c",
            "echo $STREAMGATE_FENCING_TOKEN; cat > /dev/null",
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn the cli");
    let stdout = child.stdout.take().expect("piped");
    let line = tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("the reader holds within 30 s")
    .expect("read stdout")
    .expect("the command printed its token");
    (child, line.trim().parse().expect("a fencing token"))
}

/// Closes `reader`'s stdin, which ends its command, and waits for the CLI to exit.
async fn end_reader(mut reader: tokio::process::Child) {
    drop(reader.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(30), reader.wait())
        .await
        .expect("the reader exits within 30 s of its command ending")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn lock_with_write_and_wait_holds_once_both_readers_end_with_a_higher_token() {
    let server = ServerProcess::start(&[]);
    let (first, first_token) = reader_holding_doc(&server.url).await;
    // The first reader's command still runs: both hold a share at once.
    let (second, second_token) = reader_holding_doc(&server.url).await;
    assert!(second_token > first_token);

    let mut writer = cli(
        &server.url,
        &[
            "lock",
            "doc",
            "--write",
            "--wait",
            "30s",
            "--",
            "sh",
            "-c",
            "echo $STREAMGATE_FENCING_TOKEN",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn the cli");
    let mut lines = BufReader::new(writer.stdout.take().expect("piped")).lines();
    // While either reader holds, the writer's command must not run.
    let quiet = Duration::from_millis(500);
    assert!(
        tokio::time::timeout(quiet, lines.next_line())
            .await
            .is_err(),
        "the writer ran beside two readers"
    );
    end_reader(first).await;
    assert!(
        tokio::time::timeout(quiet, lines.next_line())
            .await
            .is_err(),
        "the writer ran beside the second reader"
    );
    end_reader(second).await;
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the writer holds within 30 s of the readers ending")
        .expect("read stdout")
        .expect("the writer's command printed its token");
    let token: u64 = line.trim().parse().expect("a fencing token");
    assert!(
        token > second_token,
        "the writer's token {token} is above the readers' {first_token} and {second_token}"
    );
    let output = tokio::time::timeout(Duration::from_secs(30), writer.wait_with_output())
        .await
        .expect("the writer exits within 30 s")
        .expect("wait");
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn pages_prints_every_item_one_per_line() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(25)).await;
    let url = upstream.url("/items");
    let run = run_cli(&server.url, &["pages", &url, "--page-size", "10"]).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let ids: Vec<u64> = run
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON item")["id"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(ids, (1..=25).collect::<Vec<u64>>());
    assert!(run.stderr.contains("3 pages, 25 items"), "{}", run.stderr);
}

#[tokio::test]
async fn sensor_simulate_prints_readings_until_the_duration_ends() {
    let server = ServerProcess::start(&[]);
    let args = [
        "--json",
        "sensor",
        "simulate",
        "--sensors",
        "2",
        "--interval",
        "50ms",
        "--duration",
        "1s",
    ];
    let run = run_cli(&server.url, &args).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let readings: Vec<_> = lines.iter().filter(|v| v["type"] == "reading").collect();
    assert!(readings.len() >= 4, "{}", run.stdout);
    for r in &readings {
        let t = r["temp_c"].as_f64().expect("temp_c");
        assert_eq!(r["alert"].as_bool(), Some(t > 28.0));
    }
    let summary: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(
        summary["sent"], summary["readings"],
        "every reading came back"
    );
}

#[tokio::test]
async fn sensor_simulate_stops_cleanly_on_ctrl_c() {
    let server = ServerProcess::start(&[]);
    let mut child = cli(
        &server.url,
        &[
            "sensor",
            "simulate",
            "--interval",
            "50ms",
            "--duration",
            "0s",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn the cli");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a first reading within 30 s")
        .expect("read stdout")
        .expect("a line");
    assert!(first.contains("sensor_01"), "{first}");
    let pid = child.id().expect("running").to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("run kill");
    assert!(kill.success());
    // Keep draining stdout so the CLI never blocks on a full pipe while it finishes.
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the cli stopped within 30 s of Ctrl-C")
        .expect("wait");
    let _ = drain.await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("sensor stopped: sent"), "{stderr}");
}

#[tokio::test]
async fn a_reader_that_closes_the_pipe_ends_the_cli_quietly() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(collection_router(10_000)).await;
    let mut child = cli(&server.url, &["pages", &upstream.url("/items")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn streamgate-cli");
    // `| head -1`: read one line, then close the pipe while the CLI still has items to write.
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).await.expect("first item");
    assert!(first.contains("\"id\":1"), "{first}");
    drop(stdout);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the CLI ended after its reader went away")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[tokio::test]
async fn a_connection_error_names_the_address_tried() {
    let address = format!("127.0.0.1:{}", common::free_port());
    let run = run_cli(&address, &["fetch", "http://127.0.0.1:1/"]).await;
    assert_eq!(run.code, Some(114), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("UNAVAILABLE"), "{}", run.stderr);
    assert!(run.stderr.contains(&address), "{}", run.stderr);
}

#[tokio::test]
async fn a_malformed_server_address_is_invalid_argument_quoting_it() {
    let run = run_cli("localhost", &["fetch", "http://127.0.0.1:1/"]).await;
    assert_eq!(run.code, Some(103), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("\"localhost\""), "{}", run.stderr);
}

#[tokio::test]
async fn every_address_form_reaches_the_server() {
    let server = ServerProcess::start(&[]);
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    let authority = server.url.trim_start_matches("http://");
    for address in [authority.to_string(), server.url.clone()] {
        let run = run_cli(&address, &["fetch", &upstream.url("/hello")]).await;
        assert_eq!(run.code, Some(0), "{address}: {}", run.stderr);
    }
}
