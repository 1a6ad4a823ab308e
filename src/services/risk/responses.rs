//! Read-side responses, domain → proto: Defender entities field by field (Defender's names in
//! snake_case; null becomes empty or 0), risk levels, and the endpoint risk with its links.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use tonic::Status;
use url::Url;

use super::grpc_raw;
use super::views::{self, View};
use crate::defender::{
    Alert, AlertSeverity, AlertStatus, DefenderTime, Machine, Vulnerability, VulnerabilitySeverity,
};
use crate::error::ServiceError;
use crate::proto;
use crate::risk::assess::{RenderedAnswer, alert_url, vulnerability_url};
use crate::risk::{Assessment, Candidate, EndpointRisk, FleetSummary, RiskLevel};

/// A domain level as the proto enum number; unknown is UNSPECIFIED.
pub fn risk_level(level: Option<RiskLevel>) -> i32 {
    (match level {
        None => proto::RiskLevel::Unspecified,
        Some(RiskLevel::None) => proto::RiskLevel::None,
        Some(RiskLevel::Informational) => proto::RiskLevel::Informational,
        Some(RiskLevel::Low) => proto::RiskLevel::Low,
        Some(RiskLevel::Medium) => proto::RiskLevel::Medium,
        Some(RiskLevel::High) => proto::RiskLevel::High,
        Some(RiskLevel::Critical) => proto::RiskLevel::Critical,
    }) as i32
}

/// A Defender time as a Timestamp; unset when absent or unparsable.
pub fn time(t: Option<&DefenderTime>) -> Option<prost_types::Timestamp> {
    let at = t?.datetime()?;
    let nanos = at.unix_timestamp_nanos();
    Some(prost_types::Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?,
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?,
    })
}

/// An optional Defender string as a proto string (null is empty).
pub(super) fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// Defender's Machine entity.
pub fn machine(m: &Machine) -> proto::Machine {
    proto::Machine {
        id: text(&m.id),
        computer_dns_name: text(&m.computer_dns_name),
        first_seen: time(m.first_seen.as_ref()),
        last_seen: time(m.last_seen.as_ref()),
        os_platform: text(&m.os_platform),
        os_version: text(&m.os_version),
        os_processor: text(&m.os_processor),
        os_architecture: text(&m.os_architecture),
        version: text(&m.version),
        os_build: m.os_build.unwrap_or_default(),
        last_ip_address: text(&m.last_ip_address),
        last_external_ip_address: text(&m.last_external_ip_address),
        health_status: m
            .health_status
            .as_ref()
            .map(|h| h.to_string())
            .unwrap_or_default(),
        onboarding_status: m
            .onboarding_status
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_default(),
        rbac_group_id: m
            .rbac_group_id
            .as_ref()
            .map(|g| g.to_string())
            .unwrap_or_default(),
        rbac_group_name: text(&m.rbac_group_name),
        risk_score: risk_level(m.risk_score.as_ref().and_then(RiskLevel::from_risk_score)),
        exposure_level: risk_level(
            m.exposure_level
                .as_ref()
                .and_then(RiskLevel::from_exposure_level),
        ),
        device_value: m
            .device_value
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        is_aad_joined: m.is_aad_joined.unwrap_or_default(),
        aad_device_id: text(&m.aad_device_id),
        machine_tags: m.machine_tags.clone().unwrap_or_default(),
        ip_addresses: m
            .ip_addresses
            .iter()
            .flatten()
            .map(|a| proto::IpAddress {
                ip_address: text(&a.ip_address),
                mac_address: text(&a.mac_address),
                r#type: text(&a.r#type),
                operational_status: text(&a.operational_status),
            })
            .collect(),
        agent_version: text(&m.agent_version),
        defender_av_status: text(&m.defender_av_status),
        managed_by: text(&m.managed_by),
    }
}

/// An alert severity as the proto enum number; unknown is UNSPECIFIED.
pub(super) fn alert_severity(s: Option<&AlertSeverity>) -> i32 {
    (match s {
        Some(AlertSeverity::Informational) => proto::AlertSeverity::Informational,
        Some(AlertSeverity::Low) => proto::AlertSeverity::Low,
        Some(AlertSeverity::Medium) => proto::AlertSeverity::Medium,
        // Defender documents no Critical alerts; one would still be at least High.
        Some(AlertSeverity::High | AlertSeverity::Critical) => proto::AlertSeverity::High,
        _ => proto::AlertSeverity::Unspecified,
    }) as i32
}

fn alert_status(s: Option<&AlertStatus>) -> i32 {
    (match s {
        None => proto::AlertStatus::Unspecified,
        Some(AlertStatus::New) => proto::AlertStatus::New,
        Some(AlertStatus::InProgress) => proto::AlertStatus::InProgress,
        Some(AlertStatus::Resolved) => proto::AlertStatus::Resolved,
        Some(AlertStatus::Unknown | AlertStatus::Other(_)) => proto::AlertStatus::Unknown,
    }) as i32
}

/// Defender's Alert entity, with its portal link.
pub fn alert(a: &Alert, portal: &Url, tenant: &str) -> proto::Alert {
    proto::Alert {
        id: text(&a.id),
        incident_id: a.incident_id.unwrap_or_default(),
        investigation_id: a.investigation_id.unwrap_or_default(),
        assigned_to: text(&a.assigned_to),
        severity: alert_severity(a.severity.as_ref()),
        status: alert_status(a.status.as_ref()),
        classification: text(&a.classification),
        determination: text(&a.determination),
        investigation_state: text(&a.investigation_state),
        category: text(&a.category),
        detection_source: text(&a.detection_source),
        threat_family_name: text(&a.threat_family_name),
        title: text(&a.title),
        description: text(&a.description),
        alert_creation_time: time(a.alert_creation_time.as_ref()),
        first_event_time: time(a.first_event_time.as_ref()),
        last_event_time: time(a.last_event_time.as_ref()),
        last_update_time: time(a.last_update_time.as_ref()),
        resolved_time: time(a.resolved_time.as_ref()),
        machine_id: text(&a.machine_id),
        computer_dns_name: text(&a.computer_dns_name),
        rbac_group_name: text(&a.rbac_group_name),
        mitre_techniques: a.mitre_techniques.clone().unwrap_or_default(),
        portal_url: a
            .id
            .as_deref()
            .map(|id| alert_url(portal, tenant, id))
            .unwrap_or_default(),
        threat_name: text(&a.threat_name),
        detector_id: text(&a.detector_id),
    }
}

/// A vulnerability severity as the proto enum number; unknown is UNSPECIFIED.
pub(super) fn vulnerability_severity(s: Option<&VulnerabilitySeverity>) -> i32 {
    (match s {
        Some(VulnerabilitySeverity::Low) => proto::VulnerabilitySeverity::Low,
        Some(VulnerabilitySeverity::Medium) => proto::VulnerabilitySeverity::Medium,
        Some(VulnerabilitySeverity::High) => proto::VulnerabilitySeverity::High,
        Some(VulnerabilitySeverity::Critical) => proto::VulnerabilitySeverity::Critical,
        _ => proto::VulnerabilitySeverity::Unspecified,
    }) as i32
}

/// Defender's Vulnerability entity, with its portal link.
pub fn vulnerability(v: &Vulnerability, portal: &Url, tenant: &str) -> proto::Vulnerability {
    proto::Vulnerability {
        id: text(&v.id),
        name: text(&v.name),
        description: text(&v.description),
        severity: vulnerability_severity(v.severity.as_ref()),
        cvss_v3: v.cvss_v3.filter(|c| c.is_finite()).unwrap_or_default(),
        cvss_vector: text(&v.cvss_vector),
        exposed_machines: v.exposed_machines.unwrap_or_default(),
        published_on: time(v.published_on.as_ref()),
        updated_on: time(v.updated_on.as_ref()),
        public_exploit: v.public_exploit.unwrap_or_default(),
        exploit_verified: v.exploit_verified.unwrap_or_default(),
        exploit_in_kit: v.exploit_in_kit.unwrap_or_default(),
        exploit_types: v.exploit_types.clone().unwrap_or_default(),
        exploit_uris: v.exploit_uris.clone().unwrap_or_default(),
        cve_supportability: v
            .cve_supportability
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        epss: v.epss.filter(|e| e.is_finite()).unwrap_or_default(),
        portal_url: v
            .id
            .as_deref()
            .map(|id| vulnerability_url(portal, tenant, id))
            .unwrap_or_default(),
    }
}

/// A look-up's other match.
pub(super) fn candidate(c: &Candidate) -> proto::CandidateMachine {
    proto::CandidateMachine {
        machine_id: c.machine_id.clone(),
        computer_dns_name: c.computer_dns_name.clone(),
        last_ip_address: c.last_ip_address.clone(),
        last_seen: time(c.last_seen.as_ref()),
    }
}

/// One endpoint's risk as a message. A stale answer says so first in `reasons`.
pub fn endpoint_risk(r: &EndpointRisk, portal: &Url) -> proto::EndpointRisk {
    let mut msg = prepared_fields(r.assessment.rendered.get())
        .unwrap_or_else(|| render(&r.assessment, portal));
    if let Some(err) = &r.stale_because {
        msg.reasons.insert(0, stale_reason(err));
    }
    msg.stale = r.stale_because.is_some();
    msg.cached = r.cached;
    msg.other_candidates = r.other_candidates.iter().map(candidate).collect();
    msg
}

fn stale_reason(err: &ServiceError) -> String {
    format!(
        "stale: Defender is failing ({}), so this is the last good assessment; see evaluated_at",
        err.reason()
    )
}

/// One endpoint's risk in `view` as a whole gRPC message frame (prefix included), ready to
/// write.
///
/// The assessment's own fields in that view are encoded once, on the view's first use, and
/// kept with it, together with the complete frame of a cache hit's answer, which is then
/// written as is. Other answers append their per-request fields (`cached`, `other_candidates`)
/// to the kept fields: protobuf defines a field appended to a message as the same as that field
/// set in it. A stale answer (which also changes `reasons` in the full view) is encoded in
/// full.
pub fn endpoint_risk_frame(r: EndpointRisk, view: View, portal: &Url) -> Result<Bytes, Status> {
    if r.stale_because.is_some() {
        return frame(&[], &views::endpoint_risk(&r, view, portal));
    }
    let slot = match view {
        View::Full => &r.assessment.rendered,
        View::Basic => &r.assessment.rendered_basic,
    };
    let rendered = match slot.get() {
        Some(rendered) => rendered,
        None => {
            let fields = match view {
                View::Full => render(&r.assessment, portal),
                View::Basic => views::basic(&r.assessment),
            };
            let rendered = render_answer(&fields)?;
            slot.get_or_init(|| rendered)
        }
    };
    if r.cached && r.other_candidates.is_empty() {
        return Ok(rendered.hit_frame.clone());
    }
    let fields = rendered
        .hit_frame
        .get(grpc_raw::PREFIX_LEN..grpc_raw::PREFIX_LEN + rendered.fields_len)
        .unwrap_or_default();
    let per_request = proto::EndpointRisk {
        other_candidates: r.other_candidates.iter().map(candidate).collect(),
        cached: r.cached,
        ..Default::default()
    };
    frame(fields, &per_request)
}

/// One gRPC message frame: the prefix, `fields` (already encoded), then `message`.
fn frame(fields: &[u8], message: &proto::EndpointRisk) -> Result<Bytes, Status> {
    let len = fields.len() + message.encoded_len();
    let mut frame = BytesMut::with_capacity(grpc_raw::PREFIX_LEN + len);
    grpc_raw::put_prefix(&mut frame, len)?;
    frame.put_slice(fields);
    // Encoding into a `BytesMut` only fails if it cannot grow; said plainly should it happen.
    message
        .encode(&mut frame)
        .map_err(|err| Status::internal(format!("cannot encode the answer: {err}")))?;
    Ok(frame.freeze())
}

/// An assessment's fields (`message`, without the per-request fields), encoded, and the frame
/// of a cache hit's answer around them.
fn render_answer(message: &proto::EndpointRisk) -> Result<RenderedAnswer, Status> {
    let fields = message.encode_to_vec();
    let hit = proto::EndpointRisk {
        cached: true,
        ..Default::default()
    };
    Ok(RenderedAnswer {
        hit_frame: frame(&fields, &hit)?,
        fields_len: fields.len(),
    })
}

/// The fields kept in a prepared answer, decoded. An assessment's prepared bytes are the
/// encoding of exactly what [`render`] (or [`views::basic`]) makes of it, so decoding them gives
/// the same message; the fleet table's assessments carry only these bytes (their records,
/// links and texts are not kept apart), so every way of answering reads them first.
pub(super) fn prepared_fields(rendered: Option<&RenderedAnswer>) -> Option<proto::EndpointRisk> {
    let r = rendered?;
    let end = grpc_raw::PREFIX_LEN.checked_add(r.fields_len)?;
    let fields = r.hit_frame.get(grpc_raw::PREFIX_LEN..end)?;
    proto::EndpointRisk::decode(fields).ok()
}

/// The assessment as the API message, without the per-request fields.
pub(super) fn render(a: &Assessment, portal: &Url) -> proto::EndpointRisk {
    let s = &a.score;
    proto::EndpointRisk {
        machine: Some(machine(&a.machine)),
        most_severe_vulnerability: s
            .most_severe_vulnerability
            .as_ref()
            .map(|v| vulnerability(v, portal, &a.tenant)),
        most_severe_alert: s
            .most_severe_alert
            .as_ref()
            .map(|al| alert(al, portal, &a.tenant)),
        reasons: s.reasons.clone(),
        ..shared_fields(a)
    }
}

/// What every view shows alike: levels, counts, links, missing permissions, time, tenant
/// (records and reasons empty, per-request fields unset). Every field is named, so a field
/// added to `EndpointRisk` has to be placed here or in a view.
pub(super) fn shared_fields(a: &Assessment) -> proto::EndpointRisk {
    let s = &a.score;
    proto::EndpointRisk {
        machine: None,
        risk_level: risk_level(s.risk_level),
        defender_risk_score: risk_level(s.defender_risk_score),
        exposure_level: risk_level(s.exposure_level),
        exposure_risk_level: risk_level(s.exposure_risk_level),
        alert_risk_level: risk_level(s.alert_risk_level),
        vulnerability_count: i32::try_from(s.vulnerability_count).unwrap_or(i32::MAX),
        most_severe_vulnerability: None,
        most_severe_alert: None,
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

/// The assessment's portal links.
pub(super) fn links(a: &Assessment) -> proto::PortalLinks {
    proto::PortalLinks {
        overview_url: a.links.overview_url.clone(),
        vulnerabilities_url: a.links.vulnerabilities_url.clone(),
        alerts_url: a.links.alerts_url.clone(),
    }
}

/// A batch item's error: what its own call's status would have been.
pub fn endpoint_risk_error(err: &ServiceError) -> proto::EndpointRiskError {
    proto::EndpointRiskError {
        code: err.code() as i32,
        reason: err.reason().to_string(),
        message: err.to_string(),
        metadata: err.metadata(),
    }
}

/// The last message of a fleet stream.
pub fn fleet_summary(s: &FleetSummary) -> proto::FleetSummary {
    proto::FleetSummary {
        machine_count: i64::try_from(s.machine_count).unwrap_or(i64::MAX),
        complete: s.complete,
        reason_incomplete: s.reason_incomplete.clone(),
        missing_permissions: s.missing_permissions.clone(),
        upstream_call_count: i32::try_from(s.upstream_call_count).unwrap_or(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{Score, assess::Assessment};

    fn decode_frame(frame: &[u8]) -> proto::EndpointRisk {
        assert_eq!(frame[0], 0, "uncompressed");
        let len = u32::from_be_bytes(frame[1..5].try_into().expect("prefix")) as usize;
        assert_eq!(len, frame.len() - 5, "the prefix gives the message length");
        proto::EndpointRisk::decode(&frame[5..]).expect("valid protobuf")
    }

    #[test]
    fn every_frame_decodes_to_the_converted_message() {
        let portal = Url::parse("https://security.microsoft.com").expect("url");
        let machine = Machine {
            id: Some("ab".repeat(20)),
            computer_dns_name: Some("ws-1.contoso.com".into()),
            ..Machine::default()
        };
        let score = Score {
            risk_level: Some(RiskLevel::High),
            vulnerability_count: 3,
            reasons: vec!["riskScore is High".into()],
            ..Score::default()
        };
        let assessment = std::sync::Arc::new(Assessment::new(
            "t",
            &portal,
            std::sync::Arc::new(machine),
            score,
        ));
        let risk = |cached, candidates: usize, stale: bool| EndpointRisk {
            assessment: assessment.clone(),
            other_candidates: (0..candidates)
                .map(|i| Candidate {
                    machine_id: format!("{i:040}"),
                    computer_dns_name: format!("ws-{i}"),
                    last_ip_address: "10.0.0.1".into(),
                    last_seen: None,
                })
                .collect(),
            cached,
            stale_because: stale.then(|| ServiceError::UpstreamUnavailable {
                message: "503".into(),
                retry_after: None,
            }),
        };
        // The hit twice: first rendered, then the kept frame.
        for view in [View::Full, View::Basic] {
            for r in [
                risk(true, 0, false),
                risk(true, 0, false),
                risk(false, 0, false),
                risk(true, 2, false),
                risk(false, 1, false),
                risk(true, 0, true),
            ] {
                let expected = views::endpoint_risk(&r, view, &portal);
                let frame = endpoint_risk_frame(r, view, &portal).expect("frame");
                assert_eq!(decode_frame(&frame), expected, "{view:?}");
            }
        }
        assert!(assessment.rendered.get().is_some(), "rendered once, kept");
        assert!(
            assessment.rendered_basic.get().is_some(),
            "the same for BASIC"
        );
    }

    #[test]
    fn times_keep_sub_second_precision() {
        let t = DefenderTime::parse("2021-01-26T20:33:57.7220239Z");
        let ts = time(Some(&t)).expect("parsed");
        assert_eq!(ts.nanos, 722_023_900);
        assert!(time(Some(&DefenderTime::parse("garbage"))).is_none());
    }

    #[test]
    fn unknown_level_is_unspecified() {
        assert_eq!(risk_level(None), proto::RiskLevel::Unspecified as i32);
        assert_eq!(
            risk_level(Some(RiskLevel::Critical)),
            proto::RiskLevel::Critical as i32
        );
    }

    #[test]
    fn batch_item_errors_carry_code_reason_and_metadata() {
        let e = endpoint_risk_error(&ServiceError::invalid("requests[2].hostname", "bad"));
        assert_eq!(e.code, tonic::Code::InvalidArgument as i32);
        assert_eq!(e.reason, "INVALID_FIELD");
        assert_eq!(
            e.metadata.get("field").map(String::as_str),
            Some("requests[2].hostname")
        );
    }
}
