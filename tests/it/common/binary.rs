//! The real binary as a child process, for what only a process shows: exit codes, signals,
//! log lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The real `streamgate` binary, its stderr read line by line; killed on drop.
pub struct Binary {
    /// The process.
    pub child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Binary {
    /// Starts it with `args` and `RUST_LOG=info`.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(super::server_binary())
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn streamgate");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The first line (from now) containing `needle`; fails after 20 s.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "streamgate never logged {needle:?}; its log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends the signal `name` (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// The exit code, if it exits within `within` (its log is read meanwhile, so a chatty
    /// process cannot block on a full pipe).
    pub fn exit_code_within(&mut self, within: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + within;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.log.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The rest of its output, for the caller's assertions.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return Some(status.code());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line read so far.
    pub fn log(&self) -> String {
        self.log.join("\n")
    }
}
