//! Every integration test of the server, in one binary: a module per area, each against a
//! real server on a free port, a real `redis-server` and real HTTP upstreams on loopback.
//! Linking one binary instead of one per file keeps a cold build and `target/` small.
//!
//! Run one area with `cargo test --test it lock::` (or `fetch::guard::`, ...). Tests that
//! read the process's resident memory share the process with every other test, so
//! `scripts/test.sh` runs them (their names start with `serial_`) on their own afterwards.

mod common;

mod edge;
mod fetch;
mod lock;
mod metrics;
mod module_graph;
mod pages;
mod sensor;
mod server;
mod web;
