//! The generated `defenderbridge.v1` types and services, and the encoded descriptor set that
//! server reflection serves (so `grpcurl` needs no `.proto` files).

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("defenderbridge.v1");

/// The encoded `FileDescriptorSet` of every file under `proto/`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/defenderbridge_descriptor.bin"));

/// The encoded `FileDescriptorSet` of every `google.protobuf` well-known type, for server
/// reflection (compiled by protox in `build.rs`).
pub const WELL_KNOWN_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/well_known_descriptor.bin"));
