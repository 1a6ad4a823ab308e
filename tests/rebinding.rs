//! DNS rebinding and browser access (security review): a page on `http://evil.example` whose
//! name was re-resolved to 127.0.0.1 could POST a gRPC-Web `IsolateMachine` frame over HTTP/1.1
//! to the loopback port, and the machine was isolated. These send exactly that request over a
//! real socket (what `curl --http1.1 -H 'Host: evil.example:PORT' -H 'Origin:
//! http://evil.example'` sends) and check in the simulator's request log that no isolation
//! reached Defender; and that an allowed origin still works once gRPC-Web is turned on.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::actions::{isolate, posts, rid};
use common::{TestEnv, sim_config};
use defender_bridge::proto::action_service_client::ActionServiceClient;
use prost::Message;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::Channel;

const ISOLATE: &str = "/defenderbridge.v1.ActionService/IsolateMachine";
const APP: &str = "http://app.example:8080";

/// One raw HTTP/1.1 exchange (the connection is closed after it); returns what came back.
async fn http1(addr: SocketAddr, method: &str, headers: &[(&str, String)], body: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {ISOLATE} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // The server may close the connection before reading everything (HTTP/1.1 off).
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The gRPC-Web frame of an `IsolateMachine` request for `machine_id`.
fn isolate_frame(machine_id: &str) -> Vec<u8> {
    let message = isolate(machine_id, "rebinding test", &rid()).encode_to_vec();
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).expect("small"));
    frame.put_slice(&message);
    frame.to_vec()
}

/// The headers a rebinding page's `fetch` sends, with `host` and `origin`.
fn web_headers(host: String, origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Host", host),
        ("Origin", origin.to_owned()),
        ("Content-Type", "application/grpc-web+proto".into()),
        ("X-Grpc-Web", "1".into()),
    ]
}

#[tokio::test]
async fn a_rebound_browser_request_never_reaches_defender() {
    // Defaults: gRPC-Web off, so HTTP/1.1 is not served at all.
    let env = TestEnv::start(sim_config()).await;
    let id = env.sim.fleet().sample_machine_id().to_string();
    let port = env.server.addr.port();
    let answer = http1(
        env.server.addr,
        "POST",
        &web_headers(format!("evil.example:{port}"), "http://evil.example"),
        &isolate_frame(&id),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Even from a loopback Host: no HTTP/1.1, no gRPC-Web.
    let answer = http1(
        env.server.addr,
        "POST",
        &web_headers(format!("127.0.0.1:{port}"), APP),
        &isolate_frame(&id),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(posts(&env.sim, "isolate").is_empty(), "nothing isolated");
    env.stop().await;
}

#[tokio::test]
async fn with_grpc_web_on_only_listed_origins_and_known_hosts_get_through() {
    let env = TestEnv::start_with(sim_config(), |a| {
        a.grpc_web = Some(true);
        a.grpc_web_origins = Some(vec![APP.into()]);
    })
    .await;
    let id = env.sim.fleet().sample_machine_id().to_string();
    let addr = env.server.addr;
    let port = addr.port();

    // The rebinding request itself: foreign Host (and foreign origin).
    let answer = http1(
        addr,
        "POST",
        &web_headers(format!("evil.example:{port}"), "http://evil.example"),
        &isolate_frame(&id),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // A foreign Host even with a listed origin.
    let answer = http1(
        addr,
        "POST",
        &web_headers(format!("evil.example:{port}"), APP),
        &isolate_frame(&id),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // A loopback Host, but an origin that is not listed.
    let answer = http1(
        addr,
        "POST",
        &web_headers(format!("localhost:{port}"), "http://evil.example"),
        &isolate_frame(&id),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let preflight = |origin: &str| {
        vec![
            ("Host", format!("127.0.0.1:{port}")),
            ("Origin", origin.to_owned()),
            ("Access-Control-Request-Method", "POST".into()),
            (
                "Access-Control-Request-Headers",
                "content-type,x-grpc-web".into(),
            ),
        ]
    };
    let answer = http1(addr, "OPTIONS", &preflight("http://evil.example"), b"").await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        !answer
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{answer}"
    );
    assert!(
        posts(&env.sim, "isolate").is_empty(),
        "nothing isolated yet"
    );

    // The listed origin: preflight answered, and the call goes through.
    let answer = http1(addr, "OPTIONS", &preflight(APP), b"").await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("access-control-allow-origin: {APP}")),
        "{answer}"
    );
    let answer = http1(
        addr,
        "POST",
        &web_headers(format!("127.0.0.1:{port}"), APP),
        &isolate_frame(&id),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("grpc-status:0"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("access-control-allow-origin: {APP}")),
        "{answer}"
    );
    assert_eq!(posts(&env.sim, "isolate").len(), 1, "isolated once");
    env.stop().await;
}

/// A channel that sends `authority` as `:authority`, connected to `addr`.
async fn with_authority(addr: SocketAddr, authority: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .origin(format!("http://{authority}").parse().expect("origin"))
        .connect()
        .await
        .expect("connect")
}

#[tokio::test]
async fn grpc_callers_are_checked_against_the_host_allowlist_too() {
    let env = TestEnv::start_with(sim_config(), |a| {
        a.allowed_hosts = Some(vec!["bridge.example.com".into()]);
    })
    .await;
    let id = env.sim.fleet().sample_machine_id().to_string();
    let port = env.server.addr.port();
    let err = ActionServiceClient::new(
        with_authority(env.server.addr, &format!("evil.example:{port}")).await,
    )
    .isolate_machine(isolate(&id, "foreign authority", &rid()))
    .await
    .expect_err("a foreign :authority is refused");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(posts(&env.sim, "isolate").is_empty());
    for authority in [
        format!("bridge.example.com:{port}"),
        format!("localhost:{port}"),
    ] {
        let risk = defender_bridge::proto::risk_service_client::RiskServiceClient::new(
            with_authority(env.server.addr, &authority).await,
        )
        .get_endpoint_risk(common::risk::by_id(&id))
        .await;
        assert!(risk.is_ok(), "{authority}: {risk:?}");
    }
    env.stop().await;
}
