//! gRPC-Web and CORS on the gRPC port.

mod cors;
mod grpc;
mod rebinding;
