//! SensorService: a pure per-stream processor, and the stream plumbing around it.

mod service;

pub use service::SensorHandler;
