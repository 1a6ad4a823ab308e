//! Helpers of the caller-authentication tests: a callers file, a service that enforces it,
//! requests with bearer credentials, and one call of every API method by name.

use std::path::PathBuf;

use defender_bridge::auth::api_key::keygen;
use defender_bridge::auth::roles;
use defender_bridge::proto::{self, IsolationType, ScanType};
use tonic::Status;

use super::risk::by_id;
use super::{TestEnv, sim_config};

/// A service whose callers file is `text`, kept in `dir`.
pub struct AuthEnv {
    pub env: TestEnv,
    pub dir: tempfile::TempDir,
    pub callers: PathBuf,
}

/// A new API key with `roles` and its `[[api_key]]` entry.
pub fn key(name: &str, roles: &[&str]) -> (String, String) {
    keygen(
        name,
        &roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    )
    .expect("key")
}

/// Starts a simulator and a service with the callers file `text` (and `tweak` applied).
pub async fn start(
    text: &str,
    tweak: impl FnOnce(&mut defender_bridge::config::ServeArgs),
) -> AuthEnv {
    start_on(sim_config(), text, tweak).await
}

/// [`start`] with a simulator of `sim`.
pub async fn start_on(
    sim: defender_bridge::sim::SimConfig,
    text: &str,
    tweak: impl FnOnce(&mut defender_bridge::config::ServeArgs),
) -> AuthEnv {
    let dir = tempfile::tempdir().expect("tempdir");
    let callers = dir.path().join("callers.toml");
    std::fs::write(&callers, text).expect("write callers");
    let path = callers.clone();
    let env = TestEnv::start_with(sim, move |args| {
        args.callers = Some(path);
        tweak(args);
    })
    .await;
    AuthEnv { env, dir, callers }
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

/// `message` with `token` if any.
pub fn maybe<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(t) => bearer(message, t),
        None => tonic::Request::new(message),
    }
}

/// The `ErrorInfo.reason` of `status`.
pub fn reason(status: &Status) -> String {
    super::risk::reason(status)
}

/// A Windows machine of the simulator's fleet.
pub fn machine(env: &TestEnv) -> String {
    super::actions::windows_machines(&env.sim, 1)[0].clone()
}

/// Calls the API method named `method` (e.g. `GetEndpointRisk`) with `token`; a stream is read
/// up to its first message. Ok when the call got past the auth layer with any answer other than
/// an error status at its start.
pub async fn call(env: &TestEnv, method: &str, token: Option<&str>) -> Result<(), Status> {
    let m = machine(env);
    let action_id = uuid::Uuid::new_v4().to_string();
    let mut risk = env.risk();
    let mut actions = env.actions();
    match method {
        "GetEndpointRisk" => risk
            .get_endpoint_risk(maybe(by_id(&m), token))
            .await
            .map(drop),
        "BatchGetEndpointRisks" => risk
            .batch_get_endpoint_risks(maybe(
                proto::BatchGetEndpointRisksRequest {
                    requests: vec![by_id(&m)],
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "StreamFleetRisk" => {
            let mut s = risk
                .stream_fleet_risk(maybe(proto::StreamFleetRiskRequest::default(), token))
                .await?
                .into_inner();
            s.message().await.map(drop)
        }
        "GetMachine" => risk
            .get_machine(maybe(
                proto::GetMachineRequest {
                    machine_id: m,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "ListMachines" => risk
            .list_machines(maybe(proto::ListMachinesRequest::default(), token))
            .await
            .map(drop),
        "ListAlerts" => risk
            .list_alerts(maybe(proto::ListAlertsRequest::default(), token))
            .await
            .map(drop),
        "ListVulnerabilities" => risk
            .list_vulnerabilities(maybe(proto::ListVulnerabilitiesRequest::default(), token))
            .await
            .map(drop),
        "GetSoftware" => risk
            .get_software(maybe(
                proto::GetSoftwareRequest {
                    software_id: "microsoft-_-edge".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "ListSoftwareMachines" => risk
            .list_software_machines(maybe(
                proto::ListSoftwareMachinesRequest {
                    software_id: "microsoft-_-edge".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "RunHuntingQuery" => {
            let mut s = risk
                .run_hunting_query(maybe(
                    proto::RunHuntingQueryRequest {
                        query: "DeviceInfo | take 1".into(),
                        ..Default::default()
                    },
                    token,
                ))
                .await?
                .into_inner();
            s.message().await.map(drop)
        }
        "CheckConnection" => risk
            .check_connection(maybe(
                proto::CheckConnectionRequest {
                    skip_probe: true,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "IsolateMachine" => actions
            .isolate_machine(maybe(
                proto::IsolateMachineRequest {
                    machine_id: m,
                    comment: "matrix".into(),
                    isolation_type: IsolationType::Full as i32,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "ReleaseMachine" => actions
            .release_machine(maybe(
                proto::ReleaseMachineRequest {
                    machine_id: m,
                    comment: "matrix".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "RunAntivirusScan" => actions
            .run_antivirus_scan(maybe(
                proto::RunAntivirusScanRequest {
                    machine_id: m,
                    comment: "matrix".into(),
                    scan_type: ScanType::Quick as i32,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "GetMachineAction" => actions
            .get_machine_action(maybe(
                proto::GetMachineActionRequest {
                    action_id,
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "ListMachineActions" => actions
            .list_machine_actions(maybe(proto::ListMachineActionsRequest::default(), token))
            .await
            .map(drop),
        "WatchMachineAction" => {
            let mut s = actions
                .watch_machine_action(maybe(
                    proto::WatchMachineActionRequest {
                        action_id,
                        ..Default::default()
                    },
                    token,
                ))
                .await?
                .into_inner();
            s.message().await.map(drop)
        }
        "CancelMachineAction" => actions
            .cancel_machine_action(maybe(
                proto::CancelMachineActionRequest {
                    action_id,
                    comment: "matrix".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

/// Every API method's short name and the role it needs.
pub fn methods() -> Vec<(String, roles::Role)> {
    roles::api_methods()
        .map(|(path, role)| {
            let name = path.rsplit('/').next().expect("method").to_string();
            (name, role)
        })
        .collect()
}

/// True when `status` is a refusal by the auth layer.
pub fn refused_by_auth(status: &Status) -> bool {
    matches!(
        reason(status).as_str(),
        "CALLER_NOT_AUTHENTICATED" | "CALLER_NOT_AUTHORIZED" | "CALLER_RATE_LIMITED"
    )
}
