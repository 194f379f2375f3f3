//! `SensorFeed`: readings in, processed readings and alerts out, over one bidirectional stream.

use futures::{Stream, TryStreamExt, stream};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::proto::{self, sensor_feed_request::Msg};

/// A request carrying one reading (timestamp unset = the server's time of receipt).
pub fn reading_request(
    sensor_id: impl Into<String>,
    temperature: f64,
    humidity: f64,
) -> proto::SensorFeedRequest {
    proto::SensorFeedRequest {
        msg: Some(Msg::Reading(proto::SensorReading {
            sensor_id: sensor_id.into(),
            temperature,
            humidity,
            timestamp: None,
        })),
    }
}

/// A request changing the processing of the readings that follow it.
pub fn config_request(config: proto::FeedConfig) -> proto::SensorFeedRequest {
    proto::SensorFeedRequest {
        msg: Some(Msg::Config(config)),
    }
}

impl Client {
    /// Streams `requests` to the server and yields what comes back: one `ProcessedReading` per
    /// accepted reading in order, `Alert`s on state changes, in-band rejections. When
    /// `requests` ends, the server finishes the responses and the stream ends with `None`.
    /// Backpressure is end to end: `requests` is polled only as fast as HTTP/2 flow control
    /// lets it through, and dropping the returned stream cancels the call.
    pub fn sensor_feed<S>(
        &self,
        requests: S,
    ) -> impl Stream<Item = Result<proto::SensorFeedResponse>> + Send + 'static
    where
        S: Stream<Item = proto::SensorFeedRequest> + Send + 'static,
    {
        let mut sensor = self.sensor.clone();
        stream::once(async move { sensor.sensor_feed(requests).await })
            .map_ok(|response| response.into_inner().map_err(Error::from))
            .map_err(Error::from)
            .try_flatten()
    }
}
