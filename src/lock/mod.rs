//! LockService over a `LockBackend`: in-process and Redis implementations.

mod service;

pub use service::LockHandler;
