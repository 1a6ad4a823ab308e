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
    self, alert_severity, candidate, endpoint_risk as full, text, vulnerability_severity,
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
            ..responses::prepared_fields(r.assessment.rendered_basic.get())
                .unwrap_or_else(|| basic(&r.assessment))
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
        ..responses::shared_fields(a)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;

    use super::*;
    use crate::defender::{Alert, AlertSeverity, Machine, Vulnerability, VulnerabilitySeverity};
    use crate::risk::{RiskLevel, Score};

    fn risk() -> EndpointRisk {
        let portal = Url::parse("https://security.microsoft.com").expect("url");
        let machine = Machine {
            id: Some("ab".repeat(20)),
            computer_dns_name: Some("ws-1.contoso.com".into()),
            last_ip_address: Some("10.0.0.7".into()),
            os_platform: Some("Windows11".into()),
            ..Machine::default()
        };
        let score = Score {
            risk_level: Some(RiskLevel::Critical),
            vulnerability_count: 2,
            active_alert_count: 1,
            most_severe_vulnerability: Some(Vulnerability {
                id: Some("CVE-2024-1".into()),
                name: Some("CVE-2024-1".into()),
                description: Some("a long text".into()),
                severity: Some(VulnerabilitySeverity::Critical),
                ..Vulnerability::default()
            }),
            most_severe_alert: Some(Alert {
                id: Some("da1".into()),
                title: Some("Suspicious thing".into()),
                description: Some("another long text".into()),
                severity: Some(AlertSeverity::High),
                ..Alert::default()
            }),
            reasons: vec!["riskScore is High".into()],
            missing_permissions: vec!["Alert.Read.All".into()],
            ..Score::default()
        };
        EndpointRisk {
            assessment: Arc::new(Assessment::new("t", &portal, Arc::new(machine), score)),
            other_candidates: Vec::new(),
            cached: true,
            stale_because: None,
        }
    }

    #[test]
    fn basic_keeps_levels_counts_and_ids_and_drops_the_records() {
        let portal = Url::parse("https://security.microsoft.com").expect("url");
        let r = risk();
        let full = endpoint_risk(&r, View::Full, &portal);
        let basic = endpoint_risk(&r, View::Basic, &portal);
        assert!(basic.encoded_len() < full.encoded_len());
        let machine = basic.machine.as_ref().expect("machine");
        assert_eq!(
            (
                machine.id.as_str(),
                machine.computer_dns_name.as_str(),
                machine.last_ip_address.as_str()
            ),
            (
                "abababababababababababababababababababab",
                "ws-1.contoso.com",
                "10.0.0.7"
            )
        );
        assert!(machine.os_platform.is_empty());
        let v = basic
            .most_severe_vulnerability
            .as_ref()
            .expect("vulnerability");
        assert_eq!(v.id, "CVE-2024-1");
        assert_eq!(v.severity, proto::VulnerabilitySeverity::Critical as i32);
        assert!(v.description.is_empty() && v.portal_url.is_empty());
        let a = basic.most_severe_alert.as_ref().expect("alert");
        assert_eq!(
            (a.id.as_str(), a.title.as_str()),
            ("da1", "Suspicious thing")
        );
        assert!(a.description.is_empty() && a.portal_url.is_empty());
        assert!(basic.reasons.is_empty() && !full.reasons.is_empty());
        assert_eq!(basic.missing_permissions, full.missing_permissions);
        assert_eq!(
            (
                basic.risk_level,
                basic.vulnerability_count,
                basic.active_alert_count
            ),
            (
                full.risk_level,
                full.vulnerability_count,
                full.active_alert_count
            )
        );
        assert_eq!((basic.links, basic.tenant), (full.links, full.tenant));
        assert_eq!(basic.evaluated_at, full.evaluated_at);
        assert!(basic.cached);
    }
}
