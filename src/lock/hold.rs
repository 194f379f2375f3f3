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
use super::types::{AcquireRequest, Grant, LockToken};
use crate::log_limit::{RepeatLimiter, Verdict};
use crate::shutdown::Shutdown;

/// Pause before the first retry of a failed renewal: short, so a blip costs the lease little.
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Longest pause between renewal retries: each failure doubles the pause up to this, so a
/// backend that stays down (Redis in an outage) is asked about once a second per Hold, not
/// fifty times, and logs accordingly.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The renewal-failure log lines of every Hold of a server, rate-limited together (one
/// outage fails every Hold at once).
pub(crate) type RenewalLines = RepeatLimiter<()>;

/// What a Hold stream reports.
#[derive(Debug)]
pub(crate) enum HoldUpdate {
    /// The grant, or `None` when `wait` passed first (the stream then ends).
    Acquired(Option<Grant>),
    /// The lease could not be renewed; the stream ends after this.
    Lost(String),
    /// The call failed (backend unreachable at acquire, server stopping); ends the stream.
    Failed(LockError),
}

/// The updates of one Hold. Dropping it (tonic drops the response stream when the client
/// cancels or disconnects) cancels the holding task, which releases the lock at once.
pub(crate) struct HoldSession {
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
pub(crate) fn start(
    backend: Arc<dyn LockBackend>,
    req: AcquireRequest,
    shutdown: Shutdown,
    lines: Arc<RenewalLines>,
) -> HoldSession {
    let cancel = CancellationToken::new();
    // At most two updates are ever sent (acquired, then lost or failed).
    let (tx, rx) = mpsc::channel(2);
    // In the call's span, so the session's Redis calls belong to the Hold call's trace.
    tokio::spawn(tracing::Instrument::instrument(
        run(backend, req, shutdown, cancel.clone(), tx, lines),
        tracing::Span::current(),
    ));
    HoldSession {
        rx,
        _release_on_drop: cancel.drop_guard(),
    }
}

/// The holding task: acquire, report, renew until the session ends, release.
async fn run(
    backend: Arc<dyn LockBackend>,
    req: AcquireRequest,
    shutdown: Shutdown,
    cancel: CancellationToken,
    tx: mpsc::Sender<HoldUpdate>,
    lines: Arc<RenewalLines>,
) {
    let Some(grant) = acquire(&*backend, &req, &shutdown, &cancel, &tx).await else {
        return;
    };
    let token = grant.token.clone();
    let lease_end = instant_of(grant.expires_at);
    if tx.send(HoldUpdate::Acquired(Some(grant))).await.is_err() {
        let _ = backend.release(&req.name, &token).await;
        return;
    }
    let last = renew_until_done(
        &*backend, &req, &token, lease_end, &shutdown, &cancel, &lines,
    )
    .await;
    // Lost means the lease is gone already; releasing it anyway is harmless (token check) and
    // covers a renewal that succeeded in the backend but timed out here.
    if let Err(e) = backend.release(&req.name, &token).await {
        tracing::warn!(lock = ?req.name.as_str(), error = %e, "could not release a held lock; its lease will end it");
    }
    if let Some(update) = last {
        let _ = tx.send(update).await;
    }
}

/// Waits for the grant. `None` when there is none to hold: the session was dropped, or the
/// wait ended without a grant or with an error (both already reported on `tx`).
async fn acquire(
    backend: &dyn LockBackend,
    req: &AcquireRequest,
    shutdown: &Shutdown,
    cancel: &CancellationToken,
    tx: &mpsc::Sender<HoldUpdate>,
) -> Option<Grant> {
    let acquired = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        _ = shutdown.recv() => Err(LockError::ShuttingDown),
        res = backend.acquire(req) => res,
    };
    let update = match acquired {
        Ok(Some(grant)) => return Some(grant),
        Ok(None) => HoldUpdate::Acquired(None),
        Err(e) => HoldUpdate::Failed(e),
    };
    let _ = tx.send(update).await;
    None
}

/// Renews the lease every ttl/3 until the session is dropped (`None`), the server stops, or
/// the lease is lost (the update that ends the stream).
async fn renew_until_done(
    backend: &dyn LockBackend,
    req: &AcquireRequest,
    token: &LockToken,
    mut lease_end: Instant,
    shutdown: &Shutdown,
    cancel: &CancellationToken,
    lines: &RenewalLines,
) -> Option<HoldUpdate> {
    let period = req.ttl.get() / 3;
    let mut next_renewal = Instant::now() + period;
    let mut pause = FIRST_RETRY_PAUSE;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            _ = shutdown.recv() => return Some(HoldUpdate::Failed(LockError::ShuttingDown)),
            _ = tokio::time::sleep_until(next_renewal.into()) => {}
        }
        let left = lease_end.saturating_duration_since(Instant::now());
        let renewed = tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            _ = shutdown.recv() => return Some(HoldUpdate::Failed(LockError::ShuttingDown)),
            res = tokio::time::timeout(left.max(FIRST_RETRY_PAUSE), backend.extend(&req.name, token, req.ttl)) => res,
        };
        let now = Instant::now();
        match next_step(renewed, now, lease_end, period, pause) {
            Renewal::Until(end, next) => {
                lease_end = end;
                next_renewal = next;
                pause = FIRST_RETRY_PAUSE;
            }
            Renewal::RetryAt(next, error) => {
                if let Some(e) = error {
                    let line = lines.check(&());
                    if let Verdict::Log { .. } = line {
                        tracing::warn!(
                            lock = ?req.name.as_str(),
                            error = %e,
                            "renewal failed; retrying within the lease{}",
                            line.suffix()
                        );
                    }
                }
                next_renewal = next;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
            Renewal::Lost(reason) => return Some(HoldUpdate::Lost(reason)),
        }
    }
}

/// What one renewal attempt means for the hold.
enum Renewal {
    /// Renewed: the new lease end, and when to renew next.
    Until(Instant, Instant),
    /// Failed while the lease still runs: try again then (the error, if the backend gave one).
    RetryAt(Instant, Option<LockError>),
    /// The lease is gone, for this reason.
    Lost(String),
}

/// Judges a renewal attempt made at `now`: retried after `pause` (never past the lease end)
/// while the lease still runs, lost after.
fn next_step(
    renewed: Result<Result<Option<SystemTime>, LockError>, tokio::time::error::Elapsed>,
    now: Instant,
    lease_end: Instant,
    period: Duration,
    pause: Duration,
) -> Renewal {
    match renewed {
        Ok(Ok(Some(expires_at))) => Renewal::Until(instant_of(expires_at), now + period),
        Ok(Ok(None)) => Renewal::Lost(
            "the lease ended before it could be renewed; the lock is no longer held".into(),
        ),
        Ok(Err(e)) if now < lease_end => {
            Renewal::RetryAt(now + pause.min(lease_end - now), Some(e))
        }
        Ok(Err(e)) => Renewal::Lost(format!("could not renew the lease before it ended: {e}")),
        Err(_elapsed) if now < lease_end => Renewal::RetryAt(now, None),
        Err(_elapsed) => Renewal::Lost(
            "could not renew the lease before it ended: the backend did not answer in time".into(),
        ),
    }
}

/// The local instant of a wall-clock lease end (now when it has passed).
fn instant_of(at: SystemTime) -> Instant {
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}
