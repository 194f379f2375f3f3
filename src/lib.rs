//! streamgate: a gRPC service for four kinds of asynchronous I/O that are easy to get wrong
//! alone: pooled HTTP fetches, lazy pagination, distributed locks, and sensor stream
//! processing.
//!
//! [`App`] is the one way to build the server: `main.rs`, the integration tests and the
//! benches all build it with [`App::build`] and run it with [`App::serve`] on a listener they
//! bound.

#![warn(missing_docs)]

pub mod config;
pub mod demo;
pub mod edge;
pub mod fetch;
pub mod health_probe;
pub mod lock;
mod log_limit;
pub mod metrics;
pub mod proto;
pub mod rpc;
pub mod sensor;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;

pub use config::Config;
pub use server::{App, Deps, serve};
pub use shutdown::Shutdown;
