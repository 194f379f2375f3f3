//! FetchService: one upstream HTTP request (Fetch) or a lazy stream of pages (ListPages).
//!
//! A call flows one way, with no module importing one that comes before it:
//! `service.rs` (tonic in and out) → `request.rs` (every field of both RPCs checked once
//! into domain types) → `pages/` (the ListPages driver, strategies, retries, tokens) →
//! `cache/` (the shared RFC 9111 cache and request coalescing, off by default) →
//! `http/` (the shared client behind the target guard, resolver and connection slots).
//! `error.rs` is the one error type, mapped to a gRPC status in one `match`; `upstream.rs`
//! marks the statuses of failures blamed on an upstream (host:port), so that a caller tells
//! an upstream that is down from streamgate being down.

mod cache;
mod error;
#[cfg(test)]
mod fuzz;
mod http;
mod pages;
mod request;
mod service;
mod upstream;
mod value;

pub use http::{Lookup, LookupFuture, SystemLookup};
pub(crate) use pages::track_pages;
pub(crate) use service::FetchHandler;
