//! The generated protobuf types and tonic service traits, and the descriptor set that
//! reflection serves.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("streamgate.v1");

/// Encoded `FileDescriptorSet` of every streamgate proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("streamgate_descriptor");
