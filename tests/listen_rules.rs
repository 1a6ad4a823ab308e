//! The listening rules over real sockets: a network address is refused without a callers file
//! and TLS, and served with TLS + callers, or in plaintext with `--insecure-plaintext` +
//! callers (a mesh sidecar terminates mTLS). Calls use health, which is always open.

mod common;

use std::net::SocketAddr;

use common::tls::{Pki, channel};
use common::{sim_config, start_sim};
use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::demo::service_args;
use defender_bridge::server;
use defender_bridge::sim::SimHandle;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn network_args(sim: &SimHandle) -> ServeArgs {
    service_args(sim, &sim_config(), "0.0.0.0:0".parse().expect("addr"))
}

/// The loopback address of a server bound to the wildcard address.
fn loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], addr.port()))
}

#[tokio::test]
async fn a_network_address_needs_callers_and_tls_unless_plaintext_is_explicit() {
    let pki = Pki::new();
    let sim = start_sim(sim_config()).await;

    let refused = |args: ServeArgs| Config::resolve(&args).expect_err("refused").to_string();
    let err = refused(network_args(&sim));
    assert!(err.contains("callers file"), "{err}");
    let mut args = network_args(&sim);
    args.callers = Some(pki.path("callers.toml"));
    let err = refused(args);
    assert!(err.contains("requires TLS"), "{err}");

    // TLS and callers: served, over TLS.
    let mut args = network_args(&sim);
    args.callers = Some(pki.path("callers.toml"));
    pki.apply(&mut args, false);
    let server = server::spawn(Config::resolve(&args).expect("TLS + callers"))
        .await
        .expect("serves");
    let health = HealthClient::new(
        channel(loopback(server.addr), &pki.ca.cert_pem, None)
            .await
            .expect("TLS connect"),
    )
    .check(HealthCheckRequest::default())
    .await;
    assert!(health.is_ok(), "{health:?}");
    server.shutdown().await.expect("clean shutdown");

    // Explicit plaintext and callers: served, in plaintext.
    let mut args = network_args(&sim);
    args.callers = Some(pki.path("callers.toml"));
    args.insecure_plaintext = Some(true);
    let server = server::spawn(Config::resolve(&args).expect("plaintext + callers"))
        .await
        .expect("serves");
    let health = HealthClient::new(common::connect(loopback(server.addr)).await)
        .check(HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "{health:?}");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}
