//! Compiles defender-bridge's `proto/` with protox (pure Rust, no `protoc`) and
//! tonic-prost-build, and writes into the directory given as the one argument:
//!
//! - `defenderbridge.v1.rs`: the prost messages and the tonic clients and servers;
//! - `defenderbridge_descriptor.bin`: the encoded `FileDescriptorSet` of the API, which server
//!   reflection serves;
//! - `well_known_descriptor.bin`: every `google.protobuf` well-known type (protox carries their
//!   sources), so a reflection client can decode them wherever they appear (e.g. inside an error
//!   detail).
//!
//! Run from the repository root (paths are relative to it); `scripts/generate-rust-proto.sh` does.

use std::path::PathBuf;

use prost::Message;

/// The API's files, in the order they are compiled.
const API_FILES: [&str; 3] = [
    "proto/defenderbridge/v1/resources.proto",
    "proto/defenderbridge/v1/risk_service.proto",
    "proto/defenderbridge/v1/action_service.proto",
];

/// The well-known types protox knows (all of them but the compiler plugin protocol).
const WELL_KNOWN_TYPES: [&str; 11] = [
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/descriptor.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(out_dir), None) = (args.next(), args.next()) else {
        return Err("usage: protogen OUT_DIR (run from the repository root)".into());
    };
    let out_dir = PathBuf::from(out_dir);
    std::fs::create_dir_all(&out_dir)?;

    let fds = protox::compile(API_FILES, ["proto"])?;
    std::fs::write(
        out_dir.join("defenderbridge_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    let well_known = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .include_source_info(false)
        .open_files(WELL_KNOWN_TYPES)?
        .file_descriptor_set();
    std::fs::write(
        out_dir.join("well_known_descriptor.bin"),
        well_known.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out_dir)
        .compile_fds(fds)?;
    Ok(())
}
