//! LockService on every backend: the conformance suite, Redis single, Cluster and Sentinel.

mod cluster;
mod conformance;
mod permits;
mod redis;
mod safety;
mod sentinel;
