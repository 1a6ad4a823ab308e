//! Helpers of the action tests: request builders, the simulator's view of action POSTs, a
//! service with an audit log, and a restart of the service against the same simulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use defender_bridge::config::Config;
use defender_bridge::demo::service_args;
use defender_bridge::proto::{self, IsolateMachineRequest, IsolationType};
use defender_bridge::server;
use defender_bridge::sim::{RequestRecord, SimConfig, SimHandle};

use super::TestEnv;

/// A fresh request id.
pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn isolate(machine_id: &str, comment: &str, request_id: &str) -> IsolateMachineRequest {
    IsolateMachineRequest {
        machine_id: machine_id.to_string(),
        comment: comment.to_string(),
        isolation_type: IsolationType::Full as i32,
        request_id: request_id.to_string(),
        ..Default::default()
    }
}

impl TestEnv {
    /// `IsolateMachine`, which must succeed.
    pub async fn isolated(
        &self,
        request: impl tonic::IntoRequest<IsolateMachineRequest>,
    ) -> proto::MachineAction {
        self.actions()
            .isolate_machine(request)
            .await
            .expect("isolated")
            .into_inner()
    }
}

/// A request with a gRPC deadline.
pub fn with_deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// POSTs the simulator received whose path ends with `/suffix` (e.g. `isolate`).
pub fn posts(sim: &SimHandle, suffix: &str) -> Vec<RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/{suffix}")))
        .collect()
}

/// The JSON body of a recorded request.
pub fn body(record: &RequestRecord) -> serde_json::Map<String, serde_json::Value> {
    match record.body.as_deref().map(serde_json::from_str) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        other => panic!("not a JSON object body: {other:?}"),
    }
}

/// Windows machines of the fleet (selective isolation needs Windows), `n` of them.
pub fn windows_machines(sim: &SimHandle, n: usize) -> Vec<String> {
    let ids: Vec<String> = sim
        .fleet()
        .machines()
        .iter()
        .filter(|m| m.os_platform.starts_with("Windows"))
        .take(n)
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(ids.len(), n, "the fleet has {n} Windows machines");
    ids
}

/// `sim_config()` whose actions take `step` per transition.
pub fn with_step(step: Duration) -> SimConfig {
    SimConfig {
        action_step: step,
        ..super::sim_config()
    }
}

/// A service writing its audit log to `path`.
pub async fn start_audited(sim_config: SimConfig, path: &Path) -> TestEnv {
    let path = path.to_path_buf();
    TestEnv::start_with(sim_config, move |args| args.audit_log = Some(path)).await
}

/// Stops the service and starts a new one (same simulator, `audit_log`), as after a restart.
pub async fn restart(env: &mut TestEnv, audit_log: Option<PathBuf>) {
    let mut args = service_args(
        &env.sim,
        &env.sim_config,
        "127.0.0.1:0".parse().expect("addr"),
    );
    args.audit_log = audit_log;
    let config = Config::resolve(&args).expect("valid config");
    let fresh = server::spawn(config).await.expect("server restarts");
    let old = std::mem::replace(&mut env.server, fresh);
    old.shutdown().await.expect("clean shutdown");
    env.channel = super::connect(env.server.addr).await;
}

/// Every line of an audit file, parsed.
pub fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The proto status of an action as its enum.
pub fn status_of(a: &proto::MachineAction) -> proto::MachineActionStatus {
    proto::MachineActionStatus::try_from(a.status).unwrap_or(proto::MachineActionStatus::Other)
}
