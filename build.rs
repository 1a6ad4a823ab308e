//! Compiles `proto/` with protox (pure Rust, no `protoc`) and tonic-prost-build, and writes the
//! descriptor sets that server reflection serves: the API's, and every `google.protobuf`
//! well-known type (protox carries their sources), so a reflection client can decode any of
//! them wherever they appear (e.g. inside an error detail).

use std::path::PathBuf;

use prost::Message;

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
    let files = [
        "proto/defenderbridge/v1/resources.proto",
        "proto/defenderbridge/v1/risk_service.proto",
        "proto/defenderbridge/v1/action_service.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
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
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
