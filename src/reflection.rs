//! What server reflection serves: the API's descriptors, gRPC health, every `google.protobuf`
//! well-known type and the `google.rpc` error model (`status.proto`, `error_details.proto`).
//!
//! Errors carry `google.rpc` details (`ErrorInfo`, `BadRequest`, `RetryInfo`, ...) packed in
//! `Any`; a reflection client such as grpcurl can only decode them if reflection knows their
//! types. tonic-types ships those descriptors but files them as `status.proto` and
//! `error_details.proto`; they are served under their canonical `google/rpc/...` paths, so a
//! client that resolves imports by file name finds them.

use prost::Message;
use prost_types::FileDescriptorSet;
use tonic_reflection::server::{Builder, Error};

/// The `google.rpc` protos' directory, as other protos import them.
const GOOGLE_RPC_DIR: &str = "google/rpc/";

/// A reflection builder with every descriptor set registered (build v1 or v1alpha from it).
pub fn builder() -> Result<Builder<'static>, Error> {
    Ok(Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(crate::proto::WELL_KNOWN_DESCRIPTOR_SET)
        .register_file_descriptor_set(google_rpc()?))
}

/// tonic-types' `google.rpc` descriptors, filed under `google/rpc/`.
pub fn google_rpc() -> Result<FileDescriptorSet, Error> {
    let mut set = FileDescriptorSet::decode(tonic_types::pb::FILE_DESCRIPTOR_SET)?;
    let canonical = |name: &str| {
        if name.contains('/') {
            name.to_owned()
        } else {
            format!("{GOOGLE_RPC_DIR}{name}")
        }
    };
    let renamed: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package() == "google.rpc")
        .filter_map(|f| f.name.clone())
        .collect();
    for file in &mut set.file {
        if file.package() == "google.rpc" {
            file.name = file.name.as_deref().map(canonical);
        }
        for dep in &mut file.dependency {
            if renamed.contains(dep) {
                *dep = canonical(dep);
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_rpc_files_have_their_canonical_paths_and_resolvable_imports() {
        let set = google_rpc().expect("decodes");
        let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
        assert!(names.contains(&"google/rpc/status.proto"), "{names:?}");
        assert!(
            names.contains(&"google/rpc/error_details.proto"),
            "{names:?}"
        );
        let well_known =
            FileDescriptorSet::decode(crate::proto::WELL_KNOWN_DESCRIPTOR_SET).expect("decodes");
        let known: Vec<&str> = names
            .iter()
            .copied()
            .chain(well_known.file.iter().map(|f| f.name()))
            .collect();
        for file in &set.file {
            for dep in &file.dependency {
                assert!(
                    known.contains(&dep.as_str()),
                    "{} imports {dep}",
                    file.name()
                );
            }
        }
        for wkt in [
            "any",
            "duration",
            "timestamp",
            "struct",
            "wrappers",
            "empty",
            "field_mask",
        ] {
            let name = format!("google/protobuf/{wkt}.proto");
            assert!(known.contains(&name.as_str()), "{name}");
        }
    }
}
