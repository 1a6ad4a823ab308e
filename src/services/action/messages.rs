//! `ActionService` conversions: proto requests → validated [`crate::actions`] requests (no
//! upstream call on bad input), and Defender's MachineAction → proto.

use std::time::Duration;

use crate::actions::request::{self, ActionKind, ActionRequest, CancelRequest};
use crate::actions::{ActionFilters, Stamp};
use crate::defender::{ActionStatus, ActionType, IsolationType, MachineAction, ScanType};
use crate::error::ServiceError;
use crate::proto;
use crate::risk::validate;
use crate::services::risk::responses::time;

fn enum_value<T: TryFrom<i32>>(field: &str, value: i32) -> Result<T, ServiceError> {
    T::try_from(value)
        .map_err(|_| ServiceError::invalid(field, format!("unknown enum value {value}")))
}

/// `IsolateMachine`'s request.
pub fn isolate(r: &proto::IsolateMachineRequest) -> Result<ActionRequest, ServiceError> {
    let isolation = match enum_value("isolation_type", r.isolation_type)? {
        proto::IsolationType::Unspecified | proto::IsolationType::Full => IsolationType::Full,
        proto::IsolationType::Selective => IsolationType::Selective,
        proto::IsolationType::UnmanagedDevice => IsolationType::UnManagedDevice,
    };
    action(
        &r.machine_id,
        &r.comment,
        &r.request_id,
        ActionKind::Isolate(isolation),
    )
}

/// `ReleaseMachine`'s request.
pub fn release(r: &proto::ReleaseMachineRequest) -> Result<ActionRequest, ServiceError> {
    action(
        &r.machine_id,
        &r.comment,
        &r.request_id,
        ActionKind::Release,
    )
}

/// `RunAntivirusScan`'s request.
pub fn scan(r: &proto::RunAntivirusScanRequest) -> Result<ActionRequest, ServiceError> {
    let scan = match enum_value("scan_type", r.scan_type)? {
        proto::ScanType::Unspecified | proto::ScanType::Quick => ScanType::Quick,
        proto::ScanType::Full => ScanType::Full,
    };
    action(
        &r.machine_id,
        &r.comment,
        &r.request_id,
        ActionKind::Scan(scan),
    )
}

fn action(
    machine_id: &str,
    comment: &str,
    request_id: &str,
    kind: ActionKind,
) -> Result<ActionRequest, ServiceError> {
    Ok(ActionRequest {
        machine_id: validate::machine_id("machine_id", machine_id)?,
        comment: request::comment("comment", comment)?,
        request_id: request::request_id("request_id", request_id)?,
        kind,
    })
}

/// `CancelMachineAction`'s request.
pub fn cancel(r: &proto::CancelMachineActionRequest) -> Result<CancelRequest, ServiceError> {
    Ok(CancelRequest {
        action_id: request::action_id("action_id", &r.action_id)?,
        comment: request::comment("comment", &r.comment)?,
        request_id: request::request_id("request_id", &r.request_id)?,
    })
}

/// `ListMachineActions`' filters.
pub fn filters(r: &proto::ListMachineActionsRequest) -> Result<ActionFilters, ServiceError> {
    let machine_id = match r.machine_id.trim() {
        "" => None,
        id => Some(validate::machine_id("machine_id", id)?),
    };
    let action_type = match enum_value("type", r.r#type)? {
        proto::MachineActionType::Unspecified => None,
        proto::MachineActionType::Other => {
            return Err(ServiceError::invalid(
                "type",
                "OTHER is not a filter: leave it UNSPECIFIED to list every type",
            ));
        }
        known => Some(action_type_from_proto(known)),
    };
    let status = match enum_value("status", r.status)? {
        proto::MachineActionStatus::Unspecified => None,
        proto::MachineActionStatus::Other => {
            return Err(ServiceError::invalid(
                "status",
                "OTHER is not a filter: leave it UNSPECIFIED to list every status",
            ));
        }
        known => Some(status_from_proto(known)),
    };
    Ok(ActionFilters {
        machine_id,
        action_type,
        status,
    })
}

/// `WatchMachineAction`'s poll interval (negative is INVALID_FIELD; clamping is the caller's).
pub fn poll_interval(d: Option<&prost_types::Duration>) -> Result<Option<Duration>, ServiceError> {
    let Some(d) = d else { return Ok(None) };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(ServiceError::invalid(
            "poll_interval",
            "must not be negative (unset means 5 seconds)",
        ));
    }
    let secs = u64::try_from(d.seconds).unwrap_or(u64::MAX);
    let nanos = u32::try_from(d.nanos).unwrap_or(0);
    Ok(Some(
        Duration::from_secs(secs).saturating_add(Duration::from_nanos(u64::from(nanos))),
    ))
}

fn action_type_from_proto(t: proto::MachineActionType) -> ActionType {
    use proto::MachineActionType as P;
    match t {
        P::Isolate => ActionType::Isolate,
        P::Unisolate => ActionType::Unisolate,
        P::RunAntivirusScan => ActionType::RunAntiVirusScan,
        P::Offboard => ActionType::Offboard,
        P::LiveResponse => ActionType::LiveResponse,
        P::CollectInvestigationPackage => ActionType::CollectInvestigationPackage,
        P::StopAndQuarantineFile => ActionType::StopAndQuarantineFile,
        P::RestrictCodeExecution => ActionType::RestrictCodeExecution,
        P::UnrestrictCodeExecution => ActionType::UnrestrictCodeExecution,
        P::Unspecified | P::Other => ActionType::Other(String::new()),
    }
}

fn status_from_proto(s: proto::MachineActionStatus) -> ActionStatus {
    use proto::MachineActionStatus as P;
    match s {
        P::Pending => ActionStatus::Pending,
        P::InProgress => ActionStatus::InProgress,
        P::Succeeded => ActionStatus::Succeeded,
        P::Failed => ActionStatus::Failed,
        P::Timeout => ActionStatus::TimeOut,
        P::Cancelled => ActionStatus::Cancelled,
        P::Unspecified | P::Other => ActionStatus::Other(String::new()),
    }
}

fn action_type(t: Option<&ActionType>) -> proto::MachineActionType {
    use proto::MachineActionType as P;
    match t {
        None => P::Unspecified,
        Some(ActionType::Isolate) => P::Isolate,
        Some(ActionType::Unisolate) => P::Unisolate,
        Some(ActionType::RunAntiVirusScan) => P::RunAntivirusScan,
        Some(ActionType::Offboard) => P::Offboard,
        Some(ActionType::LiveResponse) => P::LiveResponse,
        Some(ActionType::CollectInvestigationPackage) => P::CollectInvestigationPackage,
        Some(ActionType::StopAndQuarantineFile) => P::StopAndQuarantineFile,
        Some(ActionType::RestrictCodeExecution) => P::RestrictCodeExecution,
        Some(ActionType::UnrestrictCodeExecution) => P::UnrestrictCodeExecution,
        Some(ActionType::Other(_)) => P::Other,
    }
}

fn status(s: Option<&ActionStatus>) -> proto::MachineActionStatus {
    use proto::MachineActionStatus as P;
    match s {
        None => P::Unspecified,
        Some(ActionStatus::Pending) => P::Pending,
        Some(ActionStatus::InProgress) => P::InProgress,
        Some(ActionStatus::Succeeded) => P::Succeeded,
        Some(ActionStatus::Failed) => P::Failed,
        Some(ActionStatus::TimeOut) => P::Timeout,
        Some(ActionStatus::Cancelled) => P::Cancelled,
        Some(ActionStatus::Other(_)) => P::Other,
    }
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// Defender's MachineAction; `request_id` comes from the stamp of actions requested here.
pub fn machine_action(a: &MachineAction) -> proto::MachineAction {
    proto::MachineAction {
        id: text(&a.id),
        r#type: action_type(a.r#type.as_ref()) as i32,
        type_name: a
            .r#type
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        scope: text(&a.scope),
        requestor: text(&a.requestor),
        requestor_comment: text(&a.requestor_comment),
        status: status(a.status.as_ref()) as i32,
        status_name: a
            .status
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        machine_id: text(&a.machine_id),
        computer_dns_name: text(&a.computer_dns_name),
        creation_date_time_utc: time(a.creation_date_time_utc.as_ref()),
        last_update_date_time_utc: time(a.last_update_date_time_utc.as_ref()),
        cancellation_requestor: text(&a.cancellation_requestor),
        cancellation_comment: text(&a.cancellation_comment),
        cancellation_date_time_utc: time(a.cancellation_date_time_utc.as_ref()),
        error_h_result: a
            .error_h_result
            .and_then(|h| i32::try_from(h).ok())
            .unwrap_or_default(),
        external_id: text(&a.external_id),
        title: text(&a.title),
        request_id: a
            .requestor_comment
            .as_deref()
            .and_then(Stamp::parse)
            .and_then(|s| s.request_id)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_isolation_is_full_and_unknown_values_are_invalid() {
        let mut r = proto::IsolateMachineRequest {
            machine_id: "A".repeat(40),
            comment: "why".into(),
            ..Default::default()
        };
        assert_eq!(
            isolate(&r).expect("ok").kind,
            ActionKind::Isolate(IsolationType::Full)
        );
        r.isolation_type = 42;
        assert!(isolate(&r).is_err());
        r.isolation_type = 0;
        r.comment = " ".into();
        assert!(
            matches!(isolate(&r), Err(ServiceError::InvalidField { field, .. }) if field == "comment")
        );
    }

    #[test]
    fn unspecified_scan_is_quick() {
        let r = proto::RunAntivirusScanRequest {
            machine_id: "a".repeat(40),
            comment: "why".into(),
            ..Default::default()
        };
        assert_eq!(
            scan(&r).expect("ok").kind,
            ActionKind::Scan(ScanType::Quick)
        );
    }

    #[test]
    fn hresults_beyond_i32_become_zero_and_request_id_is_read_from_the_stamp() {
        let a = MachineAction {
            error_h_result: Some(i64::from(i32::MAX) + 1),
            requestor_comment: Some(
                "x [defender-bridge caller=anonymous peer=unknown request_id=r9 ref=00]".into(),
            ),
            ..MachineAction::default()
        };
        let p = machine_action(&a);
        assert_eq!(p.error_h_result, 0);
        assert_eq!(p.request_id, "r9");
    }

    #[test]
    fn negative_poll_interval_is_invalid() {
        let d = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert!(poll_interval(Some(&d)).is_err());
        assert_eq!(poll_interval(None).expect("ok"), None);
    }

    #[test]
    fn other_is_not_a_list_filter() {
        let r = proto::ListMachineActionsRequest {
            r#type: proto::MachineActionType::Other as i32,
            ..Default::default()
        };
        assert!(filters(&r).is_err());
    }
}
