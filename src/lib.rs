//! streamgate: a gRPC service for four kinds of asynchronous I/O that are easy to get wrong
//! alone: pooled HTTP fetches, lazy pagination, distributed locks, and sensor stream
//! processing.
//!
//! [`serve`] runs the whole server on a listener the caller bound; `main.rs`, the integration
//! tests and the benches all start it this way.

#![warn(missing_docs)]

pub mod config;
pub mod fetch;
pub mod lock;
pub mod proto;
pub mod sensor;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use config::Config;
pub use server::serve;
pub use shutdown::Shutdown;
