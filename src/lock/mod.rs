//! LockService: leased, fenced, fairly queued locks over a [`LockBackend`], held in this
//! process ([`MemoryBackend`]) or in Redis ([`RedisBackend`]) for every server naming it.

pub mod backend;
pub mod claim;
pub mod error;
pub mod hold;
pub mod memory;
mod metered;
pub mod redis;
mod service;
pub mod types;

pub use backend::LockBackend;
pub use error::LockError;
pub use memory::MemoryBackend;
pub use redis::RedisBackend;
pub use service::LockHandler;
