//! SensorService: a pure per-stream processor, and the stream plumbing around it.
//!
//! [`Processor`] holds one stream's per-sensor state (settings, alert level, window,
//! missing-data deadline) and turns readings and configs into responses, with time passed in;
//! `service` and `feed` wire a gRPC stream to it with bounded buffers end to end.

mod convert;
mod deadlines;
mod error;
mod feed;
mod levels;
mod processor;
mod recording;
mod service;
mod settings;
mod state;
mod types;
mod validate;
mod window;

pub use service::FeedMetrics;
pub(crate) use service::SensorHandler;
