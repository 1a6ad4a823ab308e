//! Certificate rotation without a restart: files replaced in place (as cert-manager does) are
//! picked up by an explicit reload and by the file watch (SIGHUP: tests/tls_sighup.rs); calls in flight and open
//! connections are not disturbed; new handshakes get the new certificate; a broken reload keeps
//! the previous one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::risk::by_id;
use common::tls::{Pki, channel, der, handshake, write};
use common::{sim_config, start_sim};
use defender_bridge::config::Config;
use defender_bridge::demo::service_args;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::server::tls::Reload;
use defender_bridge::server::{self, RunningServer};
use defender_bridge::sim::SimHandle;
use rustls::pki_types::CertificateDer;

async fn start(pki: &Pki) -> (SimHandle, RunningServer) {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let mut args = service_args(&sim, &config, "127.0.0.1:0".parse().expect("addr"));
    pki.apply(&mut args, false);
    let server = server::spawn(Config::resolve(&args).expect("valid config"))
        .await
        .expect("server starts");
    (sim, server)
}

/// The leaf certificate a new connection is served.
async fn served_leaf(server: &RunningServer, pki: &Pki) -> CertificateDer<'static> {
    let seen = handshake(server.addr, &pki.ca.cert_pem, None)
        .await
        .expect("handshake");
    seen.server_chain
        .into_iter()
        .next()
        .expect("a server certificate")
}

/// Waits (bounded) until new connections are served `leaf`, doing `nudge` between tries.
pub async fn wait_for_leaf(
    server: &RunningServer,
    pki: &Pki,
    leaf: &CertificateDer<'static>,
    nudge: impl Fn(),
) {
    for _ in 0..100 {
        if served_leaf(server, pki).await == *leaf {
            return;
        }
        nudge();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new certificate was never served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_under_load_fails_no_call_and_new_connections_get_the_new_certificate() {
    let pki = Pki::new();
    let (sim, server) = start(&pki).await;
    let id = sim.fleet().sample_machine_id().to_string();
    let addr = server.addr;
    let shared = channel(addr, &pki.ca.cert_pem, None)
        .await
        .expect("connect");
    let (done, failed, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
        let (shared, id, ca) = (shared.clone(), id.clone(), pki.ca.cert_pem.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Workers 0-2 share one long-lived connection; worker 3 opens a new one each time.
                let channel = if worker < 3 {
                    Ok(shared.clone())
                } else {
                    channel(addr, &ca, None).await
                };
                let ok = match channel {
                    Ok(channel) => RiskServiceClient::new(channel)
                        .get_endpoint_risk(by_id(&id))
                        .await
                        .is_ok(),
                    Err(_) => false,
                };
                let counter = if ok { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let until = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    until(100).await;
    let old = served_leaf(&server, &pki).await;
    let new = pki
        .ca
        .server(&["localhost", "127.0.0.1"])
        .expect("new cert");
    pki.replace_server(&new);
    let reloader = server.tls_reloader().expect("a TLS server");
    assert_eq!(reloader.reload().expect("valid files"), Reload::Replaced);
    let reloaded_at = done.load(Ordering::Relaxed);
    until(reloaded_at + 200).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no call failed");
    let served = served_leaf(&server, &pki).await;
    assert_ne!(served, old);
    assert_eq!(served, der(&new.cert_pem));
    assert_eq!(reloader.reload().expect("same files"), Reload::Unchanged);
    // The long-lived connection opened before the reload still works.
    RiskServiceClient::new(shared)
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("old connection still serves");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_broken_reload_keeps_the_previous_certificate() {
    let pki = Pki::new();
    let (sim, server) = start(&pki).await;
    let original = der(&pki.server.cert_pem);
    let reloader = server.tls_reloader().expect("a TLS server");

    write(
        &pki.path("server.pem"),
        "-----BEGIN CERTIFICATE-----\nnope\n",
    );
    let err = reloader.reload().expect_err("garbage is refused");
    assert!(err.to_string().contains("server.pem"), "{err}");
    assert_eq!(served_leaf(&server, &pki).await, original);

    // A new certificate whose key has not been written yet (a rotation half done).
    let new = pki
        .ca
        .server(&["localhost", "127.0.0.1"])
        .expect("new cert");
    write(&pki.path("server.pem"), &new.cert_pem);
    let err = reloader.reload().expect_err("mismatched pair is refused");
    assert!(err.to_string().contains("does not match"), "{err}");
    assert_eq!(served_leaf(&server, &pki).await, original);
    reloader.reload_logged();
    assert_eq!(served_leaf(&server, &pki).await, original);

    write(&pki.path("server.key"), &new.key_pem);
    assert_eq!(reloader.reload().expect("complete"), Reload::Replaced);
    assert_eq!(served_leaf(&server, &pki).await, der(&new.cert_pem));
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}

#[tokio::test]
async fn changed_files_are_noticed_by_the_watch() {
    let pki = Pki::new();
    let (sim, server) = start(&pki).await;
    let reloader = server.tls_reloader().expect("a TLS server").clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watch = tokio::spawn(reloader.watch(Duration::from_millis(20), async move {
        let _ = stop_rx.await;
    }));
    let new = pki
        .ca
        .server(&["localhost", "127.0.0.1"])
        .expect("new cert");
    pki.replace_server(&new);
    wait_for_leaf(&server, &pki, &der(&new.cert_pem), || {}).await;
    let _ = stop_tx.send(());
    watch.await.expect("the watch stops");
    server.shutdown().await.expect("clean shutdown");
    sim.shutdown().await;
}
