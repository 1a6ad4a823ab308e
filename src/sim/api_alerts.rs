//! Alert routes: the global list (with Defender's filterable fields; `machineId` is refused as
//! upstream), per-machine alerts and their `$count`, and get-by-id. `$expand=evidence` fills
//! `evidence`.

use std::borrow::Cow;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::alerts::SimAlert;
use super::api_machines::lookup;
use super::fleet::SimMachine;
use super::odata::{FieldType, Filterable, Schema, Value};
use super::routes::Call;
use super::wire::{self, ApiResult, iso, paginate};

const MAX_TOP: usize = 10_000;

pub(crate) static ALERT_SCHEMA: Schema = Schema {
    entity: "Alert",
    fields: &[
        ("alertCreationTime", FieldType::Date),
        ("lastUpdateTime", FieldType::Date),
        ("incidentId", FieldType::Num),
        ("investigationId", FieldType::Num),
        ("id", FieldType::Str),
        ("assignedTo", FieldType::Str),
        ("detectionSource", FieldType::Str),
        ("lastEventTime", FieldType::Date),
        ("status", FieldType::Str),
        ("severity", FieldType::Str),
        ("category", FieldType::Str),
    ],
    unfilterable: &[
        "machineId",
        "computerDnsName",
        "title",
        "description",
        "classification",
        "determination",
        "threatFamilyName",
        "rbacGroupName",
        "firstEventTime",
        "resolvedTime",
    ],
};

impl Filterable for SimAlert {
    fn field(&self, index: usize) -> Value<'_> {
        let s = |v: &'static str| Value::Str(Cow::Borrowed(v));
        match index {
            0 => Value::Date(self.alert_creation_time),
            1 => Value::Date(self.last_update_time),
            2 => Value::Num(self.incident_id as f64),
            3 => self
                .investigation_id
                .map_or(Value::Null, |v| Value::Num(v as f64)),
            4 => Value::Str(Cow::Borrowed(&self.id)),
            5 => self.assigned_to.map_or(Value::Null, s),
            6 => s(self.detection_source()),
            7 => Value::Date(self.last_event_time),
            8 => s(self.status),
            9 => s(self.severity),
            10 => s(self.category()),
            _ => Value::Null,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RelatedUser<'a> {
    user_name: String,
    domain_name: &'a str,
}

/// Defender's Alert entity (field order as in `samples/alerts_list.json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertDto<'a> {
    id: &'a str,
    incident_id: u64,
    investigation_id: Option<u64>,
    assigned_to: Option<&'a str>,
    severity: &'a str,
    status: &'a str,
    classification: Option<&'a str>,
    determination: Option<&'a str>,
    investigation_state: &'a str,
    detection_source: &'a str,
    detector_id: &'a str,
    category: &'a str,
    threat_family_name: Option<&'a str>,
    title: &'a str,
    description: &'a str,
    alert_creation_time: String,
    first_event_time: String,
    last_event_time: String,
    last_update_time: String,
    resolved_time: Option<String>,
    machine_id: &'a str,
    computer_dns_name: &'a str,
    rbac_group_name: Option<&'a str>,
    aad_tenant_id: &'a str,
    threat_name: Option<&'a str>,
    mitre_techniques: &'a [&'a str],
    related_user: Option<RelatedUser<'a>>,
    comments: Vec<serde_json::Value>,
    evidence: Vec<serde_json::Value>,
}

fn evidence(a: &SimAlert, m: &SimMachine) -> Vec<serde_json::Value> {
    let t = a.template();
    let digest = Sha256::digest(format!("{}:{}", t.file_name, a.template).as_bytes());
    let sha256 = hex::encode(digest);
    let base = |entity: &str| {
        json!({
            "entityType": entity, "evidenceCreationTime": iso(a.alert_creation_time),
            "sha1": null, "sha256": null, "fileName": null, "filePath": null, "processId": null,
            "processCommandLine": null, "processCreationTime": null, "parentProcessId": null,
            "parentProcessCreationTime": null, "parentProcessFileName": null, "parentProcessFilePath": null,
            "ipAddress": null, "url": null, "registryKey": null, "registryHive": null,
            "registryValueType": null, "registryValue": null, "accountName": null, "domainName": null,
            "userSid": null, "aadUserId": null, "userPrincipalName": null, "detectionStatus": null
        })
    };
    let path = if m.os_platform.starts_with("Windows") {
        "C:\\Windows\\System32"
    } else {
        "/usr/bin"
    };
    let mut process = base("Process");
    process["sha1"] = json!(&sha256[..40]);
    process["sha256"] = json!(sha256);
    process["fileName"] = json!(t.file_name);
    process["filePath"] = json!(path);
    process["processId"] = json!(1000 + u64::from(m.index % 9000));
    process["processCommandLine"] = json!(format!("{} --run", t.file_name));
    process["processCreationTime"] = json!(iso(a.first_event_time));
    process["detectionStatus"] = json!("Detected");
    let mut user = base("User");
    user["accountName"] = json!(format!("user{:05}", m.index));
    user["domainName"] = json!("CONTOSO");
    user["userPrincipalName"] = json!(format!("user{:05}@contoso.com", m.index));
    vec![user, process]
}

fn alert_dto<'a>(c: &'a Call<'_>, a: &'a SimAlert, expand: bool) -> Option<AlertDto<'a>> {
    let m = c.fleet().machines().get(a.machine_index as usize)?;
    let t = a.template();
    let windows = m.os_platform.starts_with("Windows");
    Some(AlertDto {
        id: &a.id,
        incident_id: a.incident_id,
        investigation_id: a.investigation_id,
        assigned_to: a.assigned_to,
        severity: a.severity,
        status: a.status,
        classification: a.classification,
        determination: a.determination,
        investigation_state: a.investigation_state,
        detection_source: t.detection_source,
        detector_id: t.detector_id,
        category: t.category,
        threat_family_name: t.threat_family,
        title: t.title,
        description: t.description,
        alert_creation_time: iso(a.alert_creation_time),
        first_event_time: iso(a.first_event_time),
        last_event_time: iso(a.last_event_time),
        last_update_time: iso(a.last_update_time),
        resolved_time: a.resolved_time.map(iso),
        machine_id: &m.id,
        computer_dns_name: &m.computer_dns_name,
        rbac_group_name: m.rbac_group_name,
        aad_tenant_id: &c.shared.config.tenant_id,
        threat_name: t.threat_family,
        mitre_techniques: t.mitre,
        related_user: windows.then(|| RelatedUser {
            user_name: format!("user{:05}", m.index),
            domain_name: "CONTOSO",
        }),
        comments: Vec::new(),
        evidence: if expand { evidence(a, m) } else { Vec::new() },
    })
}

fn page_of_alerts(c: &Call<'_>, alerts: impl Iterator<Item = SimAlert>) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let filter = opts.filter(&ALERT_SCHEMA)?;
    let matching = alerts.filter(|a| filter.as_ref().is_none_or(|f| f.matches(a)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let expand = opts.expands("evidence");
    let value: Vec<AlertDto<'_>> = page
        .iter()
        .filter_map(|a| alert_dto(c, a, expand))
        .collect();
    Ok(wire::collection("Alerts", value, more, &paging))
}

/// `GET /api/alerts`.
pub(crate) fn list(c: &Call<'_>) -> ApiResult {
    let added = super::lock(&c.shared.changes).added_alerts(None);
    page_of_alerts(c, c.fleet().all_alerts().chain(added))
}

/// `GET /api/machines/{id}/alerts` and `.../alerts/$count` (a bare integer).
pub(crate) fn machine_alerts(c: &Call<'_>, id: &str, count: bool) -> ApiResult {
    let m = lookup(c, id)?;
    let mut alerts = c.fleet().alerts_of(&m);
    alerts.extend(super::lock(&c.shared.changes).added_alerts(Some(m.index)));
    if !count {
        return page_of_alerts(c, alerts.into_iter());
    }
    let opts = c.options()?;
    let filter = opts.filter(&ALERT_SCHEMA)?;
    let n = alerts
        .iter()
        .filter(|a| filter.as_ref().is_none_or(|f| f.matches(*a)))
        .count();
    Ok(wire::json(StatusCode::OK, &n))
}

/// `GET /api/alerts/{id}`.
pub(crate) fn get(c: &Call<'_>, id: &str) -> ApiResult {
    let Some(alert) = c.fleet().find_alert(id) else {
        return Err(wire::not_found(format!("Alert {id} was not found")));
    };
    let expand = c.options().is_ok_and(|o| o.expands("evidence"));
    match alert_dto(c, &alert, expand) {
        Some(dto) => Ok(wire::entity("Alerts/$entity", dto)),
        None => Err(wire::not_found(format!("Alert {id} was not found"))),
    }
}
