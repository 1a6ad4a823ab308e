//! One machine's assessment: fetch what the risk model (docs/risk-model.md) says to fetch (rules 3,
//! 4 and 7) from the per-machine APIs, score it with [`scoring`](super::scoring), and attach the
//! portal links of the configured cloud. The result, [`Assessment`], is what the cache stores.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use url::Url;

use super::scoring::{
    self, ALERT_PERMISSION, Alerts, Part, Score, VULNERABILITY_PERMISSION, Vulnerabilities,
};
use crate::defender::{CallOptions, DefenderClient, DefenderError, Machine};
use crate::error::ServiceError;

/// Links to one machine's pages in the Defender portal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortalLinks {
    /// The device overview page.
    pub overview_url: String,
    /// The device's discovered vulnerabilities tab.
    pub vulnerabilities_url: String,
    /// The device's alerts tab.
    pub alerts_url: String,
}

/// The scored risk of one machine at one time, as cached per (tenant, machine).
#[derive(Clone, Debug)]
pub struct Assessment {
    /// The tenant it belongs to.
    pub tenant: String,
    /// The machine entity the score was computed from.
    pub machine: Arc<Machine>,
    /// Levels, selections and reasons.
    pub score: Score,
    /// Portal links for the tenant's cloud.
    pub links: PortalLinks,
    /// When it was computed from Defender's data.
    pub evaluated_at: SystemTime,
    /// The encoded API answer (its full view), rendered once by the service layer on first
    /// use, so that a cache hit (the hot path) writes these bytes instead of converting and
    /// encoding every field again.
    pub rendered: OnceLock<RenderedAnswer>,
    /// The same for the answer's basic view (levels, counts, identifiers), rendered only if a
    /// caller asks for that view, so its memory is only spent when it is used.
    pub rendered_basic: OnceLock<RenderedAnswer>,
}

/// An assessment's `EndpointRisk` answer, encoded (by the service layer, which knows the
/// wire format).
#[derive(Clone, Debug)]
pub struct RenderedAnswer {
    /// A cache hit's whole answer as one gRPC message frame: the 5-byte prefix, the
    /// assessment's own fields, `cached = true`. Written to the wire as is.
    pub hit_frame: bytes::Bytes,
    /// Length of the assessment's own fields, which start right after the prefix.
    pub fields_len: usize,
}

impl Assessment {
    /// Builds an assessment computed now.
    pub fn new(tenant: &str, portal: &Url, machine: Arc<Machine>, score: Score) -> Self {
        let links = portal_links(portal, tenant, machine.id.as_deref().unwrap_or_default());
        Self {
            tenant: tenant.to_string(),
            machine,
            score,
            links,
            evaluated_at: SystemTime::now(),
            rendered: OnceLock::new(),
            rendered_basic: OnceLock::new(),
        }
    }

    /// A rough size in bytes, for the cache's memory bound (strings dominate; each counted
    /// once plus a fixed overhead per object).
    pub fn approx_size(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let m = &*self.machine;
        let machine = 600
            + text(&m.computer_dns_name)
            + text(&m.rbac_group_name)
            + m.machine_tags
                .as_ref()
                .map_or(0, |t| t.iter().map(|s| s.len() + 24).sum())
            + m.ip_addresses.as_ref().map_or(0, |a| a.len() * 120);
        let vuln = self
            .score
            .most_severe_vulnerability
            .as_ref()
            .map_or(0, |v| {
                400 + text(&v.description)
                    + text(&v.name)
                    + v.exploit_uris
                        .as_ref()
                        .map_or(0, |u| u.iter().map(String::len).sum())
            });
        let alert = self
            .score
            .most_severe_alert
            .as_ref()
            .map_or(0, |a| 700 + text(&a.title) + text(&a.description));
        let reasons: usize = self.score.reasons.iter().map(|r| r.len() + 24).sum();
        let links = self.links.overview_url.len() * 3;
        // The rendered bytes repeat about as much again; the basic view, when rendered, the
        // links, ids and titles once more.
        let basic = links + 300 + text(&m.computer_dns_name);
        2 * (machine + vuln + alert + reasons + links) + basic + 200
    }
}

/// `{portal}/machines/v2/{id}/{tab}?tid={tenant}` (the portal's device page and its tabs).
pub fn portal_links(portal: &Url, tenant: &str, machine_id: &str) -> PortalLinks {
    let tab = |tab: &str| portal_url(portal, tenant, &["machines", "v2", machine_id, tab]);
    PortalLinks {
        overview_url: tab("overview"),
        vulnerabilities_url: tab("vulnerabilities"),
        alerts_url: tab("alerts"),
    }
}

/// `{portal}/alerts/{id}?tid={tenant}`.
pub fn alert_url(portal: &Url, tenant: &str, alert_id: &str) -> String {
    portal_url(portal, tenant, &["alerts", alert_id])
}

/// `{portal}/vulnerabilities/vulnerability/{cve}/overview?tid={tenant}`.
pub fn vulnerability_url(portal: &Url, tenant: &str, cve: &str) -> String {
    portal_url(
        portal,
        tenant,
        &["vulnerabilities", "vulnerability", cve, "overview"],
    )
}

/// A portal URL with percent-encoded segments (an id cannot add path) and the tenant pinned.
fn portal_url(portal: &Url, tenant: &str, segments: &[&str]) -> String {
    let mut url = portal.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url.set_query(None);
    url.query_pairs_mut().append_pair("tid", tenant);
    url.to_string()
}

/// Maps a failed optional read (rule 7): a missing permission leaves the part out; anything
/// else fails the assessment.
pub(crate) fn optional_part<T>(
    result: Result<T, DefenderError>,
    permission: &str,
    machine_id: &str,
) -> Result<Part<T>, ServiceError> {
    match result {
        Ok(items) => Ok(Part::Fetched(items)),
        Err(DefenderError::MissingPermission { required, .. }) => Ok(Part::MissingPermission(
            required
                .into_iter()
                .find(|p| p.eq_ignore_ascii_case(permission))
                .unwrap_or_else(|| permission.to_string()),
        )),
        Err(DefenderError::Forbidden { .. }) => Ok(Part::MissingPermission(permission.to_string())),
        Err(err) => Err(ServiceError::from_defender(err, "machine", machine_id)),
    }
}

/// Scores a machine already read from Defender, fetching its vulnerabilities and alerts per the
/// rules (in parallel: they are independent, and it halves the latency of a cold call).
pub async fn assess_machine(
    client: &DefenderClient,
    tenant: &str,
    portal: &Url,
    machine: Arc<Machine>,
    opts: &CallOptions,
) -> Result<Assessment, ServiceError> {
    let id = machine.id.clone().ok_or_else(|| {
        ServiceError::Internal("Defender returned a machine without an id".into())
    })?;
    let vulnerabilities = async {
        match scoring::vulnerabilities_needed(
            machine.risk_score.as_ref(),
            machine.exposure_level.as_ref(),
        ) {
            Err(why) => Ok(Part::Skipped(why)),
            Ok(()) => optional_part(
                client.list_machine_vulnerabilities(&id, opts).await,
                VULNERABILITY_PERMISSION,
                &id,
            ),
        }
    };
    let alerts = async {
        match scoring::alerts_needed(machine.risk_score.as_ref()) {
            Err(why) => Ok(Part::Skipped(why)),
            Ok(()) => optional_part(
                client.list_machine_alerts(&id, opts).await,
                ALERT_PERMISSION,
                &id,
            ),
        }
    };
    let (vulnerabilities, alerts) = tokio::join!(vulnerabilities, alerts);
    let score = scoring::score(
        &machine,
        vulnerabilities?.map(Vulnerabilities::from),
        alerts?.map(Alerts::from),
    );
    Ok(Assessment::new(tenant, portal, machine, score))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defender::Alert;

    #[test]
    fn links_follow_the_portal_host_and_pin_the_tenant() {
        let portal = Url::parse("https://security.microsoft.us").expect("url");
        let links = portal_links(&portal, "tid-1", "abc");
        assert_eq!(
            links.overview_url,
            "https://security.microsoft.us/machines/v2/abc/overview?tid=tid-1"
        );
        assert_eq!(
            links.vulnerabilities_url,
            "https://security.microsoft.us/machines/v2/abc/vulnerabilities?tid=tid-1"
        );
        assert_eq!(
            links.alerts_url,
            "https://security.microsoft.us/machines/v2/abc/alerts?tid=tid-1"
        );
        assert_eq!(
            alert_url(&portal, "t", "da1_2"),
            "https://security.microsoft.us/alerts/da1_2?tid=t"
        );
        assert_eq!(
            vulnerability_url(&portal, "t", "CVE-2024-1"),
            "https://security.microsoft.us/vulnerabilities/vulnerability/CVE-2024-1/overview?tid=t"
        );
    }

    #[test]
    fn ids_cannot_add_path_to_a_link() {
        let portal = Url::parse("https://security.microsoft.com/").expect("url");
        let link = alert_url(&portal, "t&x=1", "../admin");
        assert!(
            link.starts_with("https://security.microsoft.com/alerts/..%2Fadmin?tid=t%26x%3D1"),
            "{link}"
        );
    }

    #[test]
    fn a_missing_permission_leaves_the_part_out() {
        let part: Part<Vec<Alert>> = optional_part(
            Err(DefenderError::MissingPermission {
                required: vec!["Alert.Read.All".into(), "Alert.ReadWrite.All".into()],
                granted: vec![],
                message: String::new(),
                target: None,
            }),
            ALERT_PERMISSION,
            "m",
        )
        .expect("not an error");
        assert_eq!(part, Part::MissingPermission("Alert.Read.All".into()));
        let err = optional_part::<Vec<Alert>>(
            Err(DefenderError::Upstream {
                status: 503,
                code: None,
                message: "x".into(),
                target: None,
            }),
            ALERT_PERMISSION,
            "m",
        );
        assert!(matches!(err, Err(ServiceError::UpstreamUnavailable { .. })));
    }
}
