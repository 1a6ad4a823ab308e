//! Compiles `proto/` with protox (pure Rust, no `protoc`) and tonic-prost-build, and writes the
//! descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

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
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
