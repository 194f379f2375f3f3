//! The server as a whole: the real binary, connection and stream limits, a bounded load test.

mod binary;
mod health_command;
mod limits;
mod load;
