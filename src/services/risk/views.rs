//! The views of an endpoint's risk (`RiskView`, a partial response as in Google's AIP-157):
//! FULL, every field of `EndpointRisk` ([`super::responses::endpoint_risk`]), and BASIC, what a
//! caller deciding on thousands of endpoints reads: the levels, the counts, and the identifiers
//! of the machine, of the most severe vulnerability and of the most severe alert.
//!
//! Why these fields: the answer stays a few hundred bytes (a full one is about 2.3 KB, mostly
//! the machine record and the alert and vulnerability texts), yet keeps everything needed to
//! act or look further: the machine id is the key of every other call, the DNS name and last
//! IP address are how a network platform knows the endpoint (and show what a look-up by
//! hostname or address resolved to), and the vulnerability and alert ids lead to their full
//! records (`ListVulnerabilities`, `ListAlerts`, the portal links). `reasons` is prose for
//! people, so it is left to the full view.

use url::Url;

use super::responses::{
    alert_severity, candidate, endpoint_risk as full, links, risk_level, text,
    vulnerability_severity,
};
use crate::proto;
use crate::risk::{Assessment, EndpointRisk};

/// Which fields of `EndpointRisk` an answer carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    /// Levels, counts, identifiers, links and the per-request fields.
    Basic,
    /// Every field (the default, and RISK_VIEW_UNSPECIFIED).
    #[default]
    Full,
}

/// One endpoint's risk as a message in `view`.
pub fn endpoint_risk(r: &EndpointRisk, view: View, portal: &Url) -> proto::EndpointRisk {
    match view {
        View::Full => full(r, portal),
        View::Basic => proto::EndpointRisk {
            stale: r.stale_because.is_some(),
            cached: r.cached,
            other_candidates: r.other_candidates.iter().map(candidate).collect(),
            ..basic(&r.assessment)
        },
    }
}

/// The assessment in the basic view, without the per-request fields (`stale`, `cached`,
/// `other_candidates`).
pub(super) fn basic(a: &Assessment) -> proto::EndpointRisk {
    let s = &a.score;
    let m = &a.machine;
    proto::EndpointRisk {
        machine: Some(proto::Machine {
            id: text(&m.id),
            computer_dns_name: text(&m.computer_dns_name),
            last_ip_address: text(&m.last_ip_address),
            ..Default::default()
        }),
        risk_level: risk_level(s.risk_level),
        defender_risk_score: risk_level(s.defender_risk_score),
        exposure_level: risk_level(s.exposure_level),
        exposure_risk_level: risk_level(s.exposure_risk_level),
        alert_risk_level: risk_level(s.alert_risk_level),
        vulnerability_count: i32::try_from(s.vulnerability_count).unwrap_or(i32::MAX),
        most_severe_vulnerability: s.most_severe_vulnerability.as_ref().map(|v| {
            proto::Vulnerability {
                id: text(&v.id),
                name: text(&v.name),
                severity: vulnerability_severity(v.severity.as_ref()),
                ..Default::default()
            }
        }),
        most_severe_alert: s.most_severe_alert.as_ref().map(|al| proto::Alert {
            id: text(&al.id),
            title: text(&al.title),
            severity: alert_severity(al.severity.as_ref()),
            ..Default::default()
        }),
        active_alert_count: i32::try_from(s.active_alert_count).unwrap_or(i32::MAX),
        links: Some(links(a)),
        reasons: Vec::new(),
        missing_permissions: s.missing_permissions.clone(),
        evaluated_at: Some(prost_types::Timestamp::from(a.evaluated_at)),
        stale: false,
        other_candidates: Vec::new(),
        tenant: a.tenant.clone(),
        cached: false,
    }
}
