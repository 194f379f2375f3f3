//! File descriptors: out of them, the accept loop backs off and logs once per episode (the
//! real binary under a low open-file limit), and the metrics port holds a small fixed number
//! of connections, each closed after `--handshake-timeout` without a request, so it cannot
//! use up the descriptors the gRPC port needs.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::metrics::Metered;
use common::server_binary;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The metrics endpoint's connection cap (`streamgate::MAX_CONNECTIONS`).
const METRICS_MAX_CONNECTIONS: usize = 16;

/// Whether the server closes `tcp` within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let read_to_end = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

#[test]
fn out_of_descriptors_the_accept_loop_backs_off_and_logs_once_per_episode() {
    // 64 descriptors for the whole process; 100 silent connections run it out, and the
    // handshake timeout frees them again, so episodes start and end.
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 64 && exec \"$0\" \"$@\""])
        .arg(server_binary())
        .args(["--listen", "127.0.0.1:0", "--handshake-timeout", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run streamgate under sh (ulimit)");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server logs `listening on ADDR`");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    let mut sockets = Vec::new();
    for _ in 0..100 {
        if let Ok(s) = std::net::TcpStream::connect(&addr) {
            sockets.push(s);
        }
    }
    // Read the log for 6 s (bounded): a few handshake timeouts' worth of episodes.
    let (mut failing, mut recovered, mut lines) = (0, 0, Vec::new());
    let until = Instant::now() + Duration::from_secs(6);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if line.contains("accepting connections fails") {
            failing += 1;
        }
        if line.contains("accepting connections again") {
            recovered += 1;
        }
        lines.push(line);
    }
    drop(sockets);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        failing >= 1,
        "running out of descriptors is logged: {lines:#?}"
    );
    assert!(
        failing <= recovered + 1,
        "one line per episode, not one per failed accept: {failing} failure lines, \
         {recovered} recoveries: {lines:#?}"
    );
}

#[tokio::test]
async fn the_metrics_port_closes_a_connection_beyond_its_cap_at_once() {
    // Handshake timeout out of reach: only the cap can close the extra connection.
    let metered = Metered::start(&["--handshake-timeout", "60s"]).await;
    let mut held = Vec::new();
    for _ in 0..METRICS_MAX_CONNECTIONS {
        held.push(TcpStream::connect(metered.metrics).await.expect("connect"));
    }
    let mut extra = TcpStream::connect(metered.metrics).await.expect("connect");
    assert!(
        closed_within(&mut extra, Duration::from_secs(10)).await,
        "a connection beyond the cap is closed"
    );
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(200)).await,
        "the ones within the cap stay open"
    );
}

#[tokio::test]
async fn a_silent_metrics_connection_is_closed_after_the_handshake_timeout() {
    let metered = Metered::start(&["--handshake-timeout", "300ms"]).await;
    let mut silent = TcpStream::connect(metered.metrics).await.expect("connect");
    assert!(
        closed_within(&mut silent, Duration::from_secs(10)).await,
        "a metrics connection that never sends a request is closed"
    );
    metered.scrape().await;
}
