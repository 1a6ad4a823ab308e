//! The `/_sim` control plane: the same controls as [`super::SimHandle`] over HTTP, for tests in
//! other languages and for a person at the CLI. These requests are not logged, delayed or
//! faulted.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Fault, RequestRecord, Shared, lock};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/roles", put(set_roles))
        .route("/_sim/server-page-size", put(set_server_page_size))
        .route("/_sim/fleet", get(fleet))
        .route("/_sim/info", get(info))
        .route("/_sim/stats", get(stats))
        .route("/_sim/hidden-machines", put(set_hidden_machines))
        .route("/_sim/alerts", post(add_alert))
        .route("/_sim/machine-changes", post(change_machine))
}

/// Body: `{"machineId": "...", "riskScore": "High", "exposureLevel": "Low", "healthStatus":
/// "Inactive"}` (each level optional): the machine as a new device report would leave it,
/// `lastSeen` now.
async fn change_machine(
    State(s): State<Arc<Shared>>,
    Json(change): Json<super::MachineChange>,
) -> Result<StatusCode, (StatusCode, Json<serde_json::Value>)> {
    if lock(&s.changes).change_machine(&s.fleet, &change) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err((
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unknown machine or value" })),
        ))
    }
}

/// Body: the machine ids to hide (`[]` shows every machine again).
async fn set_hidden_machines(
    State(s): State<Arc<Shared>>,
    Json(ids): Json<Vec<String>>,
) -> StatusCode {
    lock(&s.changes).set_hidden(&ids);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAlert {
    machine_id: String,
    severity: String,
}

/// Body: `{"machineId": "...", "severity": "High"}`; answers the new alert's id.
async fn add_alert(
    State(s): State<Arc<Shared>>,
    Json(alert): Json<NewAlert>,
) -> (StatusCode, Json<serde_json::Value>) {
    match lock(&s.changes).add_alert(&s.fleet, &alert.machine_id, &alert.severity) {
        Some(id) => (StatusCode::CREATED, Json(json!({ "id": id }))),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unknown machine or severity" })),
        ),
    }
}

/// Counters that outlive the capped request log, for long runs (`scripts/soak.sh`): answered
/// Defender API requests in total and by HTTP status (429 = rate limited), since start.
async fn stats(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let log = lock(&s.log);
    let by_status: serde_json::Map<String, serde_json::Value> = log
        .api_by_status
        .iter()
        .map(|(status, n)| (status.to_string(), json!(n)))
        .collect();
    Json(json!({
        "apiRequests": log.api_by_status.values().sum::<u64>(),
        "apiByStatus": by_status,
    }))
}

async fn requests(State(s): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s.log).snapshot())
}

async fn clear_requests(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.log).clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(s): State<Arc<Shared>>, Json(fault): Json<Fault>) -> StatusCode {
    lock(&s.faults).push(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.faults).clear();
    StatusCode::NO_CONTENT
}

async fn set_roles(State(s): State<Arc<Shared>>, Json(roles): Json<Vec<String>>) -> StatusCode {
    *lock(&s.roles) = roles;
    StatusCode::NO_CONTENT
}

/// Body: a number (items per response) or `null` (off).
async fn set_server_page_size(
    State(s): State<Arc<Shared>>,
    Json(size): Json<Option<usize>>,
) -> StatusCode {
    *lock(&s.server_page_size) = size;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FleetQuery {
    top: Option<usize>,
}

async fn fleet(
    State(s): State<Arc<Shared>>,
    Query(q): Query<FleetQuery>,
) -> Json<Vec<super::MachineSummary>> {
    Json(s.fleet.summaries(q.top.unwrap_or(20)))
}

/// Where the interesting machines are, and how to get a token (never the secret).
async fn info(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let f = &s.fleet;
    Json(json!({
        "tenantId": s.config.tenant_id,
        "clientId": s.config.client_id,
        "machines": f.machines().len(),
        "seed": f.seed(),
        "roles": *lock(&s.roles),
        "rateLimits": s.config.rate_limits,
        "nextLinks": s.config.next_links,
        "serverPageSize": *lock(&s.server_page_size),
        "sampleMachineId": f.sample_machine_id(),
        "tieBreakCvssMachineId": f.tie_break_cvss_machine_id(),
        "tieBreakExploitMachineId": f.tie_break_exploit_machine_id(),
        "tieBreakAlertMachineId": f.tie_break_alert_machine_id(),
        "cleanMachineId": f.clean_machine_id(),
        "ambiguousShortName": f.ambiguous_short_name(),
        "sharedIp": f.shared_ip(),
    }))
}
