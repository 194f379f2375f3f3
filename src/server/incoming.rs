//! The accepted connections, before HTTP sees them: plain TCP, or TLS handshaken here with the
//! material current at accept time (so a reload reaches new connections only), TCP_NODELAY,
//! and the cap on connections held at once (`--max-connections`).
//!
//! One accept loop serves both, and it never waits on a peer: each connection's preparation
//! (its slot, its TLS handshake) runs in a task of its own, bounded by `--handshake-timeout`,
//! and hands the finished connection to the HTTP server. A connection takes its slot at
//! accept, so handshakes in progress count against the cap, and a flood of sockets that never
//! send a ClientHello holds at most the cap.
//!
//! When the cap is reached, the connection idle longest (no open stream) is asked to close and
//! the newcomer waits a moment for its slot; when every connection is busy, the newcomer is
//! closed at once rather than left in the listen backlog: the client learns immediately that
//! it was turned away (its call fails with UNAVAILABLE, which clients retry) instead of
//! hanging until its own connect timeout.
//!
//! A failed accept (out of file descriptors, typically) is retried after a pause that doubles
//! from 10 ms to 1 s while the failures last, with one log line when they start and one when
//! they end, so the loop neither spins nor floods the log.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;

use super::conn::{Registry, Timeouts, Tracked};

/// First pause after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// Longest pause between failed accepts: the loop notices a freed descriptor within a second.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a connection accepted at the cap waits for the slot of the idle connection it
/// asked to close: that connection's task only needs to be scheduled once, so this is ample.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Connections prepared but not yet taken by the HTTP server: it takes them as fast as they
/// come, so this only smooths bursts.
const READY_QUEUE: usize = 64;

/// What the accept loop needs besides the listener.
pub(super) struct Accept {
    /// `--max-connections`.
    pub(super) max: usize,
    /// The connections' deadlines.
    pub(super) timeouts: Timeouts,
    /// The live connections, shared with the activity layer.
    pub(super) registry: Arc<Registry>,
}

/// The connections accepted on `listener`, each passed through `handshake` (identity for
/// plaintext, the TLS handshake otherwise) and each with TCP_NODELAY set (Nagle's algorithm
/// would hold each small response back until the client's delayed ACK, ~40 ms a call).
pub(super) fn accept<S, H, F>(
    listener: TcpListener,
    handshake: H,
    accept: Accept,
) -> impl Stream<Item = Result<Tracked<S>, io::Error>>
where
    S: Send + 'static,
    H: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = io::Result<S>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(READY_QUEUE);
    // Owned by the channel: the loop, and with it every preparation in its JoinSet, ends once
    // the server drops the stream.
    tokio::spawn(accept_loop(listener, handshake, accept, tx));
    tokio_stream::StreamExt::map(ReceiverStream::new(rx), Ok)
}

async fn accept_loop<S, H, F>(
    listener: TcpListener,
    handshake: H,
    accept: Accept,
    tx: mpsc::Sender<Tracked<S>>,
) where
    S: Send + 'static,
    H: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = io::Result<S>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(accept.max));
    let mut preparing: JoinSet<()> = JoinSet::new();
    let mut failures = Failures::default();
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    failures.ended();
                    let accepted_at = Instant::now();
                    let Some(slot) = take_slot(&slots, &accept, peer) else {
                        continue;
                    };
                    set_nodelay(&stream);
                    // Registered at once, so a pending handshake can be picked to make room.
                    let state = accept.registry.add(peer);
                    let prepared = handshake(stream);
                    let registry = accept.registry.clone();
                    let timeouts = accept.timeouts;
                    let tx = tx.clone();
                    preparing.spawn(async move {
                        let ready = async {
                            let slot = slot.await?;
                            // The handshake's time counts against the first request's deadline.
                            match tokio::time::timeout_at(accepted_at + timeouts.handshake, prepared).await {
                                Ok(Ok(stream)) => Some((stream, slot)),
                                // Port scanners and plaintext clients end here: debug, not warn.
                                Ok(Err(e)) => {
                                    tracing::debug!("handshake with {peer} failed: {e}");
                                    None
                                }
                                Err(_) => {
                                    tracing::debug!("handshake with {peer}: none within --handshake-timeout");
                                    None
                                }
                            }
                        };
                        let evicted = std::future::poll_fn(|cx| state.poll_evicted(cx));
                        let ready = tokio::select! {
                            ready = ready => ready,
                            () = evicted => None,
                        };
                        match ready {
                            Some((stream, slot)) => {
                                let conn = Tracked::new(stream, peer, state, registry, timeouts, accepted_at, slot);
                                // A full queue only delays this connection, never the accept loop.
                                let _ = tx.send(conn).await;
                            }
                            None => registry.remove(&peer, &state),
                        }
                    });
                }
                Err(e) => {
                    let pause = failures.failed(&e);
                    tokio::time::sleep(pause).await;
                }
            },
            // Reap finished preparations so the set does not grow.
            Some(_) = preparing.join_next(), if !preparing.is_empty() => {}
        }
    }
}

/// A slot now, a slot once the idle connection asked to close has let go of it, or `None`
/// (the connection is dropped, i.e. closed).
fn take_slot(
    slots: &Arc<Semaphore>,
    accept: &Accept,
    peer: SocketAddr,
) -> Option<impl Future<Output = Option<OwnedSemaphorePermit>> + use<>> {
    let now = slots.clone().try_acquire_owned().ok();
    if now.is_none() && !accept.registry.evict_longest_idle() {
        tracing::debug!(
            %peer,
            "closing a connection: --max-connections ({}) reached and every connection busy",
            accept.max
        );
        return None;
    }
    let slots = slots.clone();
    Some(async move {
        match now {
            Some(slot) => Some(slot),
            None => tokio::time::timeout(EVICTION_WAIT, slots.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        }
    })
}

/// A run of failed accepts: one line when it starts, one when it ends.
#[derive(Default)]
struct Failures {
    count: u64,
    pause: Duration,
}

impl Failures {
    /// Records a failure; the pause before the next accept.
    fn failed(&mut self, e: &io::Error) -> Duration {
        if self.count == 0 {
            tracing::warn!(
                "accepting connections fails ({e}); retrying every 10 ms to 1 s until it works \
                 (out of file descriptors? raise the open-file limit or lower --max-connections)"
            );
            self.pause = ACCEPT_BACKOFF_MIN;
        } else {
            self.pause = (self.pause * 2).min(ACCEPT_BACKOFF_MAX);
        }
        self.count += 1;
        self.pause
    }

    /// An accept succeeded: the run, if any, is over.
    fn ended(&mut self) {
        if self.count > 0 {
            tracing::info!("accepting connections again after {} failures", self.count);
            self.count = 0;
        }
    }
}

fn set_nodelay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_back_off_from_10_ms_doubling_to_1_s() {
        let mut f = Failures::default();
        let e = io::Error::from_raw_os_error(24);
        let pauses: Vec<u64> = (0..10).map(|_| f.failed(&e).as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        f.ended();
        assert_eq!(f.failed(&e), ACCEPT_BACKOFF_MIN);
    }
}
