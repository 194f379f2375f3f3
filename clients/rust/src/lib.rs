//! Rust client for streamgate.
//!
//! Two layers: the tonic clients generated from `proto/` (re-exported as [`proto`] for full
//! control), and a small typed layer on top of them, [`Client`], that gives back the idioms of
//! the seed's four cases over the service:
//!
//! ```no_run
//! # async fn run() -> streamgate_client::Result<()> {
//! use streamgate_client::{Client, LockOptions};
//! let client = Client::connect("127.0.0.1:50051").await?;
//! let page = client.fetch("https://example.com/", Default::default()).await?;
//! let guard = client.lock("reports", LockOptions::default().wait_secs(30)).await?;
//! println!("{} bytes, fencing token {}", page.body.len(), guard.fencing_token());
//! guard.release().await?;
//! # Ok(()) }
//! ```
//!
//! Every call fails with one [`Error`] type that carries the gRPC status code. The rules the
//! four streamgate clients share (addresses, deadlines, lock waits, errors, cancellation) are
//! in `docs/clients.md`.
//!
//! Features: `cli` (default) builds the `streamgate-cli` binary and its dependencies; `tls`
//! (default) lets `https://` addresses connect with the system's root certificates. A library
//! user who wants neither: `default-features = false`.

#![warn(missing_docs)]

/// Generated protobuf messages and tonic clients of package `streamgate.v1`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("streamgate.v1");
}

mod address;
mod client;
mod error;
mod fetch;
mod hold;
mod json;
mod lock;
mod pages;
mod security;
mod sensor;
mod simulator;
mod time;

pub use client::Client;
pub use error::{Error, Result, code_name};
pub use fetch::{FetchOptions, FetchResponse};
pub use hold::{HoldHandle, HoldOptions};
pub use json::value_to_json;
pub use lock::{LockGuard, LockOptions};
pub use pages::{Page, PagesOptions};
pub use proto::fetch_service_client::FetchServiceClient;
pub use proto::lock_service_client::LockServiceClient;
pub use proto::sensor_service_client::SensorServiceClient;
pub use proto::{CacheMode, PaginationStyle};
pub use security::{Bearer, ConnectOptions, Transport};
pub use sensor::{SensorEvent, config_request, reading_request};
pub use simulator::{SensorSimulator, SimulatedReading};
