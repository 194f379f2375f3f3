//! The tonic face of LockService: protobuf ↔ domain types, `LockError` → `Status`, and the
//! call's bounds (gRPC deadline, server shutdown). Everything else is the backend's.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_stream::{Stream, StreamExt};
use tonic::metadata::MetadataMap;
use tonic::{Extensions, Request, Response, Status};

use super::backend::LockBackend;
use super::claim::{Claim, Mode};
use super::error::LockError;
use super::hold::{self, HoldUpdate};
use super::memory::MemoryBackend;
use super::redis::RedisBackend;
use super::types::{AcquireRequest, Grant, LeaseBounds, LockName, LockOwner, LockToken};
use crate::config::LockSettings;
use crate::edge::{Caller, LockRpc};
use crate::metrics::LockMetrics;
use crate::proto::{
    AcquireLockRequest, AcquireLockResponse, ExtendRequest, ExtendResponse, HoldEvent, HoldRequest,
    LockLost, LockMode, ReleaseRequest, ReleaseResponse, hold_event,
};
use crate::rpc;
use crate::shutdown::Shutdown;
use crate::telemetry::semconv;

/// Serves `streamgate.v1.LockService`.
pub(crate) struct LockHandler {
    backend: Arc<dyn LockBackend>,
    settings: LockSettings,
    shutdown: Shutdown,
    renewal_lines: Arc<hold::RenewalLines>,
}

impl LockHandler {
    /// Picks the backend from the settings (Redis when `--redis-url` is set). A Redis that is
    /// down at start-up does not stop the server: lock calls answer UNAVAILABLE until it is
    /// reachable, and the backend reconnects by itself. `metrics` count grants and waiters of
    /// either backend.
    pub(crate) async fn new(
        settings: &LockSettings,
        metrics: LockMetrics,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let backend: Arc<dyn LockBackend> = match &settings.redis {
            Some(redis) => Arc::new(
                RedisBackend::connect(
                    redis,
                    settings.recheck,
                    settings.max_waiters.get(),
                    shutdown.clone(),
                )
                .await?,
            ),
            None => Arc::new(MemoryBackend::new(
                settings.max_waiters.get(),
                settings.max_names.get(),
            )),
        };
        Ok(Self {
            backend: super::metered::metered(backend, metrics),
            settings: settings.clone(),
            shutdown,
            renewal_lines: Arc::default(),
        })
    }

    /// Whether the lock store is reachable, as it changes (`None`: always, in-process).
    pub(crate) fn availability(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.backend.availability()
    }

    fn acquire_request(
        &self,
        name: String,
        ttl: Option<prost_types::Duration>,
        wait: Option<prost_types::Duration>,
        owner: String,
        claim: ClaimFields,
        metadata: &MetadataMap,
    ) -> Result<AcquireRequest, LockError> {
        let name = LockName::new(name)?;
        let claim = claim.validate()?;
        let ttl = self.settings.ttl("ttl", duration("ttl", ttl)?)?;
        let mut wait = self
            .settings
            .wait("wait_timeout", duration("wait_timeout", wait)?)?;
        if let Some(deadline) = rpc::grpc_timeout(metadata) {
            // Leave the queue the deadline margin before the client gives up, so it hears
            // `acquired = false` rather than DEADLINE_EXCEEDED.
            wait = wait.min(rpc::usable_time(deadline));
        }
        Ok(AcquireRequest {
            name,
            ttl,
            wait,
            owner: LockOwner::new(owner)?,
            claim,
        })
    }
}

/// The request fields that choose the kind of lock, as they came.
struct ClaimFields {
    limit: u32,
    mode: i32,
    permits: u32,
}

impl ClaimFields {
    fn validate(self) -> Result<Claim, LockError> {
        let mode = match LockMode::try_from(self.mode) {
            Ok(LockMode::Unspecified) => Mode::Unset,
            Ok(LockMode::Exclusive) => Mode::Exclusive,
            Ok(LockMode::Shared) => Mode::Shared,
            Err(_) => {
                return Err(LockError::invalid(
                    "mode",
                    format!("{} is not a LockMode", self.mode),
                ));
            }
        };
        Ok(Claim::new(self.limit, mode, self.permits)?)
    }
}

/// A protobuf duration as a std one; negative or out-of-range values name the field.
fn duration(
    field: &'static str,
    d: Option<prost_types::Duration>,
) -> Result<Option<Duration>, LockError> {
    Ok(rpc::duration(field, d)?)
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(at)
}

fn grant_response(grant: Option<Grant>) -> AcquireLockResponse {
    match grant {
        Some(g) => AcquireLockResponse {
            acquired: true,
            token: g.token.as_str().to_owned(),
            fencing_token: g.fence,
            expires_at: Some(timestamp(g.expires_at)),
        },
        None => AcquireLockResponse::default(),
    }
}

/// An acquire with its wait and its outcome as events of the call's span (exported traces
/// only): `lock.wait` when it may queue, then `lock.granted` (a grant after a wait is a
/// hand-off from the previous holder: `lock.handoff` = true) or `lock.not_granted`.
async fn traced_acquire(
    backend: &dyn LockBackend,
    req: &AcquireRequest,
) -> Result<Option<Grant>, LockError> {
    use opentelemetry::KeyValue;
    if !semconv::in_exported_span() {
        // Unexported calls skip the clock reads and the events' attributes.
        return backend.acquire(req).await;
    }
    let waits = !req.wait.is_zero();
    if waits {
        semconv::event(
            "lock.wait",
            vec![
                KeyValue::new("lock.name", req.name.to_string()),
                KeyValue::new("lock.wait_timeout_ms", req.wait.as_millis() as i64),
            ],
        );
    }
    let started = std::time::Instant::now();
    let res = backend.acquire(req).await;
    let waited_ms = started.elapsed().as_millis() as i64;
    match &res {
        Ok(Some(g)) => semconv::event(
            "lock.granted",
            vec![
                KeyValue::new("lock.fencing_token", g.fence as i64),
                KeyValue::new("lock.waited_ms", waited_ms),
                KeyValue::new("lock.handoff", waits && waited_ms > 0),
            ],
        ),
        Ok(None) => semconv::event(
            "lock.not_granted",
            vec![KeyValue::new("lock.waited_ms", waited_ms)],
        ),
        Err(_) => {}
    }
    res
}

type HoldStream = Pin<Box<dyn Stream<Item = Result<HoldEvent, Status>> + Send>>;

/// The caller's `lock_prefixes` rule for `rpc` on `name`, asked once the name is valid. The
/// auth layer puts the caller in the extensions; without one (no policy) every name passes.
fn allowed(extensions: &Extensions, rpc: LockRpc, name: &LockName) -> Result<(), Status> {
    match extensions.get::<Arc<Caller>>() {
        Some(caller) => Ok(caller.lock_allowed(rpc, name.as_str())?),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl crate::proto::lock_service_server::LockService for LockHandler {
    async fn acquire_lock(
        &self,
        req: Request<AcquireLockRequest>,
    ) -> Result<Response<AcquireLockResponse>, Status> {
        let (metadata, extensions, msg) = req.into_parts();
        let claim = ClaimFields {
            limit: msg.limit,
            mode: msg.mode,
            permits: msg.permits,
        };
        let req = self.acquire_request(
            msg.name,
            msg.ttl,
            msg.wait_timeout,
            msg.owner,
            claim,
            &metadata,
        )?;
        allowed(&extensions, LockRpc::Acquire, &req.name)?;
        let grant = tokio::select! {
            res = traced_acquire(self.backend.as_ref(), &req) => res?,
            _ = self.shutdown.recv() => return Err(LockError::ShuttingDown.into()),
        };
        if let Some(g) = &grant {
            tracing::debug!(lock = ?req.name.as_str(), owner = ?req.owner.as_str(), fence = g.fence, "granted");
        }
        Ok(Response::new(grant_response(grant)))
    }

    async fn release(
        &self,
        req: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        let (_, extensions, msg) = req.into_parts();
        let name = LockName::new(msg.name)?;
        allowed(&extensions, LockRpc::Release, &name)?;
        let token = LockToken::parse(msg.token)?;
        let released = self.backend.release(&name, &token).await?;
        Ok(Response::new(ReleaseResponse { released }))
    }

    async fn extend(
        &self,
        req: Request<ExtendRequest>,
    ) -> Result<Response<ExtendResponse>, Status> {
        let (_, extensions, msg) = req.into_parts();
        let name = LockName::new(msg.name)?;
        allowed(&extensions, LockRpc::Extend, &name)?;
        let token = LockToken::parse(msg.token)?;
        let ttl = self.settings.ttl("ttl", duration("ttl", msg.ttl)?)?;
        let expires = self.backend.extend(&name, &token, ttl).await?;
        Ok(Response::new(ExtendResponse {
            extended: expires.is_some(),
            expires_at: expires.map(timestamp),
        }))
    }

    type HoldStream = HoldStream;

    async fn hold(&self, req: Request<HoldRequest>) -> Result<Response<Self::HoldStream>, Status> {
        let (metadata, extensions, msg) = req.into_parts();
        let claim = ClaimFields {
            limit: msg.limit,
            mode: msg.mode,
            permits: msg.permits,
        };
        let req = self.acquire_request(
            msg.name,
            msg.ttl,
            msg.wait_timeout,
            msg.owner,
            claim,
            &metadata,
        )?;
        allowed(&extensions, LockRpc::Hold, &req.name)?;
        let session = hold::start(
            self.backend.clone(),
            req,
            self.shutdown.clone(),
            self.renewal_lines.clone(),
        );
        let events = session.map(|update| match update {
            HoldUpdate::Acquired(grant) => Ok(HoldEvent {
                event: Some(hold_event::Event::Acquired(grant_response(grant))),
            }),
            HoldUpdate::Lost(reason) => Ok(HoldEvent {
                event: Some(hold_event::Event::Lost(LockLost { reason })),
            }),
            HoldUpdate::Failed(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(events)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_durations_name_the_field() {
        let d = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        let err = duration("wait_timeout", Some(d)).unwrap_err();
        assert!(err.to_string().starts_with("wait_timeout: "), "{err}");
    }
}
