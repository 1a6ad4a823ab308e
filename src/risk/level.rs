//! The domain risk level and how Defender's own levels map onto it.
//!
//! Defender speaks four vocabularies (machine `riskScore`, machine `exposureLevel`, alert
//! `severity`, vulnerability `severity`); the risk model (docs/risk-model.md) compares across
//! them, so each is mapped once, here, onto one ordered [`RiskLevel`]. A value Defender gave as
//! JSON null, or one this build does not know, is *unknown* (`None` in an
//! `Option<RiskLevel>`): unknown never raises a level.

use std::fmt;

use crate::defender::{AlertSeverity, ExposureLevel, RiskScore, VulnerabilitySeverity};

/// A risk level, least to most severe. `Ord` follows severity, so the combined level is a `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    /// Assessed, no risk.
    None,
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: reached only through a critical vulnerability.
    Critical,
}

impl RiskLevel {
    /// Every level, least severe first.
    pub const ALL: [RiskLevel; 6] = [
        RiskLevel::None,
        RiskLevel::Informational,
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
    ];

    /// Defender's spelling (`None`, `Informational`, ..., `Critical`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RiskLevel::None => "None",
            RiskLevel::Informational => "Informational",
            RiskLevel::Low => "Low",
            RiskLevel::Medium => "Medium",
            RiskLevel::High => "High",
            RiskLevel::Critical => "Critical",
        }
    }

    /// A machine's `riskScore`; unknown values are unknown.
    pub fn from_risk_score(score: &RiskScore) -> Option<Self> {
        Some(match score {
            RiskScore::None => Self::None,
            RiskScore::Informational => Self::Informational,
            RiskScore::Low => Self::Low,
            RiskScore::Medium => Self::Medium,
            RiskScore::High => Self::High,
            RiskScore::Critical => Self::Critical,
            RiskScore::Other(_) => return None,
        })
    }

    /// A machine's `exposureLevel`; unknown values are unknown.
    pub fn from_exposure_level(level: &ExposureLevel) -> Option<Self> {
        Some(match level {
            ExposureLevel::None => Self::None,
            ExposureLevel::Low => Self::Low,
            ExposureLevel::Medium => Self::Medium,
            ExposureLevel::High => Self::High,
            ExposureLevel::Other(_) => return None,
        })
    }

    /// An *active* alert's severity. `UnSpecified` and unknown severities count as
    /// Informational: an active alert exists, so the level is not None, but no severity is
    /// invented for it.
    pub fn from_alert_severity(severity: Option<&AlertSeverity>) -> Self {
        match severity {
            Some(AlertSeverity::Low) => Self::Low,
            Some(AlertSeverity::Medium) => Self::Medium,
            Some(AlertSeverity::High) => Self::High,
            Some(AlertSeverity::Critical) => Self::Critical,
            Some(AlertSeverity::Informational | AlertSeverity::UnSpecified)
            | Some(AlertSeverity::Other(_))
            | None => Self::Informational,
        }
    }

    /// A listed vulnerability's severity. A CVE without a known severity counts as Low: it is
    /// listed, so it is a risk, but no severity is invented for it.
    pub fn from_vulnerability_severity(severity: Option<&VulnerabilitySeverity>) -> Self {
        match severity {
            Some(VulnerabilitySeverity::None) => Self::None,
            Some(VulnerabilitySeverity::Medium) => Self::Medium,
            Some(VulnerabilitySeverity::High) => Self::High,
            Some(VulnerabilitySeverity::Critical) => Self::Critical,
            Some(VulnerabilitySeverity::Low) | Some(VulnerabilitySeverity::Other(_)) | None => {
                Self::Low
            }
        }
    }

    /// True above Informational: the threshold of the risk model's rule 3.
    pub fn is_meaningful(&self) -> bool {
        *self > RiskLevel::Informational
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An optional level for people: the level, or `unknown`.
pub(crate) fn describe(level: Option<RiskLevel>) -> &'static str {
    level.map_or("unknown", |l| l.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defender_levels_map_in_order() {
        let scores = ["None", "Informational", "Low", "Medium", "High"];
        let mapped: Vec<_> = scores
            .iter()
            .map(|s| RiskLevel::from_risk_score(&RiskScore::parse(s)))
            .collect();
        assert!(mapped.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            RiskLevel::from_exposure_level(&ExposureLevel::High),
            Some(RiskLevel::High)
        );
        assert_eq!(
            RiskLevel::from_vulnerability_severity(Some(&VulnerabilitySeverity::Critical)),
            RiskLevel::Critical
        );
    }

    #[test]
    fn unknown_defender_values_are_unknown_not_a_level() {
        assert_eq!(
            RiskLevel::from_risk_score(&RiskScore::Other("Severe".into())),
            None
        );
        assert_eq!(
            RiskLevel::from_exposure_level(&ExposureLevel::Other(String::new())),
            None
        );
    }

    #[test]
    fn active_alert_without_severity_counts_as_informational() {
        assert_eq!(
            RiskLevel::from_alert_severity(Some(&AlertSeverity::UnSpecified)),
            RiskLevel::Informational
        );
        assert_eq!(
            RiskLevel::from_alert_severity(None),
            RiskLevel::Informational
        );
    }

    #[test]
    fn only_levels_above_informational_are_meaningful() {
        assert!(!RiskLevel::None.is_meaningful());
        assert!(!RiskLevel::Informational.is_meaningful());
        assert!(RiskLevel::Low.is_meaningful());
    }
}
