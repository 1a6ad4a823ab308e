//! The Alert entity (`GET /api/alerts`, `GET /api/machines/{id}/alerts`).

use serde::{Deserialize, Serialize};

use super::enums::{AlertSeverity, AlertStatus};
use super::lenient;
use super::time::DefenderTime;

/// The user an alert relates to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RelatedUser {
    /// User name.
    pub user_name: Option<String>,
    /// Domain.
    pub domain_name: Option<String>,
}

/// A comment on an alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AlertComment {
    /// Text.
    pub comment: Option<String>,
    /// Author.
    pub created_by: Option<String>,
    /// When.
    pub created_time: Option<DefenderTime>,
}

/// A Defender alert. Every field is optional; unknown fields (e.g. the 2019 `alertFiles`) are
/// ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Alert {
    /// Alert id, e.g. `da637472900382838869_1364969609`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// Incident id.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub incident_id: Option<i64>,
    /// Automated investigation id.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub investigation_id: Option<i64>,
    /// Owner.
    pub assigned_to: Option<String>,
    /// Severity.
    pub severity: Option<AlertSeverity>,
    /// Status (only non-Resolved alerts count towards risk).
    pub status: Option<AlertStatus>,
    /// e.g. `TruePositive`.
    pub classification: Option<String>,
    /// e.g. `Malware`.
    pub determination: Option<String>,
    /// Automated investigation state, e.g. `Queued`.
    pub investigation_state: Option<String>,
    /// e.g. `WindowsDefenderAtp`.
    pub detection_source: Option<String>,
    /// Detector id.
    pub detector_id: Option<String>,
    /// e.g. `Execution`.
    pub category: Option<String>,
    /// Threat family.
    pub threat_family_name: Option<String>,
    /// Threat name.
    pub threat_name: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub alert_creation_time: Option<DefenderTime>,
    /// First event.
    pub first_event_time: Option<DefenderTime>,
    /// Last event.
    pub last_event_time: Option<DefenderTime>,
    /// Last update.
    pub last_update_time: Option<DefenderTime>,
    /// Resolved.
    pub resolved_time: Option<DefenderTime>,
    /// Device id.
    pub machine_id: Option<String>,
    /// Device FQDN.
    pub computer_dns_name: Option<String>,
    /// Device group.
    pub rbac_group_name: Option<String>,
    /// Tenant.
    pub aad_tenant_id: Option<String>,
    /// MITRE technique ids.
    #[serde(deserialize_with = "lenient::opt_strings")]
    pub mitre_techniques: Option<Vec<String>>,
    /// Related user.
    pub related_user: Option<RelatedUser>,
    /// Comments.
    pub comments: Option<Vec<AlertComment>>,
    /// Evidence (only with `$expand=evidence`), kept as JSON.
    pub evidence: Option<Vec<serde_json::Value>>,
}
