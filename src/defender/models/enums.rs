//! Defender's string enums. Defender's casing varies (`onboarded` vs `Onboarded`) and it adds
//! values over time, so every enum parses case-insensitively and keeps unknown values in
//! `Other(String)` instead of rejecting the response. Severity-like enums are `Ord` by severity,
//! because risk scoring takes maxima over them.

use std::cmp::Ordering;

/// Defines a string enum with a case-insensitive parser, `Other(String)`, and serde impls that
/// write Defender's spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Defender's spelling of the value (or the unknown value as received).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(value) => value,
                }
            }

            /// Parses case-insensitively; never fails.
            pub fn parse(value: &str) -> Self {
                let trimmed = value.trim();
                $(if trimmed.eq_ignore_ascii_case($wire) { return Self::$variant; })+
                Self::Other(value.to_owned())
            }

            /// Position among the known values (declaration order), `None` for `Other`.
            #[allow(dead_code)]
            fn ordinal(&self) -> Option<usize> {
                [$(Self::$variant),+].iter().position(|known| known == self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(value))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use super::lenient::{scalar, Scalar};
                Ok(match scalar(d)? {
                    Scalar::Str(s) => Self::parse(&s),
                    Scalar::Int(v) => Self::Other(v.to_string()),
                    Scalar::Float(v) => Self::Other(v.to_string()),
                    Scalar::Bool(v) => Self::Other(v.to_string()),
                    Scalar::Nothing => Self::Other(String::new()),
                })
            }
        }
    };
}

/// Orders a severity enum by its declaration order (least severe first). An unknown value
/// ranks below every known one, so a string we do not understand never raises a risk level;
/// unknown values compare by text among themselves to keep `Ord` total.
macro_rules! severity_order {
    ($name:ident) => {
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                match (self.ordinal(), other.ordinal()) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    (Some(_), None) => Ordering::Greater,
                    (None, Some(_)) => Ordering::Less,
                    (None, None) => self.as_str().cmp(other.as_str()),
                }
            }
        }
    };
}

string_enum! {
    /// Machine `riskScore` (documented: None, Informational, Low, Medium, High). `Critical` is
    /// not documented but accepted so it would rank highest if it ever appears.
    RiskScore {
        /// No risk (the string "None", distinct from JSON null).
        None => "None",
        /// Informational.
        Informational => "Informational",
        /// Low.
        Low => "Low",
        /// Medium.
        Medium => "Medium",
        /// High.
        High => "High",
        /// Critical (undocumented for machines).
        Critical => "Critical",
    }
}
severity_order!(RiskScore);

string_enum! {
    /// Machine `exposureLevel` (None, Low, Medium, High).
    ExposureLevel {
        /// No exposure.
        None => "None",
        /// Low.
        Low => "Low",
        /// Medium.
        Medium => "Medium",
        /// High.
        High => "High",
    }
}
severity_order!(ExposureLevel);

string_enum! {
    /// Alert `severity` (UnSpecified, Informational, Low, Medium, High; `Critical` accepted).
    AlertSeverity {
        /// Unspecified (ranks like None).
        UnSpecified => "UnSpecified",
        /// Informational.
        Informational => "Informational",
        /// Low.
        Low => "Low",
        /// Medium.
        Medium => "Medium",
        /// High.
        High => "High",
        /// Critical (undocumented for MDE alerts).
        Critical => "Critical",
    }
}
severity_order!(AlertSeverity);

string_enum! {
    /// Vulnerability `severity` (Low, Medium, High, Critical; `None` accepted).
    VulnerabilitySeverity {
        /// None.
        None => "None",
        /// Low.
        Low => "Low",
        /// Medium.
        Medium => "Medium",
        /// High.
        High => "High",
        /// Critical.
        Critical => "Critical",
    }
}
severity_order!(VulnerabilitySeverity);

string_enum! {
    /// Alert `status`.
    AlertStatus {
        /// Unknown.
        Unknown => "Unknown",
        /// New.
        New => "New",
        /// Being worked on.
        InProgress => "InProgress",
        /// Resolved (does not count towards risk).
        Resolved => "Resolved",
    }
}

string_enum! {
    /// Machine `healthStatus`.
    HealthStatus {
        /// Reporting normally.
        Active => "Active",
        /// Stopped reporting.
        Inactive => "Inactive",
        /// Impaired communication.
        ImpairedCommunication => "ImpairedCommunication",
        /// No sensor data.
        NoSensorData => "NoSensorData",
        /// No sensor data and impaired communication.
        NoSensorDataImpairedCommunication => "NoSensorDataImpairedCommunication",
        /// Unknown.
        Unknown => "Unknown",
    }
}

string_enum! {
    /// Machine `onboardingStatus` (Defender sends both `onboarded` and `Onboarded`).
    OnboardingStatus {
        /// Onboarded.
        Onboarded => "Onboarded",
        /// Can be onboarded.
        CanBeOnboarded => "CanBeOnboarded",
        /// Unsupported.
        Unsupported => "Unsupported",
        /// Insufficient info.
        InsufficientInfo => "InsufficientInfo",
    }
}

string_enum! {
    /// Machine `deviceValue`.
    DeviceValue {
        /// Low value.
        Low => "Low",
        /// Normal.
        Normal => "Normal",
        /// High value.
        High => "High",
    }
}

string_enum! {
    /// MachineAction `status`.
    ActionStatus {
        /// Waiting for the device.
        Pending => "Pending",
        /// Running.
        InProgress => "InProgress",
        /// Done.
        Succeeded => "Succeeded",
        /// Failed.
        Failed => "Failed",
        /// The device did not pick it up in time.
        TimeOut => "TimeOut",
        /// Cancelled.
        Cancelled => "Cancelled",
    }
}

impl ActionStatus {
    /// Succeeded, Failed, TimeOut and Cancelled are final.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimeOut | Self::Cancelled
        )
    }
}

string_enum! {
    /// MachineAction `type`.
    ActionType {
        /// Antivirus scan.
        RunAntiVirusScan => "RunAntiVirusScan",
        /// Offboard.
        Offboard => "Offboard",
        /// Live response.
        LiveResponse => "LiveResponse",
        /// Collect an investigation package.
        CollectInvestigationPackage => "CollectInvestigationPackage",
        /// Isolate.
        Isolate => "Isolate",
        /// Release from isolation.
        Unisolate => "Unisolate",
        /// Stop and quarantine a file.
        StopAndQuarantineFile => "StopAndQuarantineFile",
        /// Restrict app execution.
        RestrictCodeExecution => "RestrictCodeExecution",
        /// Remove app restriction.
        UnrestrictCodeExecution => "UnrestrictCodeExecution",
    }
}

string_enum! {
    /// Vulnerability `CveSupportability`.
    CveSupportability {
        /// Supported.
        Supported => "Supported",
        /// Not supported.
        NotSupported => "Not Supported",
        /// Supported with Defender Vulnerability Management premium.
        SupportedInPremium => "SupportedInPremium",
    }
}

/// Isolation kind for `isolate_machine` (`IsolationType` in the request body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IsolationType {
    /// Full network isolation.
    Full,
    /// Only some apps are cut off (Windows 10 1709+).
    Selective,
    /// Contain an unmanaged device.
    UnManagedDevice,
}

/// Scan kind for `run_antivirus_scan` (`ScanType` in the request body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ScanType {
    /// Quick scan.
    Quick,
    /// Full scan.
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_case_insensitively_and_keep_unknown_values() {
        assert_eq!(
            OnboardingStatus::parse("onboarded"),
            OnboardingStatus::Onboarded
        );
        assert_eq!(
            "impairedcommunication".parse::<HealthStatus>(),
            Ok(HealthStatus::ImpairedCommunication)
        );
        assert_eq!(
            CveSupportability::parse("not supported"),
            CveSupportability::NotSupported
        );
        let odd: ActionStatus = serde_json::from_str("\"Exploded\"").expect("never rejects");
        assert_eq!(odd, ActionStatus::Other("Exploded".into()));
        assert_eq!(serde_json::to_string(&odd).expect("ser"), "\"Exploded\"");
        let number: AlertStatus = serde_json::from_str("3").expect("never rejects");
        assert_eq!(number, AlertStatus::Other("3".into()));
    }

    #[test]
    fn severities_order_by_severity_with_unknown_lowest() {
        assert!(RiskScore::None < RiskScore::Informational);
        assert!(RiskScore::Informational < RiskScore::Low);
        assert!(RiskScore::High < RiskScore::Critical);
        assert!(RiskScore::Other("Weird".into()) < RiskScore::None);
        assert!(ExposureLevel::Medium < ExposureLevel::High);
        assert!(AlertSeverity::UnSpecified < AlertSeverity::Informational);
        assert!(VulnerabilitySeverity::High < VulnerabilitySeverity::Critical);
        let mut v = [
            VulnerabilitySeverity::Medium,
            VulnerabilitySeverity::Critical,
            VulnerabilitySeverity::Low,
        ];
        v.sort();
        assert_eq!(v.last(), Some(&VulnerabilitySeverity::Critical));
    }

    #[test]
    fn action_status_terminal_states() {
        assert!(ActionStatus::Succeeded.is_terminal());
        assert!(ActionStatus::Cancelled.is_terminal());
        assert!(!ActionStatus::Pending.is_terminal());
        assert!(!ActionStatus::InProgress.is_terminal());
    }
}
