//! The Software entity (`GET /api/Software[/{id}]`).

use serde::{Deserialize, Serialize};

use super::lenient;

/// A software product in the inventory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Software {
    /// `<vendor>-_-<name>`, e.g. `microsoft-_-edge`.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Number of known weaknesses (CVEs).
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub weaknesses: Option<i64>,
    /// A public exploit exists.
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub public_exploit: Option<bool>,
    /// An active alert is associated.
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub active_alert: Option<bool>,
    /// Exposed devices.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub exposed_machines: Option<i64>,
    /// Devices with it installed.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub installed_machines: Option<i64>,
    /// Impact score.
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub impact_score: Option<f64>,
    /// Normalised by Defender.
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub is_normalized: Option<bool>,
    /// Category.
    pub category: Option<String>,
    /// Distributions (kept as JSON).
    pub distributions: Option<Vec<serde_json::Value>>,
}
