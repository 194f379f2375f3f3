//! The streamgate binary in a process of its own (its memory and CPU apart from the bench's
//! clients), stopped on drop.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The streamgate binary in its own process, killed on drop.
pub struct ServerProcess {
    /// The process (its id locates /proc/PID/status).
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the binary on a free loopback port and waits for its `listening on` line.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the binary with `args` besides `--listen` on a free loopback port, and waits
    /// for its `listening on` line.
    pub async fn start_with(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_streamgate"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the streamgate binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr = tokio::process::ChildStderr::from_std(stderr).expect("async stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("streamgate logs within 30 s")
                .expect("read stderr")
                .expect("streamgate exited before listening");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let token = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                break token
                    .and_then(|t| t.parse().ok())
                    .expect("an address after 'listening on'");
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    /// User + system CPU time it has spent so far (clock ticks of 10 ms: fine for runs of
    /// seconds).
    pub fn cpu(&self) -> Duration {
        super::cpu_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Its resident memory (KiB).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
