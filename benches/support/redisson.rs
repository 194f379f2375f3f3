//! Redisson's side of a comparison: builds the Maven project in `benches/redisson/` and runs
//! its one class with `java`, in a process of its own, against a Redis the bench started.
//!
//! Nothing is committed but the pom and the source; `mvn -q package` fetches Redisson from
//! Maven Central on the first run and compiles. A machine without Maven or a JDK fails this
//! part loudly, saying what to install, after the bench printed its own figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The workload, as `PermitSemaphoreBench` takes it on its command line.
pub struct SemaphoreWorkload {
    /// Threads, each taking permits one at a time.
    pub workers: usize,
    /// The semaphore's permits.
    pub limit: usize,
    /// Permits each worker takes in the timed round.
    pub each: usize,
    /// How long each permit is held.
    pub hold: Duration,
    /// Each permit's lease.
    pub lease: Duration,
    /// How long an acquire may wait.
    pub wait: Duration,
}

/// What one Redisson run measured.
pub struct SemaphoreRun {
    /// Wall time of the timed round (the warm-up round excluded).
    pub wall: Duration,
    /// The most permits the workers saw held at once.
    pub most: usize,
}

const INSTALL: &str =
    "install a JDK 17 and Maven 3.8+ (apt-get install -y openjdk-17-jdk-headless maven)";

fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/redisson")
}

/// `mvn -q package` in `benches/redisson/` (quick when nothing changed); panics with what to
/// install when Maven is missing, or with Maven's output when the build fails.
fn build() -> PathBuf {
    let dir = project_dir();
    let out = Command::new("mvn")
        .args(["-q", "-B", "package"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run mvn ({e}): {INSTALL}"));
    assert!(
        out.status.success(),
        "mvn package in {} failed ({}):\n{}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deps = std::fs::read_to_string(dir.join("target/classpath.txt"))
        .expect("mvn package writes target/classpath.txt (see the pom)");
    let classes = dir.join("target/classes");
    PathBuf::from(format!("{}:{}", classes.display(), deps.trim()))
}

/// Runs the semaphore workload on Redisson's `RPermitExpirableSemaphore` against the Redis
/// at `redis_url` (`redis://HOST:PORT`).
pub fn permit_semaphore(redis_url: &str, w: &SemaphoreWorkload) -> SemaphoreRun {
    let classpath = build();
    let ms = |d: Duration| d.as_millis().to_string();
    let out = Command::new("java")
        .arg("-cp")
        .arg(&classpath)
        .arg("streamgate.bench.PermitSemaphoreBench")
        .args([
            redis_url.trim_end_matches('/').to_owned(),
            w.workers.to_string(),
            w.limit.to_string(),
            w.each.to_string(),
            ms(w.hold),
            ms(w.lease),
            ms(w.wait),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run java ({e}): {INSTALL}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Redisson bench failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&stdout).unwrap_or_else(|| panic!("the Redisson bench printed {stdout:?}"))
}

/// Reads `wall_s=<seconds> most=<n>`.
fn parse(stdout: &str) -> Option<SemaphoreRun> {
    let line = stdout.lines().find(|l| l.starts_with("wall_s="))?;
    let mut fields = line.split_whitespace();
    let wall: f64 = fields.next()?.strip_prefix("wall_s=")?.parse().ok()?;
    let most = fields.next()?.strip_prefix("most=")?.parse().ok()?;
    Some(SemaphoreRun {
        wall: Duration::try_from_secs_f64(wall).ok()?,
        most,
    })
}
