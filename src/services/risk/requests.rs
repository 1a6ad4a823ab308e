//! Read-side requests, proto → domain: every field validated (bad input is INVALID_FIELD and
//! no upstream call is made; docs/errors.md) and turned into the plain types of [`crate::risk`].

use std::borrow::Cow;

use time::OffsetDateTime;

use crate::defender::{AlertSeverity, AlertStatus, VulnerabilitySeverity};
use crate::error::ServiceError;
use crate::paging::PageRequest;
use crate::proto;
use crate::proto::get_endpoint_risk_request::Endpoint;
use crate::risk::lists::{AlertFilters, VulnerabilityFilters};
use crate::risk::validate;
use crate::risk::{EndpointKey, EndpointQuery, MachineFilters, RiskLevel};

use super::views::View;

/// A `GetEndpointRiskRequest` (or a batch item, whose fields are prefixed by `prefix`).
pub fn endpoint_query(
    req: &proto::GetEndpointRiskRequest,
    prefix: &str,
    bypass_cache: bool,
    now: OffsetDateTime,
) -> Result<EndpointQuery, ServiceError> {
    // Field names are only read on an error; the common, unprefixed call allocates none.
    let field = |name: &'static str| -> Cow<'static, str> {
        if prefix.is_empty() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("{prefix}{name}"))
        }
    };
    let key = match &req.endpoint {
        None => {
            return Err(ServiceError::invalid(
                field("endpoint"),
                "set exactly one of machine_id, ip_address or hostname",
            ));
        }
        Some(Endpoint::MachineId(id)) => {
            EndpointKey::MachineId(validate::machine_id(&field("machine_id"), id)?)
        }
        Some(Endpoint::IpAddress(ip)) => {
            let ip = validate::ip_address(&field("ip_address"), ip)?;
            let given = match &req.observed_at {
                None => None,
                Some(ts) => Some(timestamp(&field("observed_at"), ts)?),
            };
            EndpointKey::Ip {
                ip,
                at: validate::observed_at(&field("observed_at"), given, now)?,
                explicit: given.is_some(),
            }
        }
        Some(Endpoint::Hostname(name)) => {
            EndpointKey::Hostname(validate::hostname(&field("hostname"), name)?)
        }
    };
    Ok(EndpointQuery {
        key,
        bypass_cache: bypass_cache || req.bypass_cache,
    })
}

/// A `RiskView` field (`{prefix}view`): None when UNSPECIFIED (the default applies), an
/// unknown number is INVALID_FIELD.
pub fn view(prefix: &str, value: i32) -> Result<Option<View>, ServiceError> {
    match proto::RiskView::try_from(value) {
        Ok(proto::RiskView::Unspecified) => Ok(None),
        Ok(proto::RiskView::Basic) => Ok(Some(View::Basic)),
        Ok(proto::RiskView::Full) => Ok(Some(View::Full)),
        Err(_) => Err(ServiceError::invalid(
            format!("{prefix}view"),
            format!("unknown RiskView value {value}: use RISK_VIEW_BASIC or RISK_VIEW_FULL"),
        )),
    }
}

fn timestamp(field: &str, ts: &prost_types::Timestamp) -> Result<OffsetDateTime, ServiceError> {
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| ServiceError::invalid(field, "is not a valid timestamp"))
}

/// Refuses a batch of more than 1,000 endpoints (the whole call fails: INVALID_FIELD).
pub fn batch_size(req: &proto::BatchGetEndpointRisksRequest) -> Result<(), ServiceError> {
    if req.requests.len() > validate::MAX_BATCH {
        return Err(ServiceError::invalid(
            "requests",
            format!(
                "at most {} endpoints per batch; got {}: split the batch",
                validate::MAX_BATCH,
                req.requests.len()
            ),
        ));
    }
    Ok(())
}

/// A `RiskLevel` filter on Defender's `riskScore` (None to High).
pub fn risk_score_filter(field: &str, value: i32) -> Result<Option<RiskLevel>, ServiceError> {
    level_filter(field, value, &[RiskLevel::Critical])
}

/// A `RiskLevel` filter on Defender's `exposureLevel` (None, Low, Medium, High).
pub fn exposure_filter(field: &str, value: i32) -> Result<Option<RiskLevel>, ServiceError> {
    level_filter(
        field,
        value,
        &[RiskLevel::Informational, RiskLevel::Critical],
    )
}

fn level_filter(
    field: &str,
    value: i32,
    refused: &[RiskLevel],
) -> Result<Option<RiskLevel>, ServiceError> {
    let level = match proto::RiskLevel::try_from(value) {
        Ok(proto::RiskLevel::Unspecified) => return Ok(None),
        Ok(proto::RiskLevel::None) => RiskLevel::None,
        Ok(proto::RiskLevel::Informational) => RiskLevel::Informational,
        Ok(proto::RiskLevel::Low) => RiskLevel::Low,
        Ok(proto::RiskLevel::Medium) => RiskLevel::Medium,
        Ok(proto::RiskLevel::High) => RiskLevel::High,
        Ok(proto::RiskLevel::Critical) => RiskLevel::Critical,
        Err(_) => {
            return Err(ServiceError::invalid(
                field,
                format!("unknown RiskLevel value {value}"),
            ));
        }
    };
    if refused.contains(&level) {
        return Err(ServiceError::invalid(
            field,
            format!(
                "Defender has no {} value for this field",
                level.as_str().to_uppercase()
            ),
        ));
    }
    Ok(Some(level))
}

/// Machine filters shared by `ListMachines` and `StreamFleetRisk`.
pub fn machine_filters(
    hostname_prefix: &str,
    risk_score: i32,
    exposure_level: i32,
    health_status: &str,
    os_platform: &str,
) -> Result<MachineFilters, ServiceError> {
    Ok(MachineFilters {
        hostname_prefix: validate::hostname_prefix("hostname_prefix", hostname_prefix)?,
        risk_score: risk_score_filter("risk_score", risk_score)?,
        exposure_level: exposure_filter("exposure_level", exposure_level)?,
        health_status: validate::defender_word("health_status", health_status)?,
        os_platform: validate::defender_word("os_platform", os_platform)?,
    })
}

/// An optional machine id filter (empty: none).
fn optional_machine_id(value: &str) -> Result<Option<String>, ServiceError> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        validate::machine_id("machine_id", value).map(Some)
    }
}

/// `ListAlerts` filters.
pub fn alert_filters(req: &proto::ListAlertsRequest) -> Result<AlertFilters, ServiceError> {
    let min_severity = match proto::AlertSeverity::try_from(req.min_severity) {
        Ok(proto::AlertSeverity::Unspecified) => None,
        Ok(proto::AlertSeverity::Informational) => Some(AlertSeverity::Informational),
        Ok(proto::AlertSeverity::Low) => Some(AlertSeverity::Low),
        Ok(proto::AlertSeverity::Medium) => Some(AlertSeverity::Medium),
        Ok(proto::AlertSeverity::High) => Some(AlertSeverity::High),
        Err(_) => {
            return Err(ServiceError::invalid(
                "min_severity",
                "unknown AlertSeverity value",
            ));
        }
    };
    let status = match proto::AlertStatus::try_from(req.status) {
        Ok(proto::AlertStatus::Unspecified) => None,
        Ok(proto::AlertStatus::New) => Some(AlertStatus::New),
        Ok(proto::AlertStatus::InProgress) => Some(AlertStatus::InProgress),
        Ok(proto::AlertStatus::Resolved) => Some(AlertStatus::Resolved),
        Ok(proto::AlertStatus::Unknown) => Some(AlertStatus::Unknown),
        Err(_) => return Err(ServiceError::invalid("status", "unknown AlertStatus value")),
    };
    Ok(AlertFilters {
        machine_id: optional_machine_id(&req.machine_id)?,
        min_severity,
        status,
    })
}

/// `ListVulnerabilities` filters.
pub fn vulnerability_filters(
    req: &proto::ListVulnerabilitiesRequest,
) -> Result<VulnerabilityFilters, ServiceError> {
    let min_severity = match proto::VulnerabilitySeverity::try_from(req.min_severity) {
        Ok(proto::VulnerabilitySeverity::Unspecified) => None,
        Ok(proto::VulnerabilitySeverity::Low) => Some(VulnerabilitySeverity::Low),
        Ok(proto::VulnerabilitySeverity::Medium) => Some(VulnerabilitySeverity::Medium),
        Ok(proto::VulnerabilitySeverity::High) => Some(VulnerabilitySeverity::High),
        Ok(proto::VulnerabilitySeverity::Critical) => Some(VulnerabilitySeverity::Critical),
        Err(_) => {
            return Err(ServiceError::invalid(
                "min_severity",
                "unknown VulnerabilitySeverity value",
            ));
        }
    };
    Ok(VulnerabilityFilters {
        machine_id: optional_machine_id(&req.machine_id)?,
        min_severity,
    })
}

/// The page a list request asks for, from its size and (verified) token offset.
pub fn page(size: i32, offset: u64) -> Result<PageRequest, ServiceError> {
    Ok(PageRequest {
        offset,
        size: validate::page_size("page_size", size)?,
    })
}

/// `max_machines`: 0 is no limit, negative is invalid.
pub fn max_machines(value: i32) -> Result<Option<u64>, ServiceError> {
    match u64::try_from(value) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(ServiceError::invalid(
            "max_machines",
            "must be 0 (no limit) or positive",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(endpoint: Option<Endpoint>) -> proto::GetEndpointRiskRequest {
        proto::GetEndpointRiskRequest {
            endpoint,
            ..Default::default()
        }
    }

    #[test]
    fn exactly_one_endpoint_is_required() {
        let err = endpoint_query(&request(None), "", false, OffsetDateTime::now_utc())
            .expect_err("no endpoint");
        assert!(err.to_string().contains("endpoint"));
    }

    #[test]
    fn batch_items_name_their_position_in_field_violations() {
        let err = endpoint_query(
            &request(Some(Endpoint::MachineId("bad".into()))),
            "requests[3].",
            false,
            OffsetDateTime::now_utc(),
        )
        .expect_err("bad id");
        assert!(
            matches!(err, ServiceError::InvalidField { field, .. } if field == "requests[3].machine_id")
        );
    }

    #[test]
    fn level_filters_refuse_values_defender_does_not_have() {
        assert!(risk_score_filter("risk_score", proto::RiskLevel::Critical as i32).is_err());
        assert!(exposure_filter("exposure_level", proto::RiskLevel::Informational as i32).is_err());
        assert!(exposure_filter("exposure_level", 99).is_err());
        assert_eq!(risk_score_filter("risk_score", 0).expect("ok"), None);
        assert_eq!(
            risk_score_filter("risk_score", proto::RiskLevel::High as i32).expect("ok"),
            Some(RiskLevel::High)
        );
    }

    #[test]
    fn views_default_to_none_and_unknown_ones_name_their_field() {
        assert_eq!(view("", 0).expect("ok"), None);
        assert_eq!(
            view("", proto::RiskView::Basic as i32).expect("ok"),
            Some(View::Basic)
        );
        assert_eq!(
            view("", proto::RiskView::Full as i32).expect("ok"),
            Some(View::Full)
        );
        for (prefix, field) in [("", "view"), ("requests[2].", "requests[2].view")] {
            let err = view(prefix, 3).expect_err("unknown");
            assert!(
                matches!(&err, ServiceError::InvalidField { field: f, .. } if f == field),
                "{err:?}"
            );
        }
    }

    #[test]
    fn max_machines_refuses_negatives() {
        assert_eq!(max_machines(0).expect("ok"), None);
        assert_eq!(max_machines(5).expect("ok"), Some(5));
        assert!(max_machines(-1).is_err());
    }
}
