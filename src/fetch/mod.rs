//! FetchService: the pooled HTTP client, the target guard, and pagination strategies.
//!
//! Data flows one way: `service.rs` validates a protobuf request into domain types,
//! `client.rs` sends it through the guard (`guard.rs`, `resolve.rs`) and the limits
//! (`limits.rs`), and `pages.rs` drives the pagination strategies of `paginate/`.

pub mod client;
pub mod deadline;
pub mod error;
pub mod guard;
pub mod limits;
mod list_request;
mod page_fetch;
pub mod pages;
pub mod paginate;
pub mod progress;
pub mod resolve;
pub mod retry;
mod service;
pub mod token;
pub mod transport;
pub mod value;

pub use error::FetchError;
pub use resolve::{Lookup, LookupFuture, SystemLookup};
pub use service::FetchHandler;
pub use transport::{TrackPages, track_pages};
