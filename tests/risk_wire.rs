//! `GetEndpointRisk` on the wire. The service answers it with its own unary framing (the
//! answer kept encoded, see services/grpc_raw.rs), so these check that path as callers see it:
//! gRPC-Web through the same layer as every other method, gzip-compressed requests answered
//! like plain ones, unknown encodings and malformed requests refused the way tonic refuses
//! them for the generated methods, and none of the refused ones reaching Defender.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::EndpointRisk;
use prost::Message;
use tonic::Code;
use tonic::codec::CompressionEncoding;

const PATH: &str = "/defenderbridge.v1.RiskService/GetEndpointRisk";

fn framed(flag: u8, message: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(flag);
    b.put_u32(u32::try_from(message.len()).expect("small"));
    b.put_slice(message);
    b.freeze()
}

/// Splits a gRPC-Web response body into its data message and its trailer block.
fn grpc_web_frames(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let (mut messages, mut trailers) = (Vec::new(), String::new());
    while body.len() >= 5 {
        let flag = body[0];
        let len = u32::from_be_bytes(body[1..5].try_into().expect("4 bytes")) as usize;
        let payload = body[5..5 + len].to_vec();
        if flag & 0x80 != 0 {
            trailers.push_str(&String::from_utf8(payload).expect("ASCII trailers"));
        } else {
            messages.push(payload);
        }
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "no bytes after the last frame");
    (messages, trailers)
}

#[tokio::test]
async fn grpc_web_callers_get_the_same_answer_as_grpc_callers() {
    // gRPC-Web is opt-in.
    let env = TestEnv::start_with(sim_config(), |a| a.grpc_web = Some(true)).await;
    let id = env.sample_machine_id();
    let cold = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("grpc answer")
        .into_inner();
    let response = reqwest::Client::new()
        .post(format!("http://{}{PATH}", env.server.addr))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(framed(0, &by_id(&id).encode_to_vec()))
        .send()
        .await
        .expect("HTTP/1.1 gRPC-Web call");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/grpc-web"),
        "{:?}",
        response.headers()
    );
    let body = response.bytes().await.expect("body");
    let (messages, trailers) = grpc_web_frames(&body);
    assert!(trailers.contains("grpc-status:0"), "{trailers:?}");
    assert_eq!(messages.len(), 1);
    let web = EndpointRisk::decode(messages[0].as_slice()).expect("an EndpointRisk");
    // The gRPC-Web call was the second: a hit; otherwise the very same answer.
    assert!(!cold.cached && web.cached);
    assert_eq!(
        EndpointRisk {
            cached: false,
            ..web
        },
        cold
    );
    env.stop().await;
}

#[tokio::test]
async fn gzip_requests_and_answers_work_like_plain_ones() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let plain = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("plain call")
        .into_inner();
    let before = api_calls(&env.sim);
    let gzip = env
        .risk()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("a gzip-compressed request is accepted");
    assert_eq!(
        gzip.metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip"),
        "the answer is compressed too"
    );
    let gzip = gzip.into_inner();
    assert!(gzip.cached, "served from the cache the plain call filled");
    assert_eq!(
        EndpointRisk {
            cached: false,
            ..gzip
        },
        EndpointRisk {
            cached: false,
            ..plain
        }
    );
    assert_eq!(api_calls(&env.sim), before);
    env.stop().await;
}

#[tokio::test]
async fn unknown_encodings_are_refused_without_an_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let before = api_calls(&env.sim);
    let status = raw_call_with(&env, framed(1, &by_id(&id).encode_to_vec()), Some("snappy")).await;
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("snappy"), "{status:?}");
    assert_eq!(api_calls(&env.sim), before);
    env.stop().await;
}

/// Sends `body` as the raw request of `GetEndpointRisk` over HTTP/2.
async fn raw_call(env: &TestEnv, body: Bytes) -> tonic::Status {
    raw_call_with(env, body, None).await
}

/// [`raw_call`] with a `grpc-encoding` header.
async fn raw_call_with(env: &TestEnv, body: Bytes, encoding: Option<&str>) -> tonic::Status {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let mut request = client
        .post(format!("http://{}{PATH}", env.server.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(encoding) = encoding {
        request = request.header("grpc-encoding", encoding);
    }
    let response = request.body(body).send().await.expect("HTTP/2 call");
    // Errors come back trailers-only: the status is in the headers.
    tonic::Status::from_header_map(response.headers()).expect("a grpc-status header")
}

#[tokio::test]
async fn malformed_requests_are_refused_without_an_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let before = api_calls(&env.sim);
    let cases = [
        (Bytes::new(), Code::Internal, "Missing request message"),
        (framed(0, &[0xff, 0xff]), Code::Internal, "cannot decode"),
        (
            framed(0, b"abc").slice(..6),
            Code::Internal,
            "ends inside its message",
        ),
        (framed(1, b"abc"), Code::Internal, "compressed-flag"),
        (
            [framed(0, b""), framed(0, b"")].concat().into(),
            Code::Internal,
            "exactly one message",
        ),
        (
            framed(0, &by_id("not-an-id").encode_to_vec()),
            Code::InvalidArgument,
            "machine_id",
        ),
    ];
    for (body, code, words) in cases {
        let status = raw_call(&env, body).await;
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(words), "{status:?}");
    }
    assert_eq!(
        api_calls(&env.sim),
        before,
        "no Defender call for bad input"
    );
    env.stop().await;
}
