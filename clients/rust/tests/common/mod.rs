//! Harness of the client's integration tests: the REAL `streamgate` binary started as a
//! subprocess on a free port, a real `redis-server`, loopback HTTP upstreams, and the CLI.

#![allow(dead_code)]

pub mod pki;
pub mod upstreams;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use streamgate_client::Client;

/// Lines of server stderr kept to explain a failed start.
const KEPT_LOG_LINES: usize = 200;

/// A `streamgate` server process, killed on drop.
pub struct ServerProcess {
    /// `http://ADDR`.
    pub url: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// Starts `streamgate --listen 127.0.0.1:0 --allow-private-networks` plus `extra` and waits
    /// for its `listening on ADDR` line.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["--listen", "127.0.0.1:0", "--allow-private-networks"];
        args.extend_from_slice(extra);
        Self::start_args(&args)
    }

    /// Starts `streamgate demo-api --listen 127.0.0.1:0`, the getting-started pages' demo API;
    /// `url` is its base URL.
    pub fn start_demo_api() -> Self {
        Self::start_args(&["demo-api", "--listen", "127.0.0.1:0"])
    }

    /// `host:port` the process listens on.
    pub fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Kills the process at once (SIGKILL): a server that goes away mid-call.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the binary with exactly `args` and waits for its `listening on ADDR` line.
    fn start_args(args: &[&str]) -> Self {
        let binary = server_binary();
        let mut child = Command::new(&binary)
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = child.stderr.take().expect("stderr was piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::sync_channel(1);
        let kept = log.clone();
        // Drains stderr for the server's whole life, so that logging never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut kept = kept.lock().expect("log lock");
                if kept.len() == KEPT_LOG_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Self {
                url: format!("http://{addr}"),
                child,
                log,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let lines: Vec<_> = log.lock().expect("log lock").iter().cloned().collect();
                panic!(
                    "{} never logged `listening on`; stderr:\n{}",
                    binary.display(),
                    lines.join("\n")
                );
            }
        }
    }

    /// A connected client.
    pub async fn client(&self) -> Client {
        Client::connect(self.url.clone())
            .await
            .expect("connect to the streamgate process")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// The server binary: `STREAMGATE_BIN`, else `target/debug/streamgate` next to this test.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("STREAMGATE_BIN") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = vec![workspace.join("target/debug/streamgate")];
    // Tests run from <target>/debug/deps/; the binary sits in <target>/debug/, wherever
    // CARGO_TARGET_DIR put it.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(debug_dir) = exe.parent().and_then(|deps| deps.parent()) {
            candidates.insert(0, debug_dir.join("streamgate"));
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the streamgate binary is not at {}: run cargo build --bin streamgate first \
                 (or set STREAMGATE_BIN)",
                candidates[candidates.len() - 1].display()
            )
        })
}

/// A real `redis-server` on a free loopback port, killed on drop.
pub struct RedisProcess {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisProcess {
    /// Spawns `redis-server` without persistence and waits for it to answer PING. Panics with
    /// `install redis-server` when the binary is missing: a lock test never passes without it.
    pub fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install redis-server (apt-get install -y redis-server)")
            });
        let redis = Self {
            port,
            child,
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&self) {
        use std::io::{Read, Write};
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf)
                        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} never answered PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback TCP port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `streamgate-cli --server URL ARGS...`, ready to run.
pub fn cli(server: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamgate-cli"));
    cmd.arg("--server")
        .arg(server)
        .args(args)
        .env_remove("STREAMGATE_SERVER")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Output of a finished CLI run.
pub struct CliRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the CLI to completion (at most 60 s).
pub async fn run_cli(server: &str, args: &[&str]) -> CliRun {
    let output = tokio::time::timeout(Duration::from_secs(60), cli(server, args).output())
        .await
        .expect("streamgate-cli finished within 60 s")
        .expect("streamgate-cli ran");
    CliRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn listening_addr_is_read_from_a_log_line() {
    let line = "2026-01-01T00:00:00Z  INFO streamgate::server: listening on 127.0.0.1:4242";
    assert_eq!(listening_addr(line).as_deref(), Some("127.0.0.1:4242"));
    assert_eq!(listening_addr("starting"), None);
}
