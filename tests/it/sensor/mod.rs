//! SensorFeed end to end: the processor over the wire, flow control, the deadman alert.

mod cap;
mod deadman;
mod feed;
mod flow;
mod full_speed;
