//! Log lines of an in-process server, captured: a subscriber writing to memory, set as the
//! default of the test's thread (so the test runs on a current-thread runtime, where the
//! server's tasks log too).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

/// Log output collected in memory.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures this thread's `streamgate` log lines at `level` and above until the guard
    /// drops.
    pub fn start(level: &str) -> (Self, DefaultGuard) {
        // tracing caches each call site's interest. While only one dispatcher is alive it
        // asks the *calling thread's* default, so a call site first reached on another
        // test's thread (no subscriber there) would be cached as "never" and this thread's
        // events lost. A second dispatcher kept alive for the whole run makes tracing
        // combine every live dispatcher's interest instead.
        static SECOND: OnceLock<tracing::Dispatch> = OnceLock::new();
        SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(format!("streamgate={level}"))
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// The lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
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
