//! LockService: leased, fenced, fairly queued locks over a [`LockBackend`], held in this
//! process ([`MemoryBackend`]) or in Redis ([`RedisBackend`]) for every server naming it.

pub(crate) mod backend;
pub(crate) mod claim;
pub(crate) mod error;
pub(crate) mod hold;
pub(crate) mod memory;
mod metered;
pub(crate) mod redis;
mod service;
pub(crate) mod types;

pub(crate) use service::LockHandler;
