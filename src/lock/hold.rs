//! `Hold`: a lock bound to the life of a stream, like an etcd lease or a Chubby session. A
//! task acquires, reports the grant, renews at ttl/3, and releases the moment the stream is
//! dropped (client cancel or disconnect), the server stops, or renewal fails for good.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::backend::LockBackend;
use super::error::LockError;
use super::types::{AcquireRequest, Grant};
use crate::shutdown::Shutdown;

/// Shortest pause between renewal attempts after a failed one, so a flapping backend is not
/// hammered while the lease still runs.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// What a Hold stream reports.
#[derive(Debug)]
pub enum HoldUpdate {
    /// The grant, or `None` when `wait` passed first (the stream then ends).
    Acquired(Option<Grant>),
    /// The lease could not be renewed; the stream ends after this.
    Lost(String),
    /// The call failed (backend unreachable at acquire, server stopping); ends the stream.
    Failed(LockError),
}

/// The updates of one Hold. Dropping it (tonic drops the response stream when the client
/// cancels or disconnects) cancels the holding task, which releases the lock at once.
pub struct HoldSession {
    rx: mpsc::Receiver<HoldUpdate>,
    _release_on_drop: DropGuard,
}

impl Stream for HoldSession {
    type Item = HoldUpdate;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<HoldUpdate>> {
        self.rx.poll_recv(cx)
    }
}

/// Starts holding `req` on `backend`; the task lives until the session is dropped, the
/// server stops, or the lock is lost.
pub fn start(
    backend: Arc<dyn LockBackend>,
    req: AcquireRequest,
    shutdown: Shutdown,
) -> HoldSession {
    let cancel = CancellationToken::new();
    // At most two updates are ever sent (acquired, then lost or failed).
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(run(backend, req, shutdown, cancel.clone(), tx));
    HoldSession {
        rx,
        _release_on_drop: cancel.drop_guard(),
    }
}

async fn run(
    backend: Arc<dyn LockBackend>,
    req: AcquireRequest,
    shutdown: Shutdown,
    cancel: CancellationToken,
    tx: mpsc::Sender<HoldUpdate>,
) {
    let acquired = tokio::select! {
        biased;
        _ = cancel.cancelled() => return,
        _ = shutdown.recv() => {
            let _ = tx.send(HoldUpdate::Failed(LockError::ShuttingDown)).await;
            return;
        }
        res = backend.acquire(&req) => res,
    };
    let grant = match acquired {
        Ok(Some(grant)) => grant,
        Ok(None) => {
            let _ = tx.send(HoldUpdate::Acquired(None)).await;
            return;
        }
        Err(e) => {
            let _ = tx.send(HoldUpdate::Failed(e)).await;
            return;
        }
    };
    let token = grant.token.clone();
    let mut lease_end = instant_of(grant.expires_at);
    if tx.send(HoldUpdate::Acquired(Some(grant))).await.is_err() {
        let _ = backend.release(&req.name, &token).await;
        return;
    }

    let ttl = req.ttl.get();
    let period = ttl / 3;
    let mut next_renewal = Instant::now() + period;
    let outcome = loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break None,
            _ = shutdown.recv() => break Some(HoldUpdate::Failed(LockError::ShuttingDown)),
            _ = tokio::time::sleep_until(next_renewal.into()) => {}
        }
        let left = lease_end.saturating_duration_since(Instant::now());
        let renewed = tokio::select! {
            biased;
            _ = cancel.cancelled() => break None,
            _ = shutdown.recv() => break Some(HoldUpdate::Failed(LockError::ShuttingDown)),
            res = tokio::time::timeout(left.max(RETRY_PAUSE), backend.extend(&req.name, &token, req.ttl)) => res,
        };
        let now = Instant::now();
        match renewed {
            Ok(Ok(Some(expires_at))) => {
                lease_end = instant_of(expires_at);
                next_renewal = now + period;
            }
            Ok(Ok(None)) => {
                break Some(HoldUpdate::Lost(
                    "the lease ended before it could be renewed; the lock is no longer held".into(),
                ));
            }
            Ok(Err(e)) if now < lease_end => {
                tracing::warn!(lock = %req.name, error = %e, "renewal failed; retrying within the lease");
                next_renewal = now + RETRY_PAUSE.min(lease_end - now);
            }
            Ok(Err(e)) => {
                break Some(HoldUpdate::Lost(format!(
                    "could not renew the lease before it ended: {e}"
                )));
            }
            Err(_elapsed) if now < lease_end => next_renewal = now,
            Err(_elapsed) => {
                break Some(HoldUpdate::Lost(
                    "could not renew the lease before it ended: the backend did not answer in time"
                        .into(),
                ));
            }
        }
    };
    // Lost means the lease is gone already; releasing it anyway is harmless (token check) and
    // covers a renewal that succeeded in the backend but timed out here.
    if let Err(e) = backend.release(&req.name, &token).await {
        tracing::warn!(lock = %req.name, error = %e, "could not release a held lock; its lease will end it");
    }
    if let Some(update) = outcome {
        let _ = tx.send(update).await;
    }
}

/// The local instant of a wall-clock lease end (now when it has passed).
fn instant_of(at: SystemTime) -> Instant {
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}
