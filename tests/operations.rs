//! The admin listener as Prometheus and an orchestrator use it, over real sockets: `/metrics`
//! after real calls (and `promtool check metrics` on its text), `/healthz`, `/readyz` (pending,
//! ready, failed token, disabled integration), and `off`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::risk::{by_id, fleet_stream};
use common::{TestEnv, sim_config};
use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::proto::{self, StreamFleetRiskRequest};
use defender_bridge::server;
use reqwest::StatusCode;

async fn get(admin: SocketAddr, path: &str) -> (StatusCode, String, String) {
    defender_bridge::tls::install_crypto_provider();
    let response = reqwest::Client::new()
        .get(format!("http://{admin}{path}"))
        .send()
        .await
        .expect("admin listener answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

/// Every sample of the exposition: `name{labels}` -> value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the one sample whose series starts with `name{` and contains every label.
fn value(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let prefix = format!("{name}{{");
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(series, _)| series.starts_with(&prefix) || *series == name)
        .filter(|(series, _)| {
            labels
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "exactly one {name} series with {labels:?}; samples: {:#?}",
        samples
            .keys()
            .filter(|k| k.starts_with(name))
            .collect::<Vec<_>>()
    );
    matching[0]
}

/// `promtool`: `$PROMTOOL`, else `.tools/bin/promtool`, else on PATH. Missing is a failure with
/// the way to install it: CI installs it (`scripts/install-tools.sh`), so a silent skip would
/// hide a broken exposition.
fn promtool() -> String {
    if let Ok(path) = std::env::var("PROMTOOL") {
        return path;
    }
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/bin/promtool");
    if std::path::Path::new(local).exists() {
        return local.to_string();
    }
    let on_path = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        on_path,
        "promtool not found: run scripts/install-tools.sh (Debian package `prometheus`) or set PROMTOOL"
    );
    "promtool".to_string()
}

fn promtool_check(text: &str) {
    use std::io::Write as _;
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- text ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool prints lint findings (and still exits 0 for some): there must be none.
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool findings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_count_real_calls_and_pass_promtool() {
    let env = TestEnv::start(sim_config()).await;
    let admin = env
        .server
        .admin_addr()
        .expect("admin listener on by default");
    assert_ne!(admin, env.server.addr, "not on the gRPC port");
    let id = env.sample_machine_id();

    // A miss, then a hit.
    env.endpoint_risk(by_id(&id)).await;
    env.endpoint_risk(by_id(&id)).await;
    // Bad input: INVALID_ARGUMENT, no upstream call.
    let err = env
        .risk()
        .get_endpoint_risk(by_id("not-a-machine-id"))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // A stream.
    let (risks, _) = fleet_stream(&env, StreamFleetRiskRequest::default()).await;
    // An action.
    env.actions()
        .run_antivirus_scan(proto::RunAntivirusScanRequest {
            machine_id: id.clone(),
            comment: "metrics test".into(),
            ..Default::default()
        })
        .await
        .expect("scan");
    // A method nobody serves: counted as _OTHER, never by its caller-chosen name.
    let mut grpc = tonic::client::Grpc::new(env.channel.clone());
    grpc.ready().await.expect("ready");
    let unknown: Result<tonic::Response<proto::EndpointRisk>, _> = grpc
        .unary(
            tonic::Request::new(by_id(&id)),
            http::uri::PathAndQuery::from_static("/defenderbridge.v1.RiskService/NoSuchMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    assert_eq!(
        unknown.expect_err("unimplemented").code(),
        tonic::Code::Unimplemented
    );

    let (status, content_type, text) = get(admin, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    promtool_check(&text);
    let s = samples(&text);
    let risk = "defenderbridge.v1.RiskService/GetEndpointRisk";
    let count = "rpc_server_call_duration_seconds_count";
    let of = |method, code| [("rpc_method", method), ("rpc_response_status_code", code)];
    assert_eq!(value(&s, count, &of(risk, "OK")), 2.0);
    assert_eq!(value(&s, count, &of(risk, "INVALID_ARGUMENT")), 1.0);
    assert_eq!(value(&s, count, &of("_OTHER", "UNIMPLEMENTED")), 1.0);
    assert!(
        !text.contains("NoSuchMethod"),
        "no caller-chosen label values"
    );
    assert!(!text.contains(&id), "no machine ids as labels");
    let fleet = "defenderbridge.v1.RiskService/StreamFleetRisk";
    assert_eq!(value(&s, count, &of(fleet, "OK")), 1.0);
    assert_eq!(
        value(
            &s,
            "rpc_server_stream_messages_sent_total",
            &[("rpc_method", fleet)]
        ),
        (risks.len() + 1) as f64,
        "every risk and the summary"
    );
    assert_eq!(
        value(
            &s,
            "defender_bridge_fleet_sweeps_total",
            &[("outcome", "ok")]
        ),
        1.0,
        "the stream's bulk read of alerts and vulnerabilities"
    );
    assert_eq!(
        value(
            &s,
            "defender_bridge_fleet_sweep_duration_seconds_count",
            &[]
        ),
        1.0
    );
    // The scrape itself is not a gRPC call: nothing is in flight now.
    assert_eq!(
        value(&s, "rpc_server_active_calls", &[("rpc_method", risk)]),
        0.0
    );
    // One miss and one hit in the risk cache.
    assert_eq!(
        value(&s, "defender_bridge_cache_hits_total", &[("cache", "risk")]),
        1.0
    );
    assert!(
        value(
            &s,
            "defender_bridge_cache_misses_total",
            &[("cache", "risk")]
        ) >= 1.0
    );
    // Defender calls as the simulator saw them: the machine family is GET /api/machines and
    // GET /api/machines/{id} (the machine's vulnerabilities and alerts are other families).
    let machine_gets = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.status == 200)
        .filter(|r| {
            r.path == "/api/machines"
                || r.path
                    .strip_prefix("/api/machines/")
                    .is_some_and(|rest| !rest.contains('/'))
        })
        .count();
    assert!(machine_gets >= 2, "the look-up and the fleet's list");
    assert_eq!(
        value(
            &s,
            "defender_request_duration_seconds_count",
            &[("api", "machines"), ("status", "200")]
        ),
        machine_gets as f64
    );
    assert_eq!(
        value(&s, "defender_token_requests_total", &[]),
        common::token_requests(&env.sim, "securitycenter") as f64
    );
    assert_eq!(value(&s, "defender_token_request_failures_total", &[]), 0.0);
    let tenant = env.sim_config.tenant_id.clone();
    let left = value(
        &s,
        "defender_rate_budget_remaining",
        &[
            ("tenant", &tenant),
            ("api", "machines"),
            ("window", "minute"),
        ],
    );
    assert!(left < 90.0, "the calls made spent budget: {left}");
    assert_eq!(
        value(
            &s,
            "defender_bridge_actions_total",
            &[("action", "RunAntiVirusScan"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "defender_bridge_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    env.stop().await;
}

#[tokio::test]
async fn health_and_readiness_follow_the_token() {
    // Ready before the first token request (pending), and after a good one.
    let env = TestEnv::start(sim_config()).await;
    let admin = env.server.admin_addr().expect("admin");
    assert_eq!(get(admin, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(admin, "/readyz").await.0, StatusCode::OK);
    env.endpoint_risk(by_id(&env.sample_machine_id())).await;
    assert_eq!(get(admin, "/readyz").await.0, StatusCode::OK);
    assert_eq!(get(admin, "/nope").await.0, StatusCode::NOT_FOUND);
    env.stop().await;

    // A refused secret: alive, not ready, and the failure is counted.
    let env = TestEnv::start_with(sim_config(), |args| {
        args.client_secret = Some("wrong-secret".to_string().into());
    })
    .await;
    let admin = env.server.admin_addr().expect("admin");
    let err = env
        .risk()
        .get_endpoint_risk(by_id(&env.sample_machine_id()))
        .await
        .expect_err("bad secret");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(get(admin, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(admin, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("token"), "{body}");
    assert!(!body.contains("wrong-secret"), "{body}");
    let (_, _, text) = get(admin, "/metrics").await;
    assert!(!text.contains("wrong-secret"));
    assert!(
        value(
            &samples(&text),
            "defender_token_request_failures_total",
            &[]
        ) >= 1.0
    );
    env.stop().await;
}

#[tokio::test]
async fn disabled_integration_is_not_ready_and_off_turns_the_listener_off() {
    let args = ServeArgs {
        enabled: Some(false),
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..ServeArgs::default()
    };
    let running = server::spawn(Config::resolve(&args).expect("config"))
        .await
        .expect("starts");
    let admin = running.admin_addr().expect("admin");
    assert_eq!(get(admin, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(admin, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("disabled"), "{body}");
    running.shutdown().await.expect("stops");
    // The admin port is closed with the server.
    assert!(tokio::net::TcpStream::connect(admin).await.is_err());

    let off = ServeArgs {
        admin_listen: Some("off".into()),
        ..args
    };
    let running = server::spawn(Config::resolve(&off).expect("config"))
        .await
        .expect("starts");
    assert_eq!(running.admin_addr(), None);
    running.shutdown().await.expect("stops");
}

/// Waits (bounded) until `/metrics` shows `name{labels}` at `want`.
async fn wait_for_value(admin: SocketAddr, name: &str, labels: &[(&str, &str)], want: f64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, _, text) = get(admin, "/metrics").await;
        let found = samples(&text)
            .iter()
            .filter(|(series, _)| series.starts_with(&format!("{name}{{")))
            .filter(|(series, _)| {
                labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, v)| *v)
            .next();
        if found == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}{labels:?} is {found:?}, not {want}:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reconciliations_of_lost_answers_are_counted_by_outcome() {
    use common::actions::{isolate, rid};
    use defender_bridge::sim::{Fault, FaultKind};
    const RECONCILED: &str = "defender_bridge_action_reconciliations_total";
    // A one-second settle window: an action that never shows up settles as not taken soon.
    let env = TestEnv::start_with(sim_config(), |args| args.action_settle_secs = Some(1)).await;
    let admin = env.server.admin_addr().expect("admin listener");
    let id = env.sample_machine_id();
    let (_, _, text) = get(admin, "/metrics").await;
    let all = samples(&text);
    for outcome in ["found", "found_late", "not_taken", "unknown"] {
        assert_eq!(
            value(&all, RECONCILED, &[("outcome", outcome)]),
            0.0,
            "{outcome}"
        );
    }

    // Defender acts but its answer is cut: found in its list at the first look.
    env.sim.inject(Fault {
        kind: FaultKind::CutBody,
        count: 1,
        path_contains: Some("/isolate".into()),
    });
    env.actions()
        .isolate_machine(isolate(&id, "cut answer", &rid()))
        .await
        .expect("reconciled to the action Defender created");
    wait_for_value(admin, RECONCILED, &[("outcome", "found")], 1.0).await;

    // A 503 on the POST: Defender did not act; the caller hears UNAVAILABLE at once and the
    // action settles as not taken when the window ends.
    let other = env
        .sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .find(|m| *m != id)
        .expect("another machine");
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        count: 1,
        path_contains: Some("/isolate".into()),
    });
    let err = env
        .actions()
        .isolate_machine(isolate(&other, "gateway failed", &rid()))
        .await
        .expect_err("not confirmed");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    wait_for_value(admin, RECONCILED, &[("outcome", "not_taken")], 1.0).await;
    let (_, _, text) = get(admin, "/metrics").await;
    let all = samples(&text);
    assert_eq!(value(&all, RECONCILED, &[("outcome", "found")]), 1.0);
    assert_eq!(value(&all, RECONCILED, &[("outcome", "unknown")]), 0.0);
    promtool_check(&text);
    env.stop().await;
}
