//! The MachineAction entity (isolate, unisolate, scan... and their status).

use serde::{Deserialize, Serialize};

use super::enums::{ActionStatus, ActionType};
use super::lenient;
use super::time::DefenderTime;

/// The file a file action relates to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RelatedFileInfo {
    /// Hash or identifier.
    pub file_identifier: Option<String>,
    /// `Sha1`, `Sha256` or `Md5`.
    pub file_identifier_type: Option<String>,
}

/// An action on a machine and its state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineAction {
    /// Action id (GUID).
    pub id: Option<String>,
    /// What the action does.
    #[serde(rename = "type")]
    pub r#type: Option<ActionType>,
    /// `Full`/`Selective` for isolation, `Quick`/`Full` for scans.
    pub scope: Option<String>,
    /// Who asked (UPN, or the app id for app tokens).
    pub requestor: Option<String>,
    /// The comment given with the request.
    pub requestor_comment: Option<String>,
    /// Where it was requested from.
    pub request_source: Option<String>,
    /// External id.
    #[serde(rename = "externalID", alias = "externalId")]
    pub external_id: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Status.
    pub status: Option<ActionStatus>,
    /// Device id.
    pub machine_id: Option<String>,
    /// Device FQDN.
    pub computer_dns_name: Option<String>,
    /// Created.
    pub creation_date_time_utc: Option<DefenderTime>,
    /// Last update (`lastUpdateTimeUtc` in some responses).
    #[serde(alias = "lastUpdateTimeUtc")]
    pub last_update_date_time_utc: Option<DefenderTime>,
    /// Who cancelled it.
    pub cancellation_requestor: Option<String>,
    /// Cancellation comment.
    pub cancellation_comment: Option<String>,
    /// When it was cancelled.
    pub cancellation_date_time_utc: Option<DefenderTime>,
    /// HRESULT of a failure (`0` when fine).
    #[serde(rename = "errorHResult", deserialize_with = "lenient::opt_i64")]
    pub error_h_result: Option<i64>,
    /// Live-response commands (kept as JSON).
    pub commands: Option<Vec<serde_json::Value>>,
    /// Related file.
    pub related_file_info: Option<RelatedFileInfo>,
    /// Troubleshooting info (undocumented; kept as JSON).
    pub troubleshoot_info: Option<serde_json::Value>,
}
