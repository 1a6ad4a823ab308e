//! The Machine entity (`GET /api/machines[/{id}]`) and the small records around it.

use serde::{Deserialize, Serialize};

use super::enums::{DeviceValue, ExposureLevel, HealthStatus, OnboardingStatus, RiskScore};
use super::lenient;
use super::time::DefenderTime;

/// Machine `rbacGroupId`: documented as a string, sent as a number. Both are accepted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RbacGroupId {
    /// The usual numeric id (`0` when the device is in no group).
    Number(i64),
    /// A string id, as the documentation describes it.
    Text(String),
}

impl std::fmt::Display for RbacGroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// One network interface address of a machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAddressInfo {
    /// IPv4 or IPv6 address.
    pub ip_address: Option<String>,
    /// MAC address, e.g. `8CEC4B897E73`.
    pub mac_address: Option<String>,
    /// Interface type, e.g. `Ethernet`.
    #[serde(rename = "type")]
    pub r#type: Option<String>,
    /// Interface status, e.g. `Up`.
    pub operational_status: Option<String>,
}

/// A device known to Defender. Every field is optional; unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Machine {
    /// 40-hex device id.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// FQDN (may be empty).
    pub computer_dns_name: Option<String>,
    /// First seen.
    pub first_seen: Option<DefenderTime>,
    /// Last full device report (about daily), not the portal's "last seen".
    pub last_seen: Option<DefenderTime>,
    /// e.g. `Windows10`, `WindowsServer2022`, `Linux`.
    pub os_platform: Option<String>,
    /// Deprecated by Defender in favour of `os_architecture`.
    pub os_processor: Option<String>,
    /// `32-bit` / `64-bit`.
    pub os_architecture: Option<String>,
    /// OS version, e.g. `21H1`.
    pub version: Option<String>,
    /// OS version (undocumented).
    pub os_version: Option<String>,
    /// OS build number.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub os_build: Option<i64>,
    /// Last IP on a local NIC.
    pub last_ip_address: Option<String>,
    /// Last internet-facing IP.
    pub last_external_ip_address: Option<String>,
    /// Sensor health.
    pub health_status: Option<HealthStatus>,
    /// Onboarding state.
    pub onboarding_status: Option<OnboardingStatus>,
    /// Device group id (number or string).
    pub rbac_group_id: Option<RbacGroupId>,
    /// Device group name.
    pub rbac_group_name: Option<String>,
    /// Defender's risk score (`None` is the string "None"; absent is JSON null).
    pub risk_score: Option<RiskScore>,
    /// Exposure level.
    pub exposure_level: Option<ExposureLevel>,
    /// Device value.
    pub device_value: Option<DeviceValue>,
    /// Entra-joined.
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub is_aad_joined: Option<bool>,
    /// Entra device id.
    pub aad_device_id: Option<String>,
    /// Tags.
    #[serde(deserialize_with = "lenient::opt_strings")]
    pub machine_tags: Option<Vec<String>>,
    /// Interfaces and their addresses.
    pub ip_addresses: Option<Vec<IpAddressInfo>>,
    /// Sensor version (undocumented).
    pub agent_version: Option<String>,
    /// Antivirus status (undocumented), e.g. `Updated`.
    pub defender_av_status: Option<String>,
    /// Management tool (undocumented).
    pub managed_by: Option<String>,
    /// VM metadata (undocumented; kept as JSON).
    pub vm_metadata: Option<serde_json::Value>,
}

/// A device that has a given software installed (`/api/Software/{id}/machineReferences`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineReference {
    /// Device id.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// FQDN.
    pub computer_dns_name: Option<String>,
    /// OS platform.
    pub os_platform: Option<String>,
    /// Device group name.
    pub rbac_group_name: Option<String>,
}
