//! Rust client for streamgate: the tonic client generated from `proto/`, re-exported.

#![warn(missing_docs)]

/// Generated protobuf messages and tonic clients of package `streamgate.v1`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("streamgate.v1");
}

pub use proto::fetch_service_client::FetchServiceClient;
pub use proto::lock_service_client::LockServiceClient;
pub use proto::sensor_service_client::SensorServiceClient;
