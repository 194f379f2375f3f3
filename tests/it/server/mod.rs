//! The server as a whole: the real binary, connection and stream limits, a bounded load test.

mod binary;
mod descriptors;
mod health_command;
mod idle;
mod keepalive;
mod limits;
mod load;
mod memory;
