//! Defender's entities as serde types, as Defender's API sends them.
//!
//! Defender adds fields and enum values, sends numbers as strings now and then, and has changed
//! field names over time, so every field is optional, unknown fields are ignored, enums keep
//! unknown values, and odd values become `None` rather than failing a whole page. They also
//! serialize (in Defender's spelling), for caches and tests.

mod action;
mod alert;
mod enums;
mod hunting;
pub(crate) mod lenient;
mod machine;
mod software;
mod time;
mod vulnerability;

use serde::{Deserialize, Serialize};

pub use action::{MachineAction, RelatedFileInfo};
pub use alert::{Alert, AlertComment, RelatedUser};
pub use enums::{
    ActionStatus, ActionType, AlertSeverity, AlertStatus, CveSupportability, DeviceValue,
    ExposureLevel, HealthStatus, IsolationType, OnboardingStatus, RiskScore, ScanType,
    VulnerabilitySeverity,
};
pub use hunting::{HuntingColumn, HuntingResult};
pub use machine::{IpAddressInfo, Machine, MachineReference, RbacGroupId};
pub use software::Software;
pub use time::DefenderTime;
pub use vulnerability::{
    ExportFiles, MachineVulnerability, SoftwareVulnerabilityRecord, Vulnerability,
};

/// An OData collection page: `{"@odata.context", "value": [...], "@odata.nextLink"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ODataCollection<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page's absolute URL, when Defender says there is one.
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
    /// `@odata.count`, when present.
    #[serde(
        rename = "@odata.count",
        default,
        deserialize_with = "lenient::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<u64>,
}

/// Defender's error body: `{"error": {"code", "message", "target"}}` (Graph adds `innerError`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorBody {
    pub(crate) error: Option<ErrorDetail>,
}

/// The `error` object of [`ErrorBody`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorDetail {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub(crate) code: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub(crate) message: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub(crate) target: Option<String>,
    #[serde(rename = "innerError", alias = "innererror")]
    pub(crate) inner_error: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection<T: serde::de::DeserializeOwned>(json: &str) -> ODataCollection<T> {
        serde_json::from_str(json).expect("sample parses")
    }

    #[test]
    fn machine_samples_parse() {
        let m: Machine =
            serde_json::from_str(include_str!("../testdata/machine.json")).expect("machine");
        assert_eq!(m.id.as_deref(), Some("123"));
        assert_eq!(m.risk_score, Some(RiskScore::None));
        assert_eq!(m.exposure_level, Some(ExposureLevel::High));
        assert_eq!(m.onboarding_status, Some(OnboardingStatus::Onboarded));
        assert_eq!(m.rbac_group_id, Some(RbacGroupId::Number(0)));
        assert_eq!(m.health_status, Some(HealthStatus::Inactive));
        assert_eq!(m.ip_addresses.as_ref().map(Vec::len), Some(8));
        assert_eq!(m.os_build, Some(19043));
        assert!(
            m.last_seen
                .as_ref()
                .and_then(DefenderTime::datetime)
                .is_some()
        );

        let doc: Machine =
            serde_json::from_str(include_str!("../testdata/machine_docs_example.json"))
                .expect("doc");
        assert_eq!(doc.rbac_group_id, Some(RbacGroupId::Number(140)));
        assert_eq!(doc.is_aad_joined, Some(true));

        let page: ODataCollection<Machine> =
            collection(include_str!("../testdata/machines_list_page.json"));
        assert_eq!(page.value.len(), 2);
        assert_eq!(page.value[0].risk_score, Some(RiskScore::High));
        assert_eq!(page.value[0].device_value, Some(DeviceValue::Normal));
        assert!(page.next_link.is_some());
    }

    #[test]
    fn rbac_group_id_accepts_a_string() {
        let m: Machine = serde_json::from_str(r#"{"rbacGroupId":"42"}"#).expect("string id");
        assert_eq!(m.rbac_group_id, Some(RbacGroupId::Text("42".into())));
    }

    #[test]
    fn alert_samples_parse() {
        let page: ODataCollection<Alert> = collection(include_str!("../testdata/alerts_list.json"));
        assert_eq!(page.value.len(), 2);
        let first = &page.value[0];
        assert_eq!(first.severity, Some(AlertSeverity::Low));
        assert_eq!(first.status, Some(AlertStatus::New));
        assert_eq!(first.incident_id, Some(1_126_093));
        assert_eq!(first.evidence.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            first
                .related_user
                .as_ref()
                .and_then(|u| u.user_name.as_deref()),
            Some("temp123")
        );
        let xsoar: ODataCollection<Alert> =
            collection(include_str!("../testdata/alerts_list_xsoar.json"));
        assert_eq!(xsoar.value.len(), 3);
        assert_eq!(xsoar.value[0].severity, Some(AlertSeverity::Medium));
    }

    #[test]
    fn vulnerability_samples_parse() {
        let page: ODataCollection<Vulnerability> =
            collection(include_str!("../testdata/vulnerabilities_list.json"));
        let v = &page.value[0];
        assert_eq!(v.severity, Some(VulnerabilitySeverity::Medium));
        assert_eq!(v.cve_supportability, Some(CveSupportability::Supported));
        assert_eq!(v.cvss_v3, Some(4.3));
        let xsoar: ODataCollection<Vulnerability> =
            collection(include_str!("../testdata/vulnerabilities_list_xsoar.json"));
        assert_eq!(
            xsoar.value[0].severity,
            Some(VulnerabilitySeverity::Critical)
        );
        let per_machine: ODataCollection<Vulnerability> =
            collection(include_str!("../testdata/machine_vulnerabilities.json"));
        assert_eq!(per_machine.value[0].id.as_deref(), Some("CVE-2019-1348"));
        let rows: ODataCollection<MachineVulnerability> = collection(include_str!(
            "../testdata/machines_vulnerabilities_by_software.json"
        ));
        assert_eq!(rows.value[1].fixing_kb_id.as_deref(), Some("3185911"));
        let export: ODataCollection<SoftwareVulnerabilityRecord> = collection(include_str!(
            "../testdata/software_vulnerabilities_by_machine_page.json"
        ));
        assert_eq!(export.value.len(), 2);
        assert!(
            export.value[0]
                .last_seen_timestamp
                .as_ref()
                .and_then(DefenderTime::datetime)
                .is_some()
        );
        assert!(export.next_link.is_some());
        let files: ExportFiles = serde_json::from_str(include_str!(
            "../testdata/software_vulnerabilities_export_files.json"
        ))
        .expect("files");
        assert_eq!(files.export_files.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn software_samples_parse() {
        let s: Software =
            serde_json::from_str(include_str!("../testdata/software.json")).expect("software");
        assert_eq!(s.weaknesses, Some(467));
        assert_eq!(s.impact_score, Some(2.39947438));
        let list: ODataCollection<Software> =
            collection(include_str!("../testdata/software_list_xsoar.json"));
        assert_eq!(list.value[0].installed_machines, Some(1));
        let refs: ODataCollection<MachineReference> = collection(include_str!(
            "../testdata/machine_references_by_software.json"
        ));
        assert_eq!(refs.value.len(), 2);
        assert_eq!(refs.value[1].os_platform.as_deref(), Some("Windows11"));
    }

    #[test]
    fn machine_action_samples_parse() {
        let a: MachineAction =
            serde_json::from_str(include_str!("../testdata/machine_action.json")).expect("action");
        assert_eq!(a.r#type, Some(ActionType::Isolate));
        assert_eq!(a.status, Some(ActionStatus::Succeeded));
        assert!(a.last_update_date_time_utc.is_some());
        let list: ODataCollection<MachineAction> =
            collection(include_str!("../testdata/machine_actions_list.json"));
        assert_eq!(list.value.len(), 3);
        // `lastUpdateTimeUtc` alias.
        assert!(
            list.value
                .iter()
                .all(|a| a.last_update_date_time_utc.is_some())
        );
        assert_eq!(
            list.value[2]
                .related_file_info
                .as_ref()
                .and_then(|f| f.file_identifier_type.as_deref()),
            Some("Sha1")
        );
        for (file, kind) in [
            (
                include_str!("../testdata/isolate_response.json"),
                ActionType::Isolate,
            ),
            (
                include_str!("../testdata/unisolate_response.json"),
                ActionType::Unisolate,
            ),
            (
                include_str!("../testdata/scan_response.json"),
                ActionType::RunAntiVirusScan,
            ),
        ] {
            let a: MachineAction = serde_json::from_str(file).expect("action response");
            assert_eq!(a.r#type, Some(kind));
            assert_eq!(a.status, Some(ActionStatus::Pending));
            assert_eq!(a.error_h_result, Some(0));
        }
    }

    #[test]
    fn hunting_samples_parse() {
        let mde: HuntingResult =
            serde_json::from_str(include_str!("../testdata/advanced_hunting_response.json"))
                .expect("mde");
        assert_eq!(mde.schema.len(), 4);
        assert_eq!(mde.schema[0].r#type, "DateTime");
        assert_eq!(mde.rows.len(), 2);
        assert!(mde.stats.is_none());
        let xdr: HuntingResult = serde_json::from_str(include_str!(
            "../testdata/advanced_hunting_response_xdr.json"
        ))
        .expect("xdr");
        assert!(xdr.stats.is_some());
        let graph: HuntingResult = serde_json::from_str(r#"{"@odata.context":"x","schema":[{"name":"A","type":"String"}],"results":[{"A":"b"}]}"#).expect("graph");
        assert_eq!(graph.schema[0].name, "A");
        assert_eq!(graph.rows[0]["A"], "b");
    }

    #[test]
    fn error_and_request_samples_parse() {
        for body in [
            include_str!("../testdata/error_400_active_request_already_exists.json"),
            include_str!("../testdata/error_400_invalid_request_body.json"),
            include_str!("../testdata/error_403_missing_permission_legacy.json"),
            include_str!("../testdata/error_403_missing_role.json"),
            include_str!("../testdata/error_404_resource_not_found.json"),
            include_str!("../testdata/error_429_quota.json"),
            include_str!("../testdata/error_429_quota_hourly.json"),
        ] {
            let parsed: ErrorBody = serde_json::from_str(body).expect("error body");
            let detail = parsed.error.expect("error object");
            assert!(detail.code.is_some() && detail.message.is_some() && detail.target.is_some());
        }
        let count: u64 =
            serde_json::from_str(include_str!("../testdata/machine_alerts_count.json"))
                .expect("count");
        assert_eq!(count, 4);
        for body in [
            include_str!("../testdata/isolate_request.json"),
            include_str!("../testdata/unisolate_request.json"),
            include_str!("../testdata/scan_request.json"),
            include_str!("../testdata/advanced_hunting_request.json"),
        ] {
            let v: serde_json::Value = serde_json::from_str(body).expect("request body");
            assert!(v.get("Comment").or_else(|| v.get("Query")).is_some());
        }
    }

    #[test]
    fn models_round_trip_through_serde() {
        let page: ODataCollection<Machine> =
            collection(include_str!("../testdata/machines_list_page.json"));
        let text = serde_json::to_string(&page.value[1]).expect("ser");
        assert!(text.contains("\"rbacGroupId\":140"));
        assert!(text.contains("\"riskScore\":\"Low\""));
        let back: Machine = serde_json::from_str(&text).expect("de");
        assert_eq!(back, page.value[1]);
        let v: ODataCollection<Vulnerability> =
            collection(include_str!("../testdata/vulnerabilities_list.json"));
        let text = serde_json::to_string(&v.value[0]).expect("ser");
        assert!(text.contains("\"CveSupportability\""));
    }
}
