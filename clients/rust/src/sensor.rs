//! `SensorFeed`: readings in, processed readings and alerts out, over one bidirectional stream.

use futures::{Stream, TryStreamExt, stream};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::proto::{self, sensor_feed_request::Msg};

/// One thing the server sends back on a sensor feed: a tagged union the caller matches
/// exhaustively (docs/clients.md, "Typed results").
#[derive(Clone, Debug, PartialEq)]
pub enum SensorEvent {
    /// One accepted reading, processed (in the order the readings were sent).
    Reading(proto::ProcessedReading),
    /// A state change of one sensor (firing, resolved, silent).
    Alert(proto::Alert),
    /// A reading the server refused; the stream goes on.
    Rejected(proto::ReadingRejected),
    /// A config the server refused; the previous config stays in force.
    ConfigRejected(proto::ConfigRejected),
}

impl SensorEvent {
    /// The event inside a response; `None` for a kind this client does not know yet.
    pub fn from_response(response: proto::SensorFeedResponse) -> Option<Self> {
        use proto::sensor_feed_response::Msg as Out;
        Some(match response.msg? {
            Out::Reading(r) => Self::Reading(r),
            Out::Alert(a) => Self::Alert(a),
            Out::Rejected(r) => Self::Rejected(r),
            Out::ConfigRejected(c) => Self::ConfigRejected(c),
        })
    }
}

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
        let (open_address, event_address) = (self.address.clone(), self.address.clone());
        stream::once(async move { sensor.sensor_feed(requests).await })
            .map_ok(move |response| {
                let event_address = event_address.clone();
                response
                    .into_inner()
                    .map_err(move |s| Error::from(s).at(&event_address))
            })
            .map_err(move |s| Error::from(s).at(&open_address))
            .try_flatten()
    }

    /// [`sensor_feed`](Self::sensor_feed) with each response as a [`SensorEvent`] (kinds this
    /// client does not know are skipped).
    pub fn sensor_events<S>(
        &self,
        requests: S,
    ) -> impl Stream<Item = Result<SensorEvent>> + Send + 'static
    where
        S: Stream<Item = proto::SensorFeedRequest> + Send + 'static,
    {
        self.sensor_feed(requests)
            .try_filter_map(|response| std::future::ready(Ok(SensorEvent::from_response(response))))
    }
}
