//! SIGHUP reloads the TLS files (its own test binary: the signal reaches the whole process,
//! and would reload the servers of other tests mid-assertion).

mod common;

use std::time::Duration;

use common::tls::{Pki, der, handshake};
use common::{sim_config, start_sim};
use defender_bridge::config::Config;
use defender_bridge::demo::service_args;
use defender_bridge::server;

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_files() {
    use tokio::signal::unix::{SignalKind, signal};
    // Our own handler first, so that a SIGHUP sent before the server's watch listens cannot
    // terminate the test process.
    let _ours = signal(SignalKind::hangup()).expect("SIGHUP handler");
    let pki = Pki::new();
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let mut args = service_args(&sim, &config, "127.0.0.1:0".parse().expect("addr"));
    pki.apply(&mut args, false);
    let server = server::spawn(Config::resolve(&args).expect("valid config"))
        .await
        .expect("server starts");
    let new = pki
        .ca
        .server(&["localhost", "127.0.0.1"])
        .expect("new cert");
    pki.replace_server(&new);
    // The file watch polls every 10 s; well before that, only SIGHUP reloads.
    let wanted = der(&new.cert_pem);
    let mut reloaded = false;
    for _ in 0..100 {
        let _ = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let seen = handshake(server.addr, &pki.ca.cert_pem, None)
            .await
            .expect("handshake");
        if seen.server_chain.first() == Some(&wanted) {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "SIGHUP did not reload the certificate");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}
