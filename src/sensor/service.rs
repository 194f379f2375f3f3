//! The tonic face of SensorService.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::config::Config;
use crate::proto::{SensorFeedRequest, SensorFeedResponse};
use crate::shutdown::Shutdown;

/// Serves `streamgate.v1.SensorService`.
pub struct SensorHandler {
    _shutdown: Shutdown,
}

impl SensorHandler {
    /// Takes the per-stream limits from the config.
    pub fn new(_config: &Config, shutdown: Shutdown) -> Self {
        Self {
            _shutdown: shutdown,
        }
    }
}

type FeedStream = Pin<Box<dyn Stream<Item = Result<SensorFeedResponse, Status>> + Send>>;

#[tonic::async_trait]
impl crate::proto::sensor_service_server::SensorService for SensorHandler {
    type SensorFeedStream = FeedStream;

    async fn sensor_feed(
        &self,
        _req: Request<Streaming<SensorFeedRequest>>,
    ) -> Result<Response<Self::SensorFeedStream>, Status> {
        Err(Status::unimplemented("SensorFeed is not implemented yet"))
    }
}
