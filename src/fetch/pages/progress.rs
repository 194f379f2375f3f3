//! How far the transport has got with a page stream: pages handed to it, and pages it has
//! finished writing to the connection. The driver counts handed-but-unwritten pages against
//! its prefetch window, so pages parked in the server's HTTP/2 send path (tonic's encoder,
//! hyper's held chunk, h2's buffer) are not fetched on top of the prefetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::watch;

/// Shared by one page stream's driver and the response body that carries its pages.
#[derive(Debug)]
pub(crate) struct Progress {
    handed: AtomicU32,
    written: watch::Sender<u32>,
}

impl Progress {
    /// A stream that has handed out nothing yet.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            handed: AtomicU32::new(0),
            written: watch::Sender::new(0),
        })
    }

    /// The driver has handed out `n` pages in all.
    pub(crate) fn set_handed(&self, n: u32) {
        self.handed.store(n, Ordering::SeqCst);
    }

    /// Pages handed out so far.
    pub(crate) fn handed(&self) -> u32 {
        self.handed.load(Ordering::SeqCst)
    }

    /// The first `n` pages have been written to the connection.
    pub(crate) fn set_written(&self, n: u32) {
        self.written.send_if_modified(|w| {
            let newer = n > *w;
            if newer {
                *w = n;
            }
            newer
        });
    }

    /// Pages written to the connection so far.
    pub(crate) fn written(&self) -> u32 {
        *self.written.borrow()
    }

    /// Pages handed out but not yet written.
    pub(crate) fn unwritten(&self) -> u32 {
        self.handed().saturating_sub(self.written())
    }

    /// Wakes on every change of [`Progress::written`].
    pub(crate) fn subscribe(&self) -> watch::Receiver<u32> {
        self.written.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_pages_are_handed_minus_written_and_written_never_goes_back() {
        let p = Progress::new();
        let mut rx = p.subscribe();
        p.set_handed(3);
        assert_eq!(p.unwritten(), 3);
        p.set_written(2);
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert_eq!(p.unwritten(), 1);
        p.set_written(1);
        assert!(!rx.has_changed().unwrap(), "an older count is no news");
        assert_eq!(p.written(), 2);
    }
}
