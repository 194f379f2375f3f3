//! The one error type of the sensor domain: the limits whose breach ends a stream. Anything
//! else a client gets wrong (a bad reading, a senseless config) is answered in-band and the
//! stream goes on, so it is not an error here.

use tonic::Status;

/// Why a SensorFeed stream was ended by the server.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SensorError {
    /// The stream named more distinct sensors than `--sensor-max-sensors`.
    #[error(
        "the stream reports more than {limit} distinct sensors (--sensor-max-sensors); \
         open another stream for more"
    )]
    TooManySensors {
        /// The configured limit.
        limit: usize,
    },
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
            SensorError::TooManySensors { .. } | SensorError::MessageTooLarge { .. } => {
                Status::resource_exhausted(err.to_string())
            }
        }
    }
}
