//! The binary as operators run it: `serve` logs never contain the client secret (even at trace
//! level, even when the token request fails), SIGTERM drains and exits 0, and `demo` serves the
//! API with zero configuration and prints grpcurl commands with a real machine id.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, terminate, wait_until_listening};
use common::{connect, sim_config, start_sim};
use defender_bridge::proto;
use defender_bridge::proto::action_service_client::ActionServiceClient;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::sim::SimConfig;

const SECRET: &str = "Zq8~unique-test-secret-value-7f3a";

/// Logs go to a file: a piped stderr that nobody reads fills up at trace level and blocks the
/// child.
fn spawn_serve(
    sim_base: &str,
    config: &SimConfig,
    secret: &str,
    port: u16,
    json: bool,
    log: &std::path::Path,
) -> Child {
    let log_file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .env("DEFENDER_BRIDGE_SHUTDOWN_GRACE_SECS", "2")
        .env("DEFENDER_BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        // Several of these tests (and other checkouts' runs) share the machine: no fixed port.
        .env("DEFENDER_BRIDGE_ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "DEFENDER_BRIDGE_LOG_FORMAT",
            if json { "json" } else { "human" },
        )
        .env("DEFENDER_API_URL", sim_base)
        .env("DEFENDER_LOGIN_URL", sim_base)
        .env("DEFENDER_GRAPH_URL", sim_base)
        .env("DEFENDER_TENANT_ID", &config.tenant_id)
        .env("DEFENDER_CLIENT_ID", &config.client_id)
        .env("DEFENDER_CLIENT_SECRET", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("spawn serve")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_secret_appears_in_no_log_line_and_sigterm_drains() {
    for (json, good) in [(false, true), (true, true), (false, false)] {
        let config = SimConfig {
            client_secret: SECRET.into(),
            ..sim_config()
        };
        let sim = start_sim(config.clone()).await;
        let port = free_port();
        let used_secret = if good {
            SECRET.to_string()
        } else {
            format!("{SECRET}-wrong")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("serve.log");
        let mut child = spawn_serve(&sim.base_url(), &config, &used_secret, port, json, &log);
        wait_until_listening(port).await;
        let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
        let resp = RiskServiceClient::new(channel.clone())
            .check_connection(proto::CheckConnectionRequest::default())
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(resp.token.expect("token").ok, good);
        if good {
            // Without an audit log file, the action's audit records go to the log.
            ActionServiceClient::new(channel)
                .run_antivirus_scan(proto::RunAntivirusScanRequest {
                    machine_id: sim.fleet().sample_machine_id().to_string(),
                    comment: "log format check".into(),
                    ..Default::default()
                })
                .await
                .expect("scan");
        }
        let code = tokio::task::spawn_blocking(move || {
            let code = terminate(&mut child);
            (code, child)
        })
        .await
        .expect("join");
        let (code, _child) = code;
        let logs = std::fs::read_to_string(&log).expect("read logs");
        assert_eq!(code, 0, "graceful exit after SIGTERM; logs:\n{logs}");
        assert!(logs.contains("SIGTERM"), "shutdown is logged:\n{logs}");
        assert!(
            logs.lines().count() > 3,
            "trace logging produced output:\n{logs}"
        );
        assert!(
            !logs.contains(SECRET),
            "the secret leaked into the logs:\n{logs}"
        );
        if json {
            for line in logs.lines() {
                assert_no_duplicate_keys(line);
            }
            let audit: Vec<serde_json::Value> = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|l| l["target"] == "defender_bridge::audit")
                .collect();
            assert!(audit.len() >= 2, "requested and outcome records:\n{logs}");
            for line in &audit {
                assert!(
                    line["record"].is_object(),
                    "an object, not a string: {line}"
                );
            }
            // One access line per RPC, inside the call's `rpc` span.
            let access: Vec<serde_json::Value> = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|l| l["target"] == "defender_bridge::access")
                .collect();
            let methods: Vec<&str> = access
                .iter()
                .filter_map(|l| l["spans"][0]["method"].as_str())
                .collect();
            assert_eq!(
                methods,
                [
                    "/defenderbridge.v1.RiskService/CheckConnection",
                    "/defenderbridge.v1.ActionService/RunAntivirusScan"
                ],
                "{logs}"
            );
            for line in &access {
                assert_eq!(line["level"], "INFO", "{line}");
                assert_eq!(line["code"], "OK", "{line}");
                assert_eq!(line["spans"][0]["name"], "rpc", "{line}");
                assert_eq!(line["spans"][0]["caller"], "anonymous", "{line}");
                assert_eq!(line["tenant"], config.tenant_id.as_str(), "{line}");
                assert!(line["duration_ms"].as_f64().is_some(), "{line}");
                assert!(
                    line["upstream_calls"].as_u64().is_some_and(|n| n >= 1),
                    "{line}"
                );
            }
        } else {
            assert!(
                !logs.contains('\u{1b}'),
                "no terminal colours in a log file:\n{logs}"
            );
            let access = logs
                .lines()
                .filter(|l| l.contains("defender_bridge::access") && l.contains("rpc finished"))
                .count();
            assert_eq!(access, if good { 2 } else { 1 }, "{logs}");
        }
        sim.shutdown().await;
    }
}

/// Fails unless `line` is one JSON object in which no object has a key twice.
fn assert_no_duplicate_keys(line: &str) {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Checked;
    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CheckedVisitor)
        }
    }
    struct CheckedVisitor;
    impl<'de> Visitor<'de> for CheckedVisitor {
        type Value = Checked;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                }
                map.next_value::<Checked>()?;
            }
            Ok(Checked)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_unit<E>(self) -> Result<Checked, E> {
            Ok(Checked)
        }
    }
    assert!(
        line.trim_start().starts_with('{'),
        "not a JSON object: {line}"
    );
    if let Err(err) = serde_json::from_str::<Checked>(line) {
        panic!("{err}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_with_zero_configuration_and_prints_grpcurl_commands() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--machines",
            "300",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let Ok(line) = line else { break };
            let done = line.contains("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || reader.for_each(drop));
        lines.join("\n")
    })
    .await
    .expect("banner");
    assert!(
        banner.contains(&format!("grpcurl -plaintext 127.0.0.1:{port} list")),
        "{banner}"
    );
    let id_line = banner
        .lines()
        .find(|l| l.contains("GetEndpointRisk"))
        .expect("a GetEndpointRisk example");
    let id: String = id_line
        .split("\"machine_id\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("machine id in the example")
        .to_string();
    assert_eq!(id.len(), 40);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let resp = RiskServiceClient::new(channel)
        .check_connection(proto::CheckConnectionRequest::default())
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.ready, "the demo's simulator grants every permission");
    // The admin listener, on a free port named in the banner.
    let metrics_url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:") && w.ends_with("/metrics"))
        .unwrap_or_else(|| panic!("an admin /metrics URL in the banner:\n{banner}"));
    defender_bridge::tls::install_crypto_provider();
    let text = reqwest::get(metrics_url)
        .await
        .expect("admin answers")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("rpc_server_call_duration_seconds_count{rpc_method=\"defenderbridge.v1.RiskService/CheckConnection\",rpc_response_status_code=\"OK\"} 1"),
        "{text}"
    );
    let code = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .expect("join");
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_stream_cannot_hold_shutdown_past_the_grace_period() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let mut cmd_child = spawn_serve(
        &sim.base_url(),
        &config,
        &config.client_secret,
        port,
        false,
        &log,
    );
    wait_until_listening(port).await;
    let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    // Health/Watch never ends by itself: graceful shutdown alone would wait for it forever.
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    assert!(watch.message().await.expect("first status").is_some());
    let started = Instant::now();
    let code = tokio::task::spawn_blocking(move || terminate(&mut cmd_child))
        .await
        .expect("join");
    assert_eq!(code, 0);
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(logs.contains("drain period over"), "{logs}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(watch);
    sim.shutdown().await;
}
