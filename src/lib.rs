//! streamgate: a gRPC service for four kinds of asynchronous I/O that are easy to get wrong
//! alone: pooled HTTP fetches, lazy pagination, distributed locks, and sensor stream
//! processing.
//!
//! [`App`] is the one way to build the server: `main.rs`, the integration tests and the
//! benches all build it with [`App::build`] and run it with [`App::serve`] on a listener they
//! bound.

#![warn(missing_docs)]
#![deny(unreachable_pub)]

mod config;
pub mod demo;
mod edge;
mod fetch;
pub mod health_probe;
mod lock;
mod log_limit;
mod metrics;
pub mod proto;
mod rpc;
mod sensor;
mod server;
mod shutdown;
pub mod telemetry;
mod trace_context;

// The library's whole surface: the modules are private, and what the binary, the tests and
// the benches need is named here, so `#![deny(unreachable_pub)]` finds any other `pub`
// item (it must be `pub(crate)`, or go). `demo`, `health_probe` and `telemetry` are the
// binary's subcommands and start-up, public as modules.
pub use config::{Config, LogFormat};
pub use edge::{
    Credentials, Decisions, Gate, Policy, PrincipalMatch, Reloader, Rule, Service, Target,
};
pub use fetch::{Lookup, LookupFuture, SystemLookup};
pub use metrics::AuthFailure;
pub use sensor::FeedMetrics;
pub use server::{App, Deps};
pub use shutdown::Shutdown;
