//! The one error type of the sensor domain: the limit whose breach ends a stream. Anything
//! else a client gets wrong (a bad reading, a senseless config, a sensor or window beyond the
//! stream's budget) is answered in-band and the stream goes on, so it is not an error here.

use tonic::Status;

/// Why a SensorFeed stream was ended by the server.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SensorError {
    /// A request message was larger than `--sensor-max-message-bytes`.
    #[error("request message too large (--sensor-max-message-bytes): {detail}")]
    MessageTooLarge {
        /// What the decoder said (sizes found and allowed).
        detail: String,
    },
}

impl From<SensorError> for Status {
    fn from(err: SensorError) -> Self {
        match err {
            SensorError::MessageTooLarge { .. } => Status::resource_exhausted(err.to_string()),
        }
    }
}
