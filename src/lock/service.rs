//! The tonic face of LockService.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::config::Config;
use crate::proto::{
    AcquireLockRequest, AcquireLockResponse, ExtendRequest, ExtendResponse, HoldEvent, HoldRequest,
    ReleaseRequest, ReleaseResponse,
};
use crate::shutdown::Shutdown;

/// Serves `streamgate.v1.LockService`.
pub struct LockHandler {
    _shutdown: Shutdown,
}

impl LockHandler {
    /// Picks the backend from the config (Redis when `--redis-url` is set).
    pub async fn new(_config: &Config, shutdown: Shutdown) -> anyhow::Result<Self> {
        Ok(Self {
            _shutdown: shutdown,
        })
    }
}

type HoldStream = Pin<Box<dyn Stream<Item = Result<HoldEvent, Status>> + Send>>;

#[tonic::async_trait]
impl crate::proto::lock_service_server::LockService for LockHandler {
    async fn acquire_lock(
        &self,
        _req: Request<AcquireLockRequest>,
    ) -> Result<Response<AcquireLockResponse>, Status> {
        Err(Status::unimplemented("AcquireLock is not implemented yet"))
    }

    async fn release(
        &self,
        _req: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        Err(Status::unimplemented("Release is not implemented yet"))
    }

    async fn extend(
        &self,
        _req: Request<ExtendRequest>,
    ) -> Result<Response<ExtendResponse>, Status> {
        Err(Status::unimplemented("Extend is not implemented yet"))
    }

    type HoldStream = HoldStream;

    async fn hold(&self, _req: Request<HoldRequest>) -> Result<Response<Self::HoldStream>, Status> {
        Err(Status::unimplemented("Hold is not implemented yet"))
    }
}
