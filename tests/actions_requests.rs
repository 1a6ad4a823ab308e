//! Isolate, release and scan through gRPC against the simulator: the answer, the exact POST
//! bodies Defender receives, the stamped comment, input checks that cost no upstream call,
//! a missing permission, and an action already pending.

mod common;

use common::actions::*;
use common::risk::{bad_fields, metadata, reason, with_roles};
use common::{TestEnv, sim_config};
use defender_bridge::proto::{
    self, IsolationType, MachineActionStatus, MachineActionType, ReleaseMachineRequest,
    RunAntivirusScanRequest, ScanType,
};
use std::time::Duration;

#[tokio::test]
async fn isolate_returns_the_pending_action_with_every_field() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let request_id = rid();
    let mut request = tonic::Request::new(isolate(&id, "suspicious beaconing", &request_id));
    request
        .metadata_mut()
        .insert("x-caller-id", "soar-playbook-7".parse().expect("ascii"));
    let action = env.isolated(request).await;
    assert!(uuid::Uuid::parse_str(&action.id).is_ok(), "{}", action.id);
    assert_eq!(action.r#type, MachineActionType::Isolate as i32);
    assert_eq!(action.type_name, "Isolate");
    assert_eq!(action.scope, "Full");
    assert_eq!(status_of(&action), MachineActionStatus::Pending);
    assert_eq!(action.status_name, "Pending");
    assert_eq!(action.machine_id, id);
    assert!(!action.computer_dns_name.is_empty());
    assert_eq!(action.requestor, env.sim_config.client_id);
    assert!(action.creation_date_time_utc.is_some());
    assert!(action.last_update_date_time_utc.is_some());
    assert_eq!(action.request_id, request_id);
    // Defender records only the app: the comment carries who asked, and the request id.
    let comment = &action.requestor_comment;
    assert!(
        comment.starts_with("suspicious beaconing [defender-bridge "),
        "{comment}"
    );
    assert!(
        comment.contains("caller=unverified:soar-playbook-7"),
        "{comment}"
    );
    assert!(comment.contains("peer=127.0.0.1:"), "{comment}");
    assert!(
        comment.contains(&format!("request_id={request_id}")),
        "{comment}"
    );
    env.stop().await;
}

#[tokio::test]
async fn isolation_types_send_exactly_comment_and_isolation_type() {
    let env = TestEnv::start(sim_config()).await;
    let machines = windows_machines(&env.sim, 4);
    let cases = [
        (IsolationType::Full, "Full"),
        (IsolationType::Selective, "Selective"),
        (IsolationType::UnmanagedDevice, "UnManagedDevice"),
        (IsolationType::Unspecified, "Full"),
    ];
    for ((isolation, wire), machine) in cases.into_iter().zip(&machines) {
        env.sim.clear_requests();
        let mut request = isolate(machine, "contain", "");
        request.isolation_type = isolation as i32;
        let action = env.isolated(request).await;
        assert_eq!(action.scope, wire);
        let sent = posts(&env.sim, "isolate");
        assert_eq!(sent.len(), 1, "{isolation:?}");
        assert_eq!(sent[0].path, format!("/api/machines/{machine}/isolate"));
        let body = body(&sent[0]);
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["Comment", "IsolationType"], "{isolation:?}");
        assert_eq!(body["IsolationType"], wire, "{isolation:?}");
        let comment = body["Comment"].as_str().expect("string");
        assert!(
            comment.starts_with("contain [defender-bridge caller=anonymous"),
            "{comment}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn scan_types_send_exactly_comment_and_scan_type() {
    let env = TestEnv::start(sim_config()).await;
    let machines = windows_machines(&env.sim, 3);
    let cases = [
        (ScanType::Quick, "Quick"),
        (ScanType::Full, "Full"),
        (ScanType::Unspecified, "Quick"),
    ];
    for ((scan, wire), machine) in cases.into_iter().zip(&machines) {
        env.sim.clear_requests();
        let action = env
            .actions()
            .run_antivirus_scan(RunAntivirusScanRequest {
                machine_id: machine.clone(),
                comment: "weekly sweep".into(),
                scan_type: scan as i32,
                ..Default::default()
            })
            .await
            .expect("scan started")
            .into_inner();
        assert_eq!(action.r#type, MachineActionType::RunAntivirusScan as i32);
        assert_eq!(action.scope, wire);
        let sent = posts(&env.sim, "runAntiVirusScan");
        assert_eq!(sent.len(), 1, "{scan:?}");
        let body = body(&sent[0]);
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["Comment", "ScanType"], "{scan:?}");
        assert_eq!(body["ScanType"], wire, "{scan:?}");
    }
    env.stop().await;
}

#[tokio::test]
async fn release_sends_only_the_comment_and_returns_an_unisolate_action() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let action = env
        .actions()
        .release_machine(ReleaseMachineRequest {
            machine_id: id.to_uppercase(),
            comment: "all clear".into(),
            request_id: rid(),
            ..Default::default()
        })
        .await
        .expect("released")
        .into_inner();
    assert_eq!(action.r#type, MachineActionType::Unisolate as i32);
    assert_eq!(action.machine_id, id);
    let sent = posts(&env.sim, "unisolate");
    assert_eq!(sent.len(), 1);
    let body = body(&sent[0]);
    assert_eq!(body.keys().collect::<Vec<_>>(), ["Comment"]);
    env.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_and_nothing_is_sent() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let cases: Vec<(proto::IsolateMachineRequest, &str)> = vec![
        (isolate(&id, "", ""), "comment"),
        (isolate(&id, "   \n ", ""), "comment"),
        (isolate(&id, &"x".repeat(1_001), ""), "comment"),
        (isolate("not-a-machine", "why", ""), "machine_id"),
        (isolate(&id, "why", "has space"), "request_id"),
        (isolate(&id, "why", &"r".repeat(65)), "request_id"),
        (
            proto::IsolateMachineRequest {
                isolation_type: 9,
                ..isolate(&id, "why", "")
            },
            "isolation_type",
        ),
    ];
    for (request, field) in cases {
        let err = env
            .actions()
            .isolate_machine(request)
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err:?}");
        assert_eq!(reason(&err), "INVALID_FIELD");
        assert_eq!(bad_fields(&err), [field]);
    }
    let mut request = tonic::Request::new(isolate(&id, "why", ""));
    request
        .metadata_mut()
        .insert("x-caller-id", "no spaces please".parse().expect("ascii"));
    let err = env
        .actions()
        .isolate_machine(request)
        .await
        .expect_err("bad caller id");
    assert_eq!(bad_fields(&err), ["x-caller-id"]);
    let api: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .collect();
    assert!(api.is_empty(), "no Defender call for bad input: {api:?}");
    env.stop().await;
}

#[tokio::test]
async fn missing_machine_isolate_permission_is_permission_denied_naming_it() {
    let roles: Vec<&str> = defender_bridge::sim::ALL_ROLES
        .iter()
        .copied()
        .filter(|r| *r != "Machine.Isolate")
        .collect();
    let env = TestEnv::start(with_roles(&roles)).await;
    let id = env.sample_machine_id();
    let err = env
        .actions()
        .isolate_machine(isolate(&id, "contain", &rid()))
        .await
        .expect_err("no permission");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(reason(&err), "MISSING_APP_PERMISSION");
    assert_eq!(
        metadata(&err, "permission").as_deref(),
        Some("Machine.Isolate")
    );
    assert!(
        err.message().contains("Machine.Isolate"),
        "{}",
        err.message()
    );
    // Scanning needs Machine.Scan, which is granted.
    env.actions()
        .run_antivirus_scan(RunAntivirusScanRequest {
            machine_id: id,
            comment: "still allowed".into(),
            ..Default::default()
        })
        .await
        .expect("scan allowed");
    env.stop().await;
}

#[tokio::test]
async fn a_pending_action_of_the_same_type_is_already_exists_with_its_id() {
    let env = TestEnv::start(with_step(Duration::from_secs(60))).await;
    let id = env.sample_machine_id();
    let first = env.isolated(isolate(&id, "first", &rid())).await;
    let err = env
        .actions()
        .isolate_machine(isolate(&id, "second", &rid()))
        .await
        .expect_err("already pending");
    assert_eq!(err.code(), tonic::Code::AlreadyExists);
    assert_eq!(reason(&err), "ACTION_ALREADY_PENDING");
    assert_eq!(
        metadata(&err, "action_id").as_deref(),
        Some(first.id.as_str())
    );
    assert!(err.message().contains(&first.id), "{}", err.message());
    // Another type is not a duplicate.
    env.actions()
        .run_antivirus_scan(RunAntivirusScanRequest {
            machine_id: id,
            comment: "scan meanwhile".into(),
            ..Default::default()
        })
        .await
        .expect("scan is another type");
    env.stop().await;
}

#[tokio::test]
async fn an_unknown_machine_is_not_found() {
    let env = TestEnv::start(sim_config()).await;
    let err = env
        .actions()
        .isolate_machine(isolate(&"0".repeat(40), "contain", ""))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(reason(&err), "NOT_FOUND");
    assert_eq!(metadata(&err, "resource_type").as_deref(), Some("machine"));
    env.stop().await;
}
