//! What one caller or one connection can hold, over real sockets: the HTTP/2 stream limit is
//! advertised, the connection cap makes the next client wait, idle and half-sent connections
//! are closed, open calls keep theirs, and `StreamFleetRisk` streams are capped server-wide.

mod common;

use std::time::Duration;

use common::risk::{metadata, reason};
use common::{TestEnv, connect, sim_config};
use defender_bridge::proto::StreamFleetRiskRequest;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::sim::{Fault, FaultKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Bounds a wait that must end; never reached when the server behaves.
const GUARD: Duration = Duration::from_secs(30);

async fn healthy(channel: Channel) {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .expect("health check");
}

#[tokio::test]
async fn the_stream_limit_is_advertised_in_http2_settings() {
    let env = TestEnv::start_with(sim_config(), |a| a.max_concurrent_streams = Some(3)).await;
    let tcp = TcpStream::connect(env.server.addr).await.expect("connect");
    let (_client, mut conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let mut ping = conn.ping_pong().expect("ping handle");
    // The server's SETTINGS frame comes before its answer to our PING.
    tokio::select! {
        pong = ping.ping(h2::Ping::opaque()) => { pong.expect("pong"); }
        ended = &mut conn => panic!("connection ended: {ended:?}"),
    }
    assert_eq!(conn.max_concurrent_send_streams(), 3);
    env.stop().await;
}

#[tokio::test]
async fn the_connection_cap_makes_the_next_client_wait_until_one_closes() {
    let env = TestEnv::start_with(sim_config(), |a| a.max_connections = Some(2)).await;
    // The test environment's own channel is the first connection.
    healthy(env.channel.clone()).await;
    let second = connect(env.server.addr).await;
    healthy(second.clone()).await;
    let third = connect(env.server.addr).await;
    let mut waiting = tokio::spawn(healthy(third));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a third connection was served past the cap of two"
    );
    drop(second);
    tokio::time::timeout(GUARD, waiting)
        .await
        .expect("served once a connection closed")
        .expect("task");
    env.stop().await;
}

/// Reads until the server closes the connection (EOF or reset); fails if it stays open.
async fn closed_by_server(mut tcp: TcpStream) {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(GUARD, tcp.read_to_end(&mut buf))
        .await
        .expect("the server closed the idle connection");
    // EOF or a reset both mean closed.
    let _ = read;
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed() {
    let env = TestEnv::start_with(sim_config(), |a| a.idle_timeout_secs = Some(1)).await;
    let silent = TcpStream::connect(env.server.addr).await.expect("connect");
    let mut half = TcpStream::connect(env.server.addr).await.expect("connect");
    half.write_all(b"POST /defenderbridge.v1.RiskService/GetMachine HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("partial header");
    let mut h2_preface_only = TcpStream::connect(env.server.addr).await.expect("connect");
    h2_preface_only
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    closed_by_server(silent).await;
    closed_by_server(half).await;
    closed_by_server(h2_preface_only).await;
    env.stop().await;
}

#[tokio::test]
async fn an_open_stream_keeps_its_connection_past_the_idle_timeout() {
    let env = TestEnv::start_with(sim_config(), |a| a.idle_timeout_secs = Some(1)).await;
    // The machines list answers after 2.5 s: the stream is open, silent, past the timeout.
    env.sim.inject(Fault {
        kind: FaultKind::Latency { millis: 2_500 },
        count: 1,
        path_contains: Some("/api/machines".into()),
    });
    let channel = connect(env.server.addr).await;
    let mut stream = RiskServiceClient::new(channel)
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect("stream")
        .into_inner();
    let mut count = 0;
    while let Some(msg) = stream.message().await.expect("the stream survives") {
        count += usize::from(msg.item.is_some());
    }
    assert_eq!(count, env.sim.fleet().machines().len() + 1);
    env.stop().await;
}

#[tokio::test]
async fn fleet_streams_are_capped_server_wide() {
    let env = TestEnv::start_with(sim_config(), |a| a.max_fleet_streams = Some(1)).await;
    // Keeps the first stream open (its machines list is slow) while the second is asked for.
    env.sim.inject(Fault {
        kind: FaultKind::Latency { millis: 3_000 },
        count: 1,
        path_contains: Some("/api/machines".into()),
    });
    let first = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect("first stream");
    let err = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect_err("over the cap");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err), "RATE_LIMITED");
    assert_eq!(
        metadata(&err, "quota").as_deref(),
        Some("server:StreamFleetRisk")
    );
    assert!(
        err.message().contains("max_fleet_streams"),
        "{}",
        err.message()
    );
    drop(first);
    // The permit returns when the server sees the first stream cancelled.
    let mut again = None;
    for _ in 0..100 {
        match env
            .risk()
            .stream_fleet_risk(StreamFleetRiskRequest::default())
            .await
        {
            Ok(stream) => {
                again = Some(stream);
                break;
            }
            Err(e) if e.code() == Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let mut stream = again.expect("a stream once the first ended").into_inner();
    while stream.message().await.expect("message").is_some() {}
    env.stop().await;
}
