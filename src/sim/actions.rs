//! Machine actions: isolate, unisolate and antivirus scan create actions that move
//! Pending → InProgress → Succeeded one `action_step` at a time (computed from the clock, no
//! background task), refuse a second active action of the same type with
//! `ActiveRequestAlreadyExists`, validate case-sensitive body keys, and can be listed, fetched
//! and cancelled. An [`ActionPlan`] makes the next matching action take other timings or end
//! Failed / TimeOut, so tests can follow every path a real action can take.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use super::api_machines::lookup;
use super::lock;
use super::odata::{FieldType, Filterable, Schema, Value};
use super::routes::Call;
use super::wire::{self, ApiError, ApiResult, iso, paginate};

const MAX_TOP: usize = 10_000;

/// `errorHResult` of a failed action: E_FAIL.
const E_FAIL: i32 = -2_147_467_259;

/// How an action ends when its time is up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum ActionOutcome {
    /// `Succeeded` (the default).
    #[default]
    Succeeded,
    /// `Failed`, with a non-zero `errorHResult`.
    Failed,
    /// `TimeOut`: the device never picked it up.
    TimeOut,
}

impl ActionOutcome {
    fn status(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimeOut => "TimeOut",
        }
    }
}

/// How the next action created that matches `machine_id` and `action_type` plays out. Plans
/// are used once, in the order they were queued.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ActionPlan {
    /// Only an action on this machine (any when unset).
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Only an action of this Defender type, e.g. `Isolate` (any when unset).
    #[serde(default)]
    pub action_type: Option<String>,
    /// Time per transition instead of `SimConfig::action_step`.
    #[serde(default)]
    pub step: Option<Duration>,
    /// The final status.
    #[serde(default)]
    pub outcome: ActionOutcome,
}

impl ActionPlan {
    fn matches(&self, machine_id: &str, kind: &str) -> bool {
        self.machine_id
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(machine_id))
            && self
                .action_type
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(kind))
    }
}

/// A cancellation.
#[derive(Debug, Clone)]
pub(crate) struct Cancellation {
    requestor: String,
    comment: String,
    at: OffsetDateTime,
}

/// One machine action.
#[derive(Debug, Clone)]
pub(crate) struct SimAction {
    id: String,
    kind: &'static str,
    scope: Option<&'static str>,
    requestor: String,
    comment: String,
    machine_id: String,
    computer_dns_name: String,
    created: OffsetDateTime,
    created_at: Instant,
    cancellation: Option<Cancellation>,
    /// Time per transition.
    step: Duration,
    outcome: ActionOutcome,
}

impl SimAction {
    /// Status and last-update time at `now`.
    fn state(&self, now: Instant) -> (&'static str, OffsetDateTime) {
        if let Some(c) = &self.cancellation {
            return ("Cancelled", c.at);
        }
        let step = self.step;
        let elapsed = now.saturating_duration_since(self.created_at);
        let step_t = time::Duration::try_from(step).unwrap_or(time::Duration::ZERO);
        if elapsed < step {
            ("Pending", self.created)
        } else if self.outcome == ActionOutcome::TimeOut && elapsed < step * 2 {
            // A device that never picks the action up never shows it InProgress.
            ("Pending", self.created)
        } else if elapsed < step * 2 {
            ("InProgress", self.created + step_t)
        } else {
            (self.outcome.status(), self.created + step_t * 2)
        }
    }

    fn error_h_result(&self, status: &str) -> i32 {
        if status == "Failed" { E_FAIL } else { 0 }
    }
}

/// Every action, oldest first, and the plans for actions to come.
#[derive(Debug, Default)]
pub(crate) struct ActionStore {
    actions: Vec<SimAction>,
    plans: Vec<ActionPlan>,
}

impl ActionStore {
    /// Queues a plan for the next matching action.
    pub(crate) fn plan(&mut self, plan: ActionPlan) {
        self.plans.push(plan);
    }

    fn take_plan(&mut self, machine_id: &str, kind: &str) -> Option<ActionPlan> {
        let index = self
            .plans
            .iter()
            .position(|p| p.matches(machine_id, kind))?;
        Some(self.plans.remove(index))
    }
}

static ACTION_SCHEMA: Schema = Schema {
    entity: "MachineAction",
    fields: &[
        ("id", FieldType::Str),
        ("status", FieldType::Str),
        ("machineId", FieldType::Str),
        ("type", FieldType::Str),
        ("requestor", FieldType::Str),
        ("creationDateTimeUtc", FieldType::Date),
    ],
    unfilterable: &[
        "scope",
        "computerDnsName",
        "requestorComment",
        "lastUpdateDateTimeUtc",
    ],
};

/// An action with its status frozen at one instant, for filtering and output.
struct Snapshot<'a> {
    a: &'a SimAction,
    status: &'static str,
    updated: OffsetDateTime,
}

impl Filterable for Snapshot<'_> {
    fn field(&self, index: usize) -> Value<'_> {
        let s = |v: &str| Value::Str(Cow::Owned(v.to_string()));
        match index {
            0 => s(&self.a.id),
            1 => s(self.status),
            2 => s(&self.a.machine_id),
            3 => s(self.a.kind),
            4 => s(&self.a.requestor),
            5 => Value::Date(self.a.created),
            _ => Value::Null,
        }
    }
}

/// Defender's MachineAction entity (as in `samples/isolate_response.json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionDto<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    scope: Option<&'a str>,
    requestor: &'a str,
    requestor_comment: &'a str,
    status: &'a str,
    machine_id: &'a str,
    computer_dns_name: &'a str,
    creation_date_time_utc: String,
    last_update_date_time_utc: String,
    cancellation_requestor: Option<&'a str>,
    cancellation_comment: Option<&'a str>,
    cancellation_date_time_utc: Option<String>,
    error_h_result: i32,
    commands: [(); 0],
    related_file_info: Option<()>,
}

fn dto<'a>(s: &Snapshot<'a>) -> ActionDto<'a> {
    let c = s.a.cancellation.as_ref();
    ActionDto {
        id: &s.a.id,
        kind: s.a.kind,
        scope: s.a.scope,
        requestor: &s.a.requestor,
        requestor_comment: &s.a.comment,
        status: s.status,
        machine_id: &s.a.machine_id,
        computer_dns_name: &s.a.computer_dns_name,
        creation_date_time_utc: iso(s.a.created),
        last_update_date_time_utc: iso(s.updated),
        cancellation_requestor: c.map(|c| c.requestor.as_str()),
        cancellation_comment: c.map(|c| c.comment.as_str()),
        cancellation_date_time_utc: c.map(|c| iso(c.at)),
        error_h_result: s.a.error_h_result(s.status),
        commands: [],
        related_file_info: None,
    }
}

fn snapshot(a: &SimAction, now: Instant) -> Snapshot<'_> {
    let (status, updated) = a.state(now);
    Snapshot { a, status, updated }
}

/// Parses a JSON object body whose keys are case-sensitive: a known key in the wrong case is
/// `InvalidRequestBody`, as on Defender.
fn body_object(body: &[u8], keys: &[&str]) -> Result<Map<String, Json>, ApiError> {
    let invalid = || wire::bad_request("InvalidRequestBody", "Request body is incorrect");
    let Ok(Json::Object(map)) = serde_json::from_slice::<Json>(body) else {
        return Err(invalid());
    };
    for k in map.keys() {
        if !keys.contains(&k.as_str()) && keys.iter().any(|want| want.eq_ignore_ascii_case(k)) {
            return Err(invalid());
        }
    }
    Ok(map)
}

fn required_string(map: &Map<String, Json>, key: &str) -> Result<String, ApiError> {
    match map.get(key) {
        Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Json::String(_)) | None | Some(Json::Null) => Err(wire::bad_request(
            "MissingRequiredParameter",
            format!("Missing required parameter '{key}'"),
        )),
        Some(_) => Err(wire::bad_request(
            "InvalidRequestBody",
            "Request body is incorrect",
        )),
    }
}

fn one_of(
    map: &Map<String, Json>,
    key: &str,
    allowed: &[&'static str],
    default: Option<&'static str>,
) -> Result<&'static str, ApiError> {
    match map.get(key) {
        None | Some(Json::Null) => default.ok_or_else(|| {
            wire::bad_request(
                "MissingRequiredParameter",
                format!("Missing required parameter '{key}'"),
            )
        }),
        Some(Json::String(v)) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(v))
            .copied()
            .ok_or_else(|| {
                wire::bad_request(
                    "InvalidRequestBody",
                    format!("Invalid value '{v}' for '{key}'"),
                )
            }),
        Some(_) => Err(wire::bad_request(
            "InvalidRequestBody",
            "Request body is incorrect",
        )),
    }
}

fn create(
    c: &Call<'_>,
    machine: &str,
    kind: &'static str,
    scope: Option<&'static str>,
    comment: String,
) -> ApiResult {
    let m = lookup(c, machine)?;
    let now = Instant::now();
    let mut store = lock(&c.shared.actions);
    let duplicate = store.actions.iter().any(|a| {
        a.machine_id == m.id && a.kind == kind && matches!(a.state(now).0, "Pending" | "InProgress")
    });
    if duplicate {
        return Err(wire::bad_request(
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        ));
    }
    let plan = store.take_plan(&m.id, kind).unwrap_or_default();
    let action = SimAction {
        step: plan.step.unwrap_or(c.shared.config.action_step),
        outcome: plan.outcome,
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        scope,
        requestor: c.token.app_id.clone(),
        comment,
        machine_id: m.id.clone(),
        computer_dns_name: m.computer_dns_name.clone(),
        created: OffsetDateTime::now_utc(),
        created_at: now,
        cancellation: None,
    };
    let response = wire::entity_with_status(
        StatusCode::CREATED,
        "MachineActions/$entity",
        dto(&snapshot(&action, now)),
    );
    store.actions.push(action);
    Ok(response)
}

/// `POST /api/machines/{id}/isolate` with `{"Comment", "IsolationType"}`.
pub(crate) fn isolate(c: &Call<'_>, id: &str) -> ApiResult {
    let body = body_object(c.body, &["Comment", "IsolationType"])?;
    let comment = required_string(&body, "Comment")?;
    let scope = one_of(
        &body,
        "IsolationType",
        &["Full", "Selective", "UnManagedDevice"],
        Some("Full"),
    )?;
    let m = lookup(c, id)?;
    if scope == "Selective" && !m.os_platform.starts_with("Windows") {
        return Err(wire::bad_request(
            "OsPlatformNotSupported",
            format!("Selective isolation is not supported on {}", m.os_platform),
        ));
    }
    create(c, id, "Isolate", Some(scope), comment)
}

/// `POST /api/machines/{id}/unisolate` with `{"Comment"}`.
pub(crate) fn unisolate(c: &Call<'_>, id: &str) -> ApiResult {
    let body = body_object(c.body, &["Comment"])?;
    let comment = required_string(&body, "Comment")?;
    create(c, id, "Unisolate", None, comment)
}

/// `POST /api/machines/{id}/runAntiVirusScan` with `{"Comment", "ScanType"}`.
pub(crate) fn scan(c: &Call<'_>, id: &str) -> ApiResult {
    let body = body_object(c.body, &["Comment", "ScanType"])?;
    let comment = required_string(&body, "Comment")?;
    let scope = one_of(&body, "ScanType", &["Quick", "Full"], None)?;
    create(c, id, "RunAntiVirusScan", Some(scope), comment)
}

/// `GET /api/machineactions`, newest first.
pub(crate) fn list(c: &Call<'_>) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let filter = opts.filter(&ACTION_SCHEMA)?;
    let now = Instant::now();
    let store = lock(&c.shared.actions);
    let matching = store
        .actions
        .iter()
        .rev()
        .map(|a| snapshot(a, now))
        .filter(|s| filter.as_ref().is_none_or(|f| f.matches(s)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let value: Vec<ActionDto<'_>> = page.iter().map(dto).collect();
    Ok(wire::collection("MachineActions", value, more, &paging))
}

/// `GET /api/machineactions/{id}`.
pub(crate) fn get(c: &Call<'_>, id: &str) -> ApiResult {
    let store = lock(&c.shared.actions);
    match store.actions.iter().find(|a| a.id.eq_ignore_ascii_case(id)) {
        Some(a) => Ok(wire::entity(
            "MachineActions/$entity",
            dto(&snapshot(a, Instant::now())),
        )),
        None => Err(wire::not_found(format!("MachineAction {id} was not found"))),
    }
}

/// `POST /api/machineactions/{id}/cancel` with `{"Comment"}`: only actions not yet final.
pub(crate) fn cancel(c: &Call<'_>, id: &str) -> ApiResult {
    let body = body_object(c.body, &["Comment"])?;
    let comment = required_string(&body, "Comment")?;
    let now = Instant::now();
    let mut store = lock(&c.shared.actions);
    let action = store
        .actions
        .iter_mut()
        .find(|a| a.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| wire::not_found(format!("MachineAction {id} was not found")))?;
    let (status, _) = action.state(now);
    if !matches!(status, "Pending" | "InProgress") {
        return Err(wire::bad_request(
            "InvalidRequestBody",
            format!("Machine action {id} is {status} and can no longer be cancelled"),
        ));
    }
    action.cancellation = Some(Cancellation {
        requestor: c.token.app_id.clone(),
        comment,
        at: OffsetDateTime::now_utc(),
    });
    Ok(wire::entity(
        "MachineActions/$entity",
        dto(&snapshot(action, now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(created_at: Instant) -> SimAction {
        SimAction {
            step: Duration::from_secs(2),
            outcome: ActionOutcome::Succeeded,
            id: "a".into(),
            kind: "Isolate",
            scope: Some("Full"),
            requestor: "app".into(),
            comment: "c".into(),
            machine_id: "m".into(),
            computer_dns_name: "h".into(),
            created: OffsetDateTime::now_utc(),
            created_at,
            cancellation: None,
        }
    }

    #[test]
    fn state_advances_one_step_at_a_time_and_stops_at_succeeded() {
        let t0 = Instant::now();
        let a = action(t0);
        assert_eq!(a.state(t0).0, "Pending");
        assert_eq!(a.state(t0 + Duration::from_millis(2500)).0, "InProgress");
        assert_eq!(a.state(t0 + Duration::from_secs(4)).0, "Succeeded");
        assert_eq!(a.state(t0 + Duration::from_secs(400)).0, "Succeeded");
    }

    #[test]
    fn a_planned_failure_ends_failed_with_an_hresult_and_a_timeout_never_runs() {
        let t0 = Instant::now();
        let mut a = action(t0);
        a.outcome = ActionOutcome::Failed;
        let (status, _) = a.state(t0 + Duration::from_secs(5));
        assert_eq!(status, "Failed");
        assert_ne!(a.error_h_result(status), 0);
        a.outcome = ActionOutcome::TimeOut;
        assert_eq!(a.state(t0 + Duration::from_secs(3)).0, "Pending");
        assert_eq!(a.state(t0 + Duration::from_secs(5)).0, "TimeOut");
    }

    #[test]
    fn plans_apply_once_to_the_first_matching_action() {
        let mut store = ActionStore::default();
        store.plan(ActionPlan {
            action_type: Some("RunAntiVirusScan".into()),
            outcome: ActionOutcome::Failed,
            ..ActionPlan::default()
        });
        assert!(store.take_plan("m1", "Isolate").is_none());
        let plan = store.take_plan("m1", "RunAntiVirusScan").expect("matches");
        assert_eq!(plan.outcome, ActionOutcome::Failed);
        assert!(store.take_plan("m1", "RunAntiVirusScan").is_none());
    }

    #[test]
    fn a_cancelled_action_stays_cancelled() {
        let t0 = Instant::now();
        let mut a = action(t0);
        a.cancellation = Some(Cancellation {
            requestor: "x".into(),
            comment: "y".into(),
            at: OffsetDateTime::now_utc(),
        });
        assert_eq!(a.state(t0 + Duration::from_secs(60)).0, "Cancelled");
    }

    #[test]
    fn body_keys_are_case_sensitive() {
        assert!(body_object(br#"{"Comment":"x"}"#, &["Comment"]).is_ok());
        let wrong = body_object(br#"{"comment":"x"}"#, &["Comment"]).expect_err("wrong case");
        assert_eq!(wrong.code, "InvalidRequestBody");
        assert!(body_object(b"not json", &["Comment"]).is_err());
        let map = body_object(br#"{"Other":"x"}"#, &["Comment"]).expect("unknown keys are ignored");
        assert!(required_string(&map, "Comment").is_err());
    }
}
