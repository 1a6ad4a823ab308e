//! The roles and the one table that says which role each gRPC method needs.
//!
//! | role | methods |
//! |---|---|
//! | `reader` | every `RiskService` read except hunting and `CheckConnection`; `GetMachineAction`, `ListMachineActions`, `WatchMachineAction` |
//! | `hunter` | `RunHuntingQuery` |
//! | `responder` | `IsolateMachine`, `ReleaseMachine`, `RunAntivirusScan`, `CancelMachineAction` |
//! | `admin` | `CheckConnection` |
//!
//! Health is always open (orchestrator probes carry no credentials); reflection needs any
//! authenticated caller; a method path that is not in the table is denied.

use std::fmt;
use std::str::FromStr;

/// A caller role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reads risk, machines, alerts, vulnerabilities, software and machine actions.
    Reader,
    /// Runs advanced hunting queries.
    Hunter,
    /// Acts on machines (isolate, release, scan) and cancels actions.
    Responder,
    /// Tests the connection and permissions (`CheckConnection`).
    Admin,
}

/// Every role, in table order.
pub const ALL_ROLES: [Role; 4] = [Role::Reader, Role::Hunter, Role::Responder, Role::Admin];

impl Role {
    /// The role's name as written in the callers file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Hunter => "hunter",
            Self::Responder => "responder",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_ROLES
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown role `{}`: use reader, hunter, responder or admin",
                    crate::error::echo(s)
                )
            })
    }
}

/// What a method needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (health).
    Open,
    /// Any authenticated caller (reflection).
    Authenticated,
    /// An authenticated caller with this role.
    Role(Role),
    /// Not in the table: denied.
    Unknown,
}

/// How a method weighs on the caller's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// An ordinary call.
    Normal,
    /// Hunting, batch reads and fleet streams: many Defender calls (or much CPU quota) per
    /// call, so they also spend the tighter "heavy" limits.
    Heavy,
}

const RISK: &str = "/defenderbridge.v1.RiskService/";
const ACTION: &str = "/defenderbridge.v1.ActionService/";

/// The table: `(service prefix, method, role, weight)`.
static TABLE: [(&str, &str, Role, Weight); 18] = [
    (RISK, "GetEndpointRisk", Role::Reader, Weight::Normal),
    (RISK, "BatchGetEndpointRisks", Role::Reader, Weight::Heavy),
    (RISK, "StreamFleetRisk", Role::Reader, Weight::Heavy),
    (RISK, "GetMachine", Role::Reader, Weight::Normal),
    (RISK, "ListMachines", Role::Reader, Weight::Normal),
    (RISK, "ListAlerts", Role::Reader, Weight::Normal),
    (RISK, "ListVulnerabilities", Role::Reader, Weight::Normal),
    (RISK, "GetSoftware", Role::Reader, Weight::Normal),
    (RISK, "ListSoftwareMachines", Role::Reader, Weight::Normal),
    (RISK, "RunHuntingQuery", Role::Hunter, Weight::Heavy),
    (RISK, "CheckConnection", Role::Admin, Weight::Normal),
    (ACTION, "IsolateMachine", Role::Responder, Weight::Normal),
    (ACTION, "ReleaseMachine", Role::Responder, Weight::Normal),
    (ACTION, "RunAntivirusScan", Role::Responder, Weight::Normal),
    (
        ACTION,
        "CancelMachineAction",
        Role::Responder,
        Weight::Normal,
    ),
    (ACTION, "GetMachineAction", Role::Reader, Weight::Normal),
    (ACTION, "ListMachineActions", Role::Reader, Weight::Normal),
    (ACTION, "WatchMachineAction", Role::Reader, Weight::Normal),
];

/// Every API method path of the table with the role it needs (for docs and tests).
pub fn api_methods() -> impl Iterator<Item = (String, Role)> {
    TABLE
        .iter()
        .map(|(service, method, role, _)| (format!("{service}{method}"), *role))
}

/// What the method at `path` (`/package.Service/Method`) needs, and its weight.
pub fn access(path: &str) -> (Access, Weight) {
    if path.starts_with("/grpc.health.v1.Health/") {
        return (Access::Open, Weight::Normal);
    }
    if path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
    {
        return (Access::Authenticated, Weight::Normal);
    }
    for (service, method, role, weight) in TABLE {
        if path.strip_prefix(service) == Some(method) {
            return (Access::Role(role), weight);
        }
    }
    (Access::Unknown, Weight::Normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_the_generated_services_is_in_the_table() {
        // The generated descriptor set lists every method: none may fall through to Unknown.
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("descriptors");
        let mut seen = 0;
        for file in &set.file {
            if file.package() != "defenderbridge.v1" {
                continue;
            }
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/defenderbridge.v1.{}/{}", service.name(), method.name());
                    assert!(
                        matches!(access(&path).0, Access::Role(_)),
                        "{path} has no role"
                    );
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, TABLE.len());
    }

    #[test]
    fn health_is_open_reflection_needs_a_caller_and_unknown_paths_are_denied() {
        assert_eq!(access("/grpc.health.v1.Health/Check").0, Access::Open);
        assert_eq!(
            access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").0,
            Access::Authenticated
        );
        assert_eq!(
            access("/defenderbridge.v1.RiskService/Nope").0,
            Access::Unknown
        );
        assert_eq!(
            access("/defenderbridge.v1.RiskService/GetEndpointRiskX").0,
            Access::Unknown
        );
        assert_eq!(access("/other.Svc/GetEndpointRisk").0, Access::Unknown);
        assert_eq!(
            access("/defenderbridge.v1.RiskService/RunHuntingQuery"),
            (Access::Role(Role::Hunter), Weight::Heavy)
        );
    }

    #[test]
    fn role_names_parse_and_unknown_names_are_refused() {
        for role in ALL_ROLES {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
