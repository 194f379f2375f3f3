//! The Prometheus endpoint and trace context, one file per service.

mod dashboard;
mod fetch;
mod grpc;
mod lock;
mod sensor;
mod trace_logs;
