//! Helpers of the read-side tests: request builders, error details, upstream call counting,
//! a service started with cache settings from a TOML file, and a whole fleet stream.

use std::time::Duration;

use defender_bridge::proto::get_endpoint_risk_request::Endpoint;
use defender_bridge::proto::stream_fleet_risk_response::Item;
use defender_bridge::proto::{
    self, EndpointRisk, FleetSummary, GetEndpointRiskRequest, StreamFleetRiskRequest,
};
use defender_bridge::sim::{SimConfig, SimHandle};
use tonic_types::StatusExt;

use super::TestEnv;

pub fn by_id(id: &str) -> GetEndpointRiskRequest {
    GetEndpointRiskRequest {
        endpoint: Some(Endpoint::MachineId(id.to_string())),
        ..Default::default()
    }
}

pub fn by_ip(ip: &str, observed_at: Option<time::OffsetDateTime>) -> GetEndpointRiskRequest {
    GetEndpointRiskRequest {
        endpoint: Some(Endpoint::IpAddress(ip.to_string())),
        observed_at: observed_at.map(|t| prost_types::Timestamp {
            seconds: t.unix_timestamp(),
            nanos: 0,
        }),
        ..Default::default()
    }
}

pub fn by_host(name: &str) -> GetEndpointRiskRequest {
    GetEndpointRiskRequest {
        endpoint: Some(Endpoint::Hostname(name.to_string())),
        ..Default::default()
    }
}

/// Defender API requests whose path contains `part` (token requests excluded).
pub fn calls(sim: &SimHandle, part: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/") && r.path.contains(part))
        .count()
}

/// Requests whose path is exactly `path` (no query string).
pub fn calls_to(sim: &SimHandle, path: &str) -> usize {
    sim.requests().iter().filter(|r| r.path == path).count()
}

/// `request`, with the cache bypassed.
pub fn bypassing_cache(mut request: GetEndpointRiskRequest) -> GetEndpointRiskRequest {
    request.bypass_cache = true;
    request
}

/// Every Defender API request (token requests excluded).
pub fn api_calls(sim: &SimHandle) -> usize {
    calls(sim, "/api/")
}

/// Requests for one machine's vulnerabilities, plus the bulk vulnerability reads.
pub fn vulnerability_calls(sim: &SimHandle) -> usize {
    calls(sim, "ulnerabilit")
}

/// The `ErrorInfo.reason` of a status.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The `ErrorInfo.metadata[key]` of a status.
pub fn metadata(status: &tonic::Status, key: &str) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get(key).cloned())
}

/// The fields of a status's `BadRequest` violations.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// A service whose `[cache]` section is `cache_toml`.
pub async fn start_with_cache(
    sim_config: SimConfig,
    cache_toml: &str,
) -> (TestEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("defender-bridge.toml");
    std::fs::write(&path, format!("[cache]\n{cache_toml}\n")).expect("write config");
    let env = TestEnv::start_with(sim_config, |args| args.config = Some(path)).await;
    (env, dir)
}

/// `sim_config()` with only `roles` granted.
pub fn with_roles(roles: &[&str]) -> SimConfig {
    SimConfig {
        roles: roles.iter().map(|r| (*r).to_string()).collect(),
        ..super::sim_config()
    }
}

/// Every role the simulator knows except those starting with `missing` (e.g. "Machine.Read").
pub fn all_roles_but(missing: &str) -> Vec<&'static str> {
    defender_bridge::sim::ALL_ROLES
        .iter()
        .copied()
        .filter(|r| !r.starts_with(missing))
        .collect()
}

/// Waits a little longer than `d` (cache TTLs are checked with real time).
pub async fn wait_past(d: Duration) {
    tokio::time::sleep(d + Duration::from_millis(150)).await;
}

/// The proto risk level as its enum.
pub fn level(value: i32) -> proto::RiskLevel {
    proto::RiskLevel::try_from(value).unwrap_or(proto::RiskLevel::Unspecified)
}

/// A whole `StreamFleetRisk` stream: its risks, and its summary (which must come, last).
pub async fn fleet_stream(
    env: &TestEnv,
    req: StreamFleetRiskRequest,
) -> (Vec<EndpointRisk>, FleetSummary) {
    let mut s = env
        .risk()
        .stream_fleet_risk(req)
        .await
        .expect("stream")
        .into_inner();
    let mut risks = Vec::new();
    let mut summary = None;
    while let Some(msg) = s.message().await.expect("message") {
        assert!(summary.is_none(), "the summary is the last message");
        match msg.item.expect("item") {
            Item::Risk(r) => risks.push(r),
            Item::Summary(sm) => summary = Some(sm),
        }
    }
    (risks, summary.expect("a summary"))
}

/// `request`, asking for `view`.
pub fn in_view(
    mut request: GetEndpointRiskRequest,
    view: proto::RiskView,
) -> GetEndpointRiskRequest {
    request.view = view as i32;
    request
}

/// What the RISK_VIEW_BASIC answer matching the full answer `full` must be: exactly the fields
/// that view lists (proto/defenderbridge/v1/risk_service.proto), copied, and nothing else.
/// Written field by field without `..`, so that a field added to these messages must be
/// placed in one view or the other here.
pub fn basic_of(full: &EndpointRisk) -> EndpointRisk {
    EndpointRisk {
        machine: full.machine.as_ref().map(|m| proto::Machine {
            id: m.id.clone(),
            computer_dns_name: m.computer_dns_name.clone(),
            last_ip_address: m.last_ip_address.clone(),
            ..Default::default()
        }),
        risk_level: full.risk_level,
        defender_risk_score: full.defender_risk_score,
        exposure_level: full.exposure_level,
        exposure_risk_level: full.exposure_risk_level,
        alert_risk_level: full.alert_risk_level,
        vulnerability_count: full.vulnerability_count,
        most_severe_vulnerability: full.most_severe_vulnerability.as_ref().map(|v| {
            proto::Vulnerability {
                id: v.id.clone(),
                name: v.name.clone(),
                severity: v.severity,
                ..Default::default()
            }
        }),
        most_severe_alert: full.most_severe_alert.as_ref().map(|a| proto::Alert {
            id: a.id.clone(),
            title: a.title.clone(),
            severity: a.severity,
            ..Default::default()
        }),
        active_alert_count: full.active_alert_count,
        links: full.links.clone(),
        reasons: Vec::new(),
        missing_permissions: full.missing_permissions.clone(),
        evaluated_at: full.evaluated_at,
        stale: full.stale,
        other_candidates: full.other_candidates.clone(),
        tenant: full.tenant.clone(),
        cached: full.cached,
    }
}

/// `risk` with `cached` set as given (to compare a hit with the call that filled the cache).
pub fn with_cached(risk: &EndpointRisk, cached: bool) -> EndpointRisk {
    EndpointRisk {
        cached,
        ..risk.clone()
    }
}
