//! The tonic face of FetchService.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::config::Config;
use crate::proto::{FetchRequest, FetchResponse, ListPagesRequest, Page};
use crate::shutdown::Shutdown;

/// Serves `streamgate.v1.FetchService`.
pub struct FetchHandler {
    _shutdown: Shutdown,
}

impl FetchHandler {
    /// Builds the shared HTTP client and limits from the config.
    pub fn new(_config: &Config, shutdown: Shutdown) -> anyhow::Result<Self> {
        Ok(Self {
            _shutdown: shutdown,
        })
    }
}

type PageStream = Pin<Box<dyn Stream<Item = Result<Page, Status>> + Send>>;

#[tonic::async_trait]
impl crate::proto::fetch_service_server::FetchService for FetchHandler {
    async fn fetch(&self, _req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        Err(Status::unimplemented("Fetch is not implemented yet"))
    }

    type ListPagesStream = PageStream;

    async fn list_pages(
        &self,
        _req: Request<ListPagesRequest>,
    ) -> Result<Response<Self::ListPagesStream>, Status> {
        Err(Status::unimplemented("ListPages is not implemented yet"))
    }
}
