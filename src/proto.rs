//! The generated `defenderbridge.v1` types and services, and the encoded descriptor sets that
//! server reflection serves (so `grpcurl` needs no `.proto` files).
//!
//! The code under `src/proto/gen/` is generated from `proto/` by
//! `scripts/generate-rust-proto.sh` and committed: building the service then compiles no protobuf
//! compiler (docs/build-time.md). `scripts/test.sh` fails when it drifts from `proto/`.

#![allow(missing_docs, clippy::all)]

include!("proto/gen/defenderbridge.v1.rs");

/// The encoded `FileDescriptorSet` of every file under `proto/`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("proto/gen/defenderbridge_descriptor.bin");

/// The encoded `FileDescriptorSet` of every `google.protobuf` well-known type, for server
/// reflection (compiled by protox with the rest of `src/proto/gen/`).
pub const WELL_KNOWN_DESCRIPTOR_SET: &[u8] = include_bytes!("proto/gen/well_known_descriptor.bin");
