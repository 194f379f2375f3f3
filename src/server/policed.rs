//! The policy rules that need the request message, applied before the service sees it:
//! `fetch_methods` for Fetch, `lock_prefixes` for every lock RPC. The caller comes from the
//! request extensions (put there by the auth layer); without one (no policy) the call passes
//! untouched. `fetch_hosts` is not checked here but in the fetch path itself
//! (`fetch::http::client`), which sees every URL a call reaches: the request's, each
//! redirect hop's, each ListPages page's.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::edge::{Caller, LockRpc};
use crate::proto::fetch_service_server::FetchService;
use crate::proto::lock_service_server::LockService;
use crate::proto::{
    AcquireLockRequest, AcquireLockResponse, ExtendRequest, ExtendResponse, FetchRequest,
    FetchResponse, HoldRequest, ListPagesRequest, ReleaseRequest, ReleaseResponse,
};

/// A service whose calls are checked against their caller's rules first.
pub(super) struct Policed<S> {
    inner: S,
}

impl<S> Policed<S> {
    pub(super) fn new(inner: S) -> Self {
        Self { inner }
    }
}

fn caller<T>(req: &Request<T>) -> Option<&Arc<Caller>> {
    req.extensions().get::<Arc<Caller>>()
}

fn check_lock<T>(req: &Request<T>, rpc: LockRpc, name: &str) -> Result<(), Status> {
    match caller(req) {
        Some(c) => Ok(c.lock_allowed(rpc, name)?),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl<S: LockService> LockService for Policed<S> {
    async fn acquire_lock(
        &self,
        req: Request<AcquireLockRequest>,
    ) -> Result<Response<AcquireLockResponse>, Status> {
        check_lock(&req, LockRpc::Acquire, &req.get_ref().name)?;
        self.inner.acquire_lock(req).await
    }

    async fn release(
        &self,
        req: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        check_lock(&req, LockRpc::Release, &req.get_ref().name)?;
        self.inner.release(req).await
    }

    async fn extend(
        &self,
        req: Request<ExtendRequest>,
    ) -> Result<Response<ExtendResponse>, Status> {
        check_lock(&req, LockRpc::Extend, &req.get_ref().name)?;
        self.inner.extend(req).await
    }

    type HoldStream = S::HoldStream;

    async fn hold(&self, req: Request<HoldRequest>) -> Result<Response<Self::HoldStream>, Status> {
        check_lock(&req, LockRpc::Hold, &req.get_ref().name)?;
        self.inner.hold(req).await
    }
}

#[tonic::async_trait]
impl<S: FetchService> FetchService for Policed<S> {
    async fn fetch(&self, req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        if let Some(c) = caller(&req) {
            let msg = req.get_ref();
            // Empty is GET, as Fetch reads it; a malformed method is Fetch's to refuse.
            let method = if msg.method.is_empty() {
                Ok(http::Method::GET)
            } else {
                http::Method::from_bytes(msg.method.as_bytes())
            };
            if let Ok(method) = method {
                c.method_allowed(&method)?;
            }
        }
        self.inner.fetch(req).await
    }

    type ListPagesStream = S::ListPagesStream;

    async fn list_pages(
        &self,
        req: Request<ListPagesRequest>,
    ) -> Result<Response<Self::ListPagesStream>, Status> {
        self.inner.list_pages(req).await
    }
}
