//! LockService on every backend: the conformance suite, Redis single, Cluster and Sentinel,
//! and the bounds a caller cannot push past.

mod bounds;
mod cluster;
mod conformance;
mod permits;
mod redis;
mod safety;
mod safety_failover;
mod sentinel;
