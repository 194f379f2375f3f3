//! FetchService: the pooled HTTP client, the target guard, and pagination strategies.

mod service;

pub use service::FetchHandler;
