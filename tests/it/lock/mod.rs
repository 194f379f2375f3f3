//! LockService on every backend: the conformance suite, Redis single, Cluster and Sentinel,
//! and the bounds a caller cannot push past.

mod bounds;
mod cluster;
mod conformance;
mod long_waits;
mod permits;
mod permits_lease;
mod redis;
mod redis_permits;
mod safety;
mod safety_failover;
mod safety_workers;
mod sentinel;
