//! Audit and cache side effects of actions: one complete audit record per action, durable
//! across a restart, without secrets; fail closed when the audit log cannot be written; and the
//! machine's cached risk dropped after an action.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::actions::*;
use common::risk::{by_id, calls, metadata, reason};
use common::{TestEnv, sim_config};
use defender_bridge::config::Config;
use defender_bridge::demo::service_args;
use defender_bridge::proto::{
    CancelMachineActionRequest, ReleaseMachineRequest, RunAntivirusScanRequest, ScanType,
};
use defender_bridge::server::{self, ServerError};
use defender_bridge::sim::{Fault, FaultKind};

const RECORD_KEYS: [&str; 16] = [
    "time",
    "event",
    "audit_id",
    "caller",
    "request_id",
    "tenant",
    "machine_id",
    "action",
    "parameters",
    "comment",
    "defender_comment",
    "defender_action_id",
    "defender_status",
    "result",
    "reconciled",
    "error",
];

fn outcomes(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines.iter().filter(|l| l["event"] == "outcome").collect()
}

#[tokio::test]
async fn every_action_has_one_complete_record_that_survives_a_restart_and_holds_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let mut env = start_audited(with_step(Duration::from_secs(600)), &path).await;
    let machines = windows_machines(&env.sim, 2);
    let request_id = rid();
    let mut request = tonic::Request::new(isolate(&machines[0], "beaconing to C2", &request_id));
    request
        .metadata_mut()
        .insert("x-caller-id", "soar@corp".parse().expect("ascii"));
    let isolated = env.isolated(request).await;
    let scanned = env
        .actions()
        .run_antivirus_scan(RunAntivirusScanRequest {
            machine_id: machines[1].clone(),
            comment: "sweep".into(),
            scan_type: ScanType::Full as i32,
            ..Default::default()
        })
        .await
        .expect("scan")
        .into_inner();
    let lines = audit_lines(&path);
    assert_eq!(lines.len(), 4, "requested + outcome per action: {lines:#?}");
    for line in &lines {
        for key in RECORD_KEYS {
            assert!(line.get(key).is_some(), "`{key}` missing in {line}");
        }
    }
    let done = outcomes(&lines);
    assert_eq!(done.len(), 2);
    let isolate_record = done
        .iter()
        .find(|l| l["defender_action_id"] == isolated.id.as_str())
        .expect("isolation audited");
    assert_eq!(isolate_record["result"], "succeeded");
    assert_eq!(isolate_record["action"], "Isolate");
    assert_eq!(isolate_record["machine_id"], machines[0].as_str());
    assert_eq!(isolate_record["request_id"], request_id.as_str());
    assert_eq!(isolate_record["comment"], "beaconing to C2");
    assert_eq!(isolate_record["parameters"]["isolation_type"], "Full");
    assert_eq!(
        isolate_record["caller"]["principal"],
        "unverified:soar@corp"
    );
    assert!(
        isolate_record["caller"]["peer"]
            .as_str()
            .expect("peer")
            .starts_with("127.0.0.1:")
    );
    assert_eq!(isolate_record["tenant"], env.sim_config.tenant_id.as_str());
    assert_eq!(isolate_record["defender_status"], "Pending");
    let scan_record = done
        .iter()
        .find(|l| l["defender_action_id"] == scanned.id.as_str())
        .expect("scan audited");
    assert_eq!(scan_record["parameters"]["scan_type"], "Full");
    // Each outcome has its `requested` record, written before it.
    let requested: HashSet<&str> = lines
        .iter()
        .filter(|l| l["event"] == "requested")
        .filter_map(|l| l["audit_id"].as_str())
        .collect();
    assert!(
        done.iter()
            .all(|l| requested.contains(l["audit_id"].as_str().unwrap_or("")))
    );

    // A restart appends to the same file.
    restart(&mut env, Some(path.clone())).await;
    env.actions()
        .release_machine(ReleaseMachineRequest {
            machine_id: machines[1].clone(),
            comment: "clean".into(),
            ..Default::default()
        })
        .await
        .expect("released");
    let lines = audit_lines(&path);
    assert_eq!(lines.len(), 6);
    assert_eq!(outcomes(&lines).len(), 3);
    assert_eq!(lines[0], audit_lines(&path)[0], "earlier records are kept");

    // Nothing secret: not the client secret, not a bearer token the service used.
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains(&env.sim_config.client_secret));
    assert!(!text.contains("Bearer"));
    for record in env.sim.requests() {
        if let Some(token) = record
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
        {
            assert!(!text.contains(token), "a token leaked into the audit log");
        }
    }
    env.stop().await;
}

#[tokio::test]
async fn failures_and_replays_are_audited_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let env = start_audited(with_step(Duration::from_secs(600)), &path).await;
    let id = env.sample_machine_id();
    let request = isolate(&id, "contain", &rid());
    let first = env.isolated(request.clone()).await;
    env.actions()
        .isolate_machine(request)
        .await
        .expect("replayed");
    env.actions()
        .isolate_machine(isolate(&id, "again", ""))
        .await
        .expect_err("already pending");
    env.actions()
        .cancel_machine_action(CancelMachineActionRequest {
            action_id: first.id.clone(),
            comment: "false positive".into(),
            ..Default::default()
        })
        .await
        .expect("cancelled");
    let lines = audit_lines(&path);
    let events: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or(""),
                l["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("requested", "pending"),
            ("outcome", "succeeded"),
            ("replayed", "replayed"),
            ("requested", "pending"),
            ("outcome", "failed"),
            ("requested", "pending"),
            ("outcome", "succeeded"),
        ]
    );
    assert_eq!(lines[4]["error"]["reason"], "ACTION_ALREADY_PENDING");
    assert_eq!(lines[4]["defender_action_id"], first.id.as_str());
    assert_eq!(lines[6]["action"], "Cancel");
    assert_eq!(lines[6]["machine_id"], id.as_str());
    assert_eq!(lines[6]["defender_status"], "Cancelled");
    env.stop().await;
}

#[tokio::test]
async fn an_audit_log_that_cannot_be_opened_stops_the_start() {
    let sim = common::start_sim(sim_config()).await;
    let mut args = service_args(&sim, &sim_config(), "127.0.0.1:0".parse().expect("addr"));
    args.audit_log = Some("/nonexistent-dir/audit.jsonl".into());
    let config = Config::resolve(&args).expect("valid config");
    match server::spawn(config).await {
        Err(ServerError::Audit(err)) => assert!(err.to_string().contains("nonexistent-dir")),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("started without its audit log"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_audit_log_that_cannot_be_written_refuses_the_action_before_defender_is_asked() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let env = start_audited(sim_config(), std::path::Path::new("/dev/full")).await;
    let id = env.sample_machine_id();
    let err = env
        .actions()
        .isolate_machine(isolate(&id, "contain", &rid()))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(reason(&err), "AUDIT_LOG_UNAVAILABLE");
    assert_eq!(metadata(&err, "action_id"), None);
    assert!(
        posts(&env.sim, "isolate").is_empty(),
        "nothing was sent to Defender"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_action_drops_the_machines_cached_risk() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let machine_gets =
        || calls(&env.sim, &format!("/api/machines/{id}")) - posts(&env.sim, "isolate").len();
    env.risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("risk");
    let cached = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("risk")
        .into_inner();
    assert!(cached.cached);
    let before = machine_gets();
    env.actions()
        .isolate_machine(isolate(&id, "contain", ""))
        .await
        .expect("isolated");
    let fresh = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("risk")
        .into_inner();
    assert!(!fresh.cached, "the risk was read again after the isolation");
    assert!(machine_gets() > before);
    env.stop().await;
}

#[tokio::test]
async fn an_ambiguous_failure_drops_the_cached_risk_too() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("risk");
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 502,
            retry_after: None,
        },
        count: 1,
        path_contains: Some("/isolate".into()),
    });
    env.actions()
        .isolate_machine(isolate(&id, "contain", ""))
        .await
        .expect_err("502");
    let fresh = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("risk")
        .into_inner();
    assert!(!fresh.cached);
    env.stop().await;
}
