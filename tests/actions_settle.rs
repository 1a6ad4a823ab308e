//! An uncertain action is never settled as "not taken" too early. Once an action POST may have
//! left, its outcome stays `unknown` until the action is found in Defender's list or the settle
//! window has passed; within it a retry with the same `request_id` waits and never POSTs, and
//! the audit log has an `unknown` outcome and then a `settled` record.

mod common;

use std::path::Path;
use std::time::Duration;

use common::actions::*;
use common::risk::{metadata, reason};
use common::{TestEnv, sim_config};
use defender_bridge::proto::{
    ListMachineActionsRequest, MachineActionType, RunAntivirusScanRequest, ScanType,
};
use defender_bridge::sim::{Fault, FaultKind};

fn on(path: &str, kind: FaultKind) -> Fault {
    Fault {
        kind,
        count: 1,
        path_contains: Some(path.into()),
    }
}

fn scan(machine_id: &str, request_id: &str) -> RunAntivirusScanRequest {
    RunAntivirusScanRequest {
        machine_id: machine_id.to_string(),
        comment: "suspicious binary".into(),
        scan_type: ScanType::Quick as i32,
        request_id: request_id.to_string(),
        ..Default::default()
    }
}

/// A service with an audit log at `path` and a settle window of `settle_secs`.
async fn start(path: &Path, settle_secs: u64) -> TestEnv {
    let path = path.to_path_buf();
    TestEnv::start_with(with_step(Duration::from_secs(600)), move |args| {
        args.audit_log = Some(path);
        args.action_settle_secs = Some(settle_secs);
    })
    .await
}

/// Defender's scans of `machine_id` whose stamp carries `request_id`.
async fn scans_with_request_id(env: &TestEnv, machine_id: &str, request_id: &str) -> usize {
    env.actions()
        .list_machine_actions(ListMachineActionsRequest {
            machine_id: machine_id.into(),
            r#type: MachineActionType::RunAntivirusScan as i32,
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .machine_actions
        .iter()
        .filter(|a| a.request_id == request_id)
        .count()
}

/// The audit records of the request `request_id`, as (event, result) pairs in file order.
fn audit_trail(path: &Path, request_id: &str) -> Vec<(String, String)> {
    audit_lines(path)
        .iter()
        .filter(|l| l["request_id"] == request_id)
        .map(|l| {
            (
                l["event"].as_str().unwrap_or_default().to_string(),
                l["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits (bounded) until the audit log holds a `settled` record for `request_id`.
async fn wait_for_settled(path: &Path, request_id: &str) -> serde_json::Value {
    for _ in 0..200 {
        if let Some(line) = audit_lines(path)
            .into_iter()
            .find(|l| l["request_id"] == request_id && l["event"] == "settled")
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no settled record for {request_id} within 20 s");
}

#[tokio::test]
async fn a_scan_that_reaches_defender_late_is_never_sent_twice_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let env = start(&audit, 60).await;
    let id = env.sample_machine_id();
    // A proxy holds the POST for 6 s: the service gives up on it (3 s deadline), and Defender
    // creates the scan after that.
    env.sim.inject(on(
        "/runAntiVirusScan",
        FaultKind::Latency { millis: 6_000 },
    ));
    let request_id = rid();
    let err = env
        .actions()
        .run_antivirus_scan(with_deadline(
            scan(&id, &request_id),
            Duration::from_secs(3),
        ))
        .await
        .expect_err("no answer in time");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err), "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        metadata(&err, "action_taken").as_deref(),
        Some("unknown"),
        "not settled as 'not taken' while the request may still arrive: {}",
        err.message()
    );
    assert!(metadata(&err, "settles_in_seconds").is_some());
    // An impatient retry with the same request id waits and does not POST.
    let impatient = env
        .actions()
        .run_antivirus_scan(with_deadline(
            scan(&id, &request_id),
            Duration::from_secs(1),
        ))
        .await
        .expect_err("still unsettled");
    assert_eq!(
        metadata(&impatient, "action_taken").as_deref(),
        Some("unknown")
    );
    assert_eq!(
        posts(&env.sim, "runAntiVirusScan").len(),
        1,
        "no second POST"
    );
    // A patient retry gets the scan Defender created late.
    let action = env
        .actions()
        .run_antivirus_scan(with_deadline(
            scan(&id, &request_id),
            Duration::from_secs(15),
        ))
        .await
        .expect("the late scan")
        .into_inner();
    assert_eq!(action.request_id, request_id);
    assert_eq!(
        posts(&env.sim, "runAntiVirusScan").len(),
        1,
        "never sent twice"
    );
    assert_eq!(scans_with_request_id(&env, &id, &request_id).await, 1);
    let settled = wait_for_settled(&audit, &request_id).await;
    assert_eq!(settled["result"], "succeeded");
    assert_eq!(settled["defender_action_id"], action.id.as_str());
    let trail = audit_trail(&audit, &request_id);
    assert_eq!(
        &trail[..3],
        &[
            ("requested".to_string(), "pending".to_string()),
            ("outcome".to_string(), "unknown".to_string()),
            ("settled".to_string(), "succeeded".to_string()),
        ],
        "{trail:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_late_action_without_a_request_id_still_gets_its_settled_audit_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let env = start(&audit, 60).await;
    let id = env.sample_machine_id();
    env.sim
        .inject(on("/isolate", FaultKind::Latency { millis: 5_000 }));
    let err = env
        .actions()
        .isolate_machine(with_deadline(
            isolate(&id, "contain", ""),
            Duration::from_secs(3),
        ))
        .await
        .expect_err("no answer in time");
    assert_eq!(metadata(&err, "action_taken").as_deref(), Some("unknown"));
    let mut settled = None;
    for _ in 0..200 {
        settled = audit_lines(&audit)
            .into_iter()
            .find(|l| l["event"] == "settled" && l["machine_id"] == id.as_str());
        if settled.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = settled.expect("a settled record within 20 s");
    assert_eq!(settled["result"], "succeeded");
    assert_eq!(settled["reconciled"], true);
    assert!(settled["defender_action_id"].is_string());
    env.stop().await;
}

#[tokio::test]
async fn an_isolate_whose_2xx_answer_is_cut_is_reconciled_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let env = start(&audit, 60).await;
    let id = env.sample_machine_id();
    // Defender isolates the machine, but its answer is cut in half on the way back.
    env.sim.inject(on("/isolate", FaultKind::CutBody));
    let request_id = rid();
    let action = env
        .actions()
        .isolate_machine(with_deadline(
            isolate(&id, "contain", &request_id),
            Duration::from_secs(10),
        ))
        .await
        .expect("reconciled to the action Defender took, not INTERNAL")
        .into_inner();
    assert_eq!(action.machine_id, id);
    assert_eq!(action.request_id, request_id);
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    let outcome = audit_lines(&audit)
        .into_iter()
        .find(|l| l["request_id"] == request_id.as_str() && l["event"] == "outcome")
        .expect("an outcome record");
    assert_eq!(outcome["result"], "succeeded", "{outcome}");
    assert_eq!(outcome["reconciled"], true);
    assert_eq!(outcome["defender_action_id"], action.id.as_str());
    env.stop().await;
}

#[tokio::test]
async fn a_post_that_never_arrives_settles_as_not_taken_after_the_window_and_may_then_be_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let env = start(&audit, 4).await;
    let id = env.sample_machine_id();
    env.sim.inject(on("/isolate", FaultKind::Hang));
    let request_id = rid();
    let request = isolate(&id, "contain", &request_id);
    let err = env
        .actions()
        .isolate_machine(with_deadline(request.clone(), Duration::from_secs(3)))
        .await
        .expect_err("no answer");
    assert_eq!(metadata(&err, "action_taken").as_deref(), Some("unknown"));
    // Within the window a retry does not POST.
    let within = env
        .actions()
        .isolate_machine(with_deadline(request.clone(), Duration::from_millis(800)))
        .await
        .expect_err("still unsettled");
    assert_eq!(
        metadata(&within, "action_taken").as_deref(),
        Some("unknown")
    );
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    let settled = wait_for_settled(&audit, &request_id).await;
    assert_eq!(settled["result"], "failed");
    assert_eq!(settled["error"]["reason"], "UPSTREAM_UNAVAILABLE");
    // Settled as not taken: the retry acts, once.
    let action = env
        .actions()
        .isolate_machine(with_deadline(request, Duration::from_secs(10)))
        .await
        .expect("retry acts")
        .into_inner();
    assert_eq!(action.machine_id, id);
    assert_eq!(posts(&env.sim, "isolate").len(), 2);
    env.stop().await;
}

#[tokio::test]
async fn the_settle_window_is_validated() {
    let sim = common::start_sim(sim_config()).await;
    let mut args = defender_bridge::demo::service_args(
        &sim,
        &sim_config(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    args.action_settle_secs = Some(0);
    let err = defender_bridge::config::Config::resolve(&args).expect_err("0 s is refused");
    assert!(err.to_string().contains("action_settle_secs"), "{err}");
    args.action_settle_secs = Some(86_400);
    assert!(defender_bridge::config::Config::resolve(&args).is_err());
    sim.shutdown().await;
}
