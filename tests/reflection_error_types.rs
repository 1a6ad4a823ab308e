//! Reflection serves every type an answer can carry: the `google.rpc` error details packed in
//! `grpc-status-details-bin` and the `google.protobuf` well-known types. A reflection client
//! (grpcurl, or the Rust one here) resolves each detail's type and then every file it imports,
//! by name, exactly as grpcurl does before it can print a decoded `ErrorInfo`.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::risk::by_id;
use common::{TestEnv, sim_config};
use prost::Message;
use prost_types::FileDescriptorProto;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// Sends each request on one reflection stream and returns the answers in order.
async fn ask(channel: &Channel, requests: Vec<MessageRequest>) -> Vec<ServerReflectionResponse> {
    let count = requests.len();
    let requests = requests.into_iter().map(|r| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r),
    });
    let stream = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection")
        .into_inner();
    let answers: Vec<_> = stream.map(|r| r.expect("answer")).collect::<Vec<_>>().await;
    assert_eq!(answers.len(), count);
    answers
}

/// The one file of a file-descriptor answer; panics with the server's error otherwise.
fn file_of(answer: ServerReflectionResponse, asked: &str) -> FileDescriptorProto {
    match answer.message_response {
        Some(MessageResponse::FileDescriptorResponse(r)) => {
            let [bytes] = r.file_descriptor_proto.as_slice() else {
                panic!(
                    "{asked}: one file expected, got {}",
                    r.file_descriptor_proto.len()
                );
            };
            FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor")
        }
        other => panic!("{asked} is not served: {other:?}"),
    }
}

/// The file defining `symbol` plus every file it imports, transitively, each fetched by name.
async fn resolve(channel: &Channel, symbol: &str) -> HashMap<String, FileDescriptorProto> {
    let [answer] = <[_; 1]>::try_from(
        ask(
            channel,
            vec![MessageRequest::FileContainingSymbol(symbol.into())],
        )
        .await,
    )
    .expect("one answer");
    let file = file_of(answer, symbol);
    let mut files = HashMap::new();
    let mut pending: Vec<String> = file.dependency.clone();
    files.insert(file.name().to_owned(), file);
    while let Some(name) = pending.pop() {
        if files.contains_key(&name) {
            continue;
        }
        let [answer] = <[_; 1]>::try_from(
            ask(channel, vec![MessageRequest::FileByFilename(name.clone())]).await,
        )
        .expect("one answer");
        let file = file_of(answer, &name);
        assert_eq!(file.name(), name);
        pending.extend(file.dependency.iter().cloned());
        files.insert(name, file);
    }
    files
}

/// Whether `files` define the message `full_name` (`package.Message`).
fn defines(files: &HashMap<String, FileDescriptorProto>, full_name: &str) -> bool {
    files.values().any(|f| {
        f.message_type
            .iter()
            .any(|m| format!("{}.{}", f.package(), m.name()) == full_name)
    })
}

#[tokio::test]
async fn every_error_detail_of_a_real_error_resolves_by_reflection() {
    let env = TestEnv::start(sim_config()).await;
    let err = env
        .risk()
        .get_endpoint_risk(by_id("not-a-machine-id"))
        .await
        .expect_err("a bad machine id is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let status = tonic_types::pb::Status::decode(err.details()).expect("google.rpc.Status");
    let types: BTreeSet<String> = status
        .details
        .iter()
        .map(|d| {
            d.type_url
                .strip_prefix("type.googleapis.com/")
                .expect("a type.googleapis.com URL")
                .to_owned()
        })
        .collect();
    assert!(types.contains("google.rpc.ErrorInfo"), "{types:?}");
    assert!(types.contains("google.rpc.BadRequest"), "{types:?}");
    for detail in &types {
        let files = resolve(&env.channel, detail).await;
        assert!(defines(&files, detail), "{detail}");
    }
    env.stop().await;
}

#[tokio::test]
async fn google_rpc_and_well_known_types_are_served_under_their_canonical_files() {
    let env = TestEnv::start(sim_config()).await;
    for (symbol, file) in [
        ("google.rpc.ErrorInfo", "google/rpc/error_details.proto"),
        ("google.rpc.RetryInfo", "google/rpc/error_details.proto"),
        ("google.rpc.QuotaFailure", "google/rpc/error_details.proto"),
        ("google.rpc.ResourceInfo", "google/rpc/error_details.proto"),
        ("google.rpc.Status", "google/rpc/status.proto"),
        ("google.protobuf.Any", "google/protobuf/any.proto"),
        ("google.protobuf.Duration", "google/protobuf/duration.proto"),
        (
            "google.protobuf.Timestamp",
            "google/protobuf/timestamp.proto",
        ),
        ("google.protobuf.Struct", "google/protobuf/struct.proto"),
        (
            "google.protobuf.Int64Value",
            "google/protobuf/wrappers.proto",
        ),
        ("google.protobuf.Empty", "google/protobuf/empty.proto"),
        (
            "google.protobuf.FieldMask",
            "google/protobuf/field_mask.proto",
        ),
    ] {
        let files = resolve(&env.channel, symbol).await;
        assert!(files.contains_key(file), "{symbol}: {:?}", files.keys());
        assert!(defines(&files, symbol), "{symbol}");
    }
    // RetryInfo's delay is a Duration: its import resolves to the well-known file.
    let files = resolve(&env.channel, "google.rpc.RetryInfo").await;
    assert!(files.contains_key("google/protobuf/duration.proto"));
    env.stop().await;
}

#[tokio::test]
async fn v1alpha_serves_the_error_details_too() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let env = TestEnv::start(sim_config()).await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "google.rpc.ErrorInfo".into(),
        )),
    };
    let mut stream = ServerReflectionClient::new(env.channel.clone())
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let answer = stream.next().await.expect("one answer").expect("ok");
    match answer.message_response {
        Some(MessageResponse::FileDescriptorResponse(r)) => {
            let file = FileDescriptorProto::decode(r.file_descriptor_proto[0].as_slice())
                .expect("a file descriptor");
            assert_eq!(file.name(), "google/rpc/error_details.proto");
        }
        other => panic!("not served: {other:?}"),
    }
    env.stop().await;
}
