//! The route table: Defender, Entra and Graph paths as Defender matches them (`/api` or
//! `/api/v1.0`, collection names in any case, OData function segments such as `findbyip(...)`),
//! with each API's required roles and rate-limit family.

use axum::http::Method;

use super::ratelimit::ApiFamily;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token { tenant: String, v1: bool },
    Api(ApiRoute),
    GraphHunting,
}

/// The Defender API operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRoute {
    ListMachines,
    GetMachine(String),
    FindByIp(String),
    MachineAlerts(String),
    MachineAlertsCount(String),
    MachineVulnerabilities(String),
    MachineSoftware(String),
    Isolate(String),
    Unisolate(String),
    Scan(String),
    ListAlerts,
    GetAlert(String),
    ListVulnerabilities,
    GetVulnerability(String),
    MachinesVulnerabilities,
    ListSoftware,
    GetSoftware(String),
    SoftwareMachines(String),
    SoftwareVulnerabilities(String),
    ListActions,
    GetAction(String),
    CancelAction(String),
    AdvancedQuery,
}

const MACHINE_READ: &[&str] = &["Machine.Read.All", "Machine.ReadWrite.All"];
const ALERT_READ: &[&str] = &["Alert.Read.All", "Alert.ReadWrite.All"];

impl ApiRoute {
    pub(crate) fn method(&self) -> Method {
        match self {
            Self::Isolate(_)
            | Self::Unisolate(_)
            | Self::Scan(_)
            | Self::CancelAction(_)
            | Self::AdvancedQuery => Method::POST,
            _ => Method::GET,
        }
    }

    /// Any one of these roles suffices.
    pub(crate) fn roles(&self) -> &'static [&'static str] {
        match self {
            Self::ListMachines
            | Self::GetMachine(_)
            | Self::FindByIp(_)
            | Self::ListActions
            | Self::GetAction(_) => MACHINE_READ,
            Self::MachineAlerts(_)
            | Self::MachineAlertsCount(_)
            | Self::ListAlerts
            | Self::GetAlert(_) => ALERT_READ,
            Self::MachineVulnerabilities(_)
            | Self::ListVulnerabilities
            | Self::GetVulnerability(_)
            | Self::MachinesVulnerabilities => &["Vulnerability.Read.All"],
            Self::MachineSoftware(_)
            | Self::ListSoftware
            | Self::GetSoftware(_)
            | Self::SoftwareMachines(_)
            | Self::SoftwareVulnerabilities(_) => &["Software.Read.All"],
            Self::Isolate(_) | Self::Unisolate(_) => &["Machine.Isolate"],
            Self::Scan(_) => &["Machine.Scan"],
            Self::CancelAction(_) => &["Machine.Isolate", "Machine.Scan"],
            Self::AdvancedQuery => &["AdvancedQuery.Read.All"],
        }
    }

    pub(crate) fn family(&self) -> ApiFamily {
        match self {
            Self::ListMachines | Self::GetMachine(_) | Self::FindByIp(_) => ApiFamily::Machines,
            Self::ListActions | Self::GetAction(_) | Self::CancelAction(_) => {
                ApiFamily::MachineActions
            }
            Self::Isolate(_) | Self::Unisolate(_) | Self::Scan(_) => ApiFamily::ActionRequests,
            Self::MachineAlerts(_)
            | Self::MachineAlertsCount(_)
            | Self::ListAlerts
            | Self::GetAlert(_) => ApiFamily::Alerts,
            Self::MachineVulnerabilities(_) => ApiFamily::MachineVulnerabilities,
            Self::ListVulnerabilities
            | Self::GetVulnerability(_)
            | Self::MachinesVulnerabilities => ApiFamily::Vulnerabilities,
            Self::MachineSoftware(_)
            | Self::ListSoftware
            | Self::GetSoftware(_)
            | Self::SoftwareMachines(_)
            | Self::SoftwareVulnerabilities(_) => ApiFamily::Software,
            Self::AdvancedQuery => ApiFamily::Hunting,
        }
    }
}

/// Why a path did not route.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RouteError {
    NotFound,
    MethodNotAllowed,
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Routes a percent-decoded path.
pub(crate) fn parse_route(method: &Method, path: &str) -> Result<Route, RouteError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Token endpoints: /{tenant}/oauth2/v2.0/token and /{tenant}/oauth2/token.
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    match l.as_slice() {
        [_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"] => {
            if method != Method::POST {
                return Err(RouteError::MethodNotAllowed);
            }
            return Ok(Route::Token {
                tenant: segs[0].to_string(),
                v1: l.len() == 3,
            });
        }
        ["v1.0" | "beta", "security", "runhuntingquery"] => {
            if method != Method::POST {
                return Err(RouteError::MethodNotAllowed);
            }
            return Ok(Route::GraphHunting);
        }
        _ => {}
    }
    let rest = strip_prefix_ci(path.trim_end_matches('/'), "/api/v1.0/")
        .or_else(|| strip_prefix_ci(path.trim_end_matches('/'), "/api/"))
        .ok_or(RouteError::NotFound)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let arg = |i: usize| segs[i].to_string();
    let route = match l.as_slice() {
        ["machines"] => ApiRoute::ListMachines,
        ["machines", f] if f.starts_with("findbyip(") => ApiRoute::FindByIp(arg(1)),
        ["machines", _] => ApiRoute::GetMachine(arg(1)),
        ["machines", _, "alerts"] => ApiRoute::MachineAlerts(arg(1)),
        ["machines", _, "alerts", "$count"] => ApiRoute::MachineAlertsCount(arg(1)),
        ["machines", _, "vulnerabilities"] => ApiRoute::MachineVulnerabilities(arg(1)),
        ["machines", _, "software"] => ApiRoute::MachineSoftware(arg(1)),
        ["machines", _, "isolate"] => ApiRoute::Isolate(arg(1)),
        ["machines", _, "unisolate"] => ApiRoute::Unisolate(arg(1)),
        ["machines", _, "runantivirusscan"] => ApiRoute::Scan(arg(1)),
        ["alerts"] => ApiRoute::ListAlerts,
        ["alerts", _] => ApiRoute::GetAlert(arg(1)),
        ["vulnerabilities"] => ApiRoute::ListVulnerabilities,
        ["vulnerabilities", "machinesvulnerabilities"] => ApiRoute::MachinesVulnerabilities,
        ["vulnerabilities", _] => ApiRoute::GetVulnerability(arg(1)),
        ["software"] => ApiRoute::ListSoftware,
        ["software", _] => ApiRoute::GetSoftware(arg(1)),
        ["software", _, "machinereferences"] => ApiRoute::SoftwareMachines(arg(1)),
        ["software", _, "vulnerabilities"] => ApiRoute::SoftwareVulnerabilities(arg(1)),
        ["machineactions"] => ApiRoute::ListActions,
        ["machineactions", _] => ApiRoute::GetAction(arg(1)),
        ["machineactions", _, "cancel"] => ApiRoute::CancelAction(arg(1)),
        ["advancedqueries", "run"] => ApiRoute::AdvancedQuery,
        _ => return Err(RouteError::NotFound),
    };
    if route.method() != method {
        return Err(RouteError::MethodNotAllowed);
    }
    Ok(Route::Api(route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_with_either_prefix_and_any_case_of_collection_names() {
        let get = Method::GET;
        assert_eq!(
            parse_route(&get, "/api/machines"),
            Ok(Route::Api(ApiRoute::ListMachines))
        );
        assert_eq!(
            parse_route(&get, "/api/v1.0/Machines/"),
            Ok(Route::Api(ApiRoute::ListMachines))
        );
        assert_eq!(
            parse_route(&get, "/api/Software/microsoft-_-edge"),
            Ok(Route::Api(ApiRoute::GetSoftware("microsoft-_-edge".into())))
        );
        assert_eq!(
            parse_route(
                &get,
                "/api/machines/findbyip(ip='10.0.0.1',timestamp=2024-01-01T00:00:00Z)"
            ),
            Ok(Route::Api(ApiRoute::FindByIp(
                "findbyip(ip='10.0.0.1',timestamp=2024-01-01T00:00:00Z)".into()
            )))
        );
        assert_eq!(
            parse_route(&Method::POST, "/t/oauth2/v2.0/token"),
            Ok(Route::Token {
                tenant: "t".into(),
                v1: false
            })
        );
        assert_eq!(
            parse_route(&get, "/api/machines/x/isolate"),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(parse_route(&get, "/nope"), Err(RouteError::NotFound));
        assert_eq!(
            parse_route(&Method::POST, "/v1.0/security/runHuntingQuery"),
            Ok(Route::GraphHunting)
        );
    }
}
