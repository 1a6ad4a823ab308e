//! SIGHUP to a running `serve` process re-reads its files without a restart: a rotated client
//! secret is used by the next token request, a new log filter file takes effect, a broken one
//! keeps the previous filter, the callers file is re-read, and `/metrics` shows every reload
//! with its result. (SIGHUP and the TLS files: `tls_sighup.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::process::{
    Reaper, free_port, metrics_text, sample, signal, spawn_serve, wait_until_listening,
};
use common::{connect, sim_config, start_sim};
use defender_bridge::proto::CheckConnectionRequest;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::sim::SimConfig;

const SECRET: &str = "Zq8~reload-test-secret-value-93d1";

/// Waits (bounded) until `/metrics` has `name{labels}` equal to `want`; returns the text.
async fn wait_for_sample(admin: u16, name: &str, labels: &[(&str, &str)], want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics_text(admin).await;
        if sample(&text, name, labels) == Some(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Token requests the simulator answered with `status`.
fn token_answers(sim: &defender_bridge::sim::SimHandle, status: u16) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token") && r.status == status)
        .count()
}

fn access_lines(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .expect("log")
        .lines()
        .filter(|l| l.contains("rpc finished") && l.contains("CheckConnection"))
        .count()
}

/// Waits (bounded) until the log holds `want` access lines: lines reach the file from a
/// batching writer thread, a moment after the call.
async fn wait_for_access_lines(log: &std::path::Path, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while access_lines(log) < want {
        assert!(
            Instant::now() < deadline,
            "{want} access lines expected:\n{}",
            std::fs::read_to_string(log).expect("log")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const RELOADS: &str = "defender_bridge_config_reloads_total";

/// `CheckConnection` as the callers file's admin.
fn as_admin(key: &str) -> tonic::Request<CheckConnectionRequest> {
    let mut request = tonic::Request::new(CheckConnectionRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("metadata"),
    );
    request
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sighup_rereads_the_secret_and_the_log_filter_and_counts_it() {
    let config = SimConfig {
        client_secret: SECRET.into(),
        ..sim_config()
    };
    let sim = start_sim(config.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("client-secret");
    let filter_file = dir.path().join("log-filter");
    let callers_file = dir.path().join("callers.toml");
    let (key, entry) =
        defender_bridge::auth::api_key::keygen("ops", &["admin".into()]).expect("key");
    std::fs::write(&callers_file, entry).expect("write");
    let log = dir.path().join("serve.log");
    // A secret that Entra (the simulator) refuses, and access lines filtered out.
    std::fs::write(&secret_file, "an-old-revoked-secret\n").expect("write");
    std::fs::write(
        &filter_file,
        "# what the service logs\ninfo\ndefender_bridge::access=warn\n",
    )
    .expect("write");
    let (port, admin) = (free_port(), free_port());
    let child = spawn_serve(
        &sim,
        &config,
        port,
        admin,
        &log,
        &[
            (
                "DEFENDER_CLIENT_SECRET_FILE",
                secret_file.display().to_string(),
            ),
            (
                "DEFENDER_BRIDGE_LOG_FILTER_FILE",
                filter_file.display().to_string(),
            ),
            (
                "DEFENDER_BRIDGE_CALLERS",
                callers_file.display().to_string(),
            ),
            // Ignored: the filter file decides.
            ("RUST_LOG", "trace".into()),
        ],
    );
    let mut server = Reaper(Some(child));
    wait_until_listening(port).await;
    let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let mut risk = RiskServiceClient::new(channel);

    let before = risk
        .check_connection(as_admin(&key))
        .await
        .expect("rpc")
        .into_inner();
    assert!(
        !before.token.expect("token").ok,
        "the old secret is refused"
    );
    assert_eq!(token_answers(&sim, 200), 0);
    let text = metrics_text(admin).await;
    assert_eq!(
        sample(
            &text,
            "defender_bridge_config_last_reload_timestamp_seconds",
            &[]
        ),
        Some(0.0),
        "no reload yet"
    );

    // Rotate the secret and lift the filter, then SIGHUP.
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write");
    std::fs::write(&filter_file, "info\n").expect("write");
    signal(server.child(), "HUP");
    let text = wait_for_sample(
        admin,
        RELOADS,
        &[("what", "credential"), ("result", "applied")],
        1.0,
    )
    .await;
    assert_eq!(
        sample(
            &text,
            RELOADS,
            &[("what", "log_filter"), ("result", "applied")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "defender_bridge_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let at = sample(
        &text,
        "defender_bridge_config_last_reload_timestamp_seconds",
        &[],
    )
    .expect("timestamp");
    assert!(at > 1.6e9, "a Unix time: {at}");
    // The callers file is re-read too (it did not change); there are no TLS files, so that
    // part is not counted.
    assert_eq!(
        sample(
            &text,
            RELOADS,
            &[("what", "callers"), ("result", "unchanged")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("what=\"tls\""), "{text}");

    let after = risk
        .check_connection(as_admin(&key))
        .await
        .expect("rpc")
        .into_inner();
    assert!(after.token.expect("token").ok, "the new secret is used");
    assert!(
        token_answers(&sim, 200) >= 1,
        "Entra accepted the new secret"
    );
    wait_for_access_lines(&log, 1).await;

    // The same files again: unchanged. Then a filter that does not parse: the previous filter
    // stays, and the reload is reported as failed.
    signal(server.child(), "HUP");
    wait_for_sample(
        admin,
        RELOADS,
        &[("what", "credential"), ("result", "unchanged")],
        1.0,
    )
    .await;
    std::fs::write(&filter_file, "defender_bridge=loud\n").expect("write");
    signal(server.child(), "HUP");
    let text = wait_for_sample(
        admin,
        RELOADS,
        &[("what", "log_filter"), ("result", "failed")],
        1.0,
    )
    .await;
    assert_eq!(
        sample(&text, "defender_bridge_config_last_reload_successful", &[]),
        Some(0.0),
        "{text}"
    );
    risk.check_connection(as_admin(&key)).await.expect("rpc");
    // The previous filter (info) is still in force.
    wait_for_access_lines(&log, 2).await;

    assert_eq!(server.terminate().await, 0, "graceful exit");
    // Everything is written at exit: the first call, under the first filter, left no line.
    assert_eq!(
        access_lines(&log),
        2,
        "one line for each call after the first reload"
    );
    let logs = std::fs::read_to_string(&log).expect("log");
    assert!(!logs.contains(SECRET), "the secret is never logged");
    sim.shutdown().await;
}
