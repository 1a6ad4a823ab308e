//! One machine as the fleet table keeps it: its two prepared answers (the encoded full and
//! basic views, less the links and tenant that are rebuilt from the id) and the few facts the
//! look-ups read. Not the assessment: its
//! machine record, alert and vulnerability, links and reasons exist only inside the encoded
//! answers, which is what makes a 100,000-machine table fit in a few hundred megabytes
//! (docs/fleet-table.md, "Memory").
//!
//! A reader that needs an [`Assessment`] gets a light one made on demand
//! ([`Row::assessment`]): the whole answers (the kept part, with the links and tenant added
//! back) and the identifiers, no score or records. Every way of answering reads the prepared
//! answers first (`services::risk::responses`), so the answer is the same as the full
//! assessment's.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::defender::{DefenderTime, HealthStatus, Machine};
use crate::risk::assess::RenderedAnswer;
use crate::risk::machine_key::MachineKey;
use crate::risk::{Assessment, Candidate, PortalLinks, Score};

/// What the table keeps of an assessment's two answers (full, basic): each view's encoded
/// fields without the three portal links and the tenant, which are the same for every
/// machine but its id and cost about 900 bytes a machine in the two views.
#[derive(Clone, Debug)]
pub struct AnswerCore {
    /// The full view's fields, less links and tenant.
    pub full: bytes::Bytes,
    /// The basic view's fields, less links and tenant.
    pub basic: bytes::Bytes,
}

/// Encodes the table's answers (the service layer, which knows the wire format and the
/// portal: `services::TablePortalEncoder`).
pub trait AnswerEncoder: Send + Sync + std::fmt::Debug {
    /// The kept part of `a`'s answers; `None` if it cannot be encoded (the machine is then
    /// left out of the table and answered by the cold path).
    fn core(&self, a: &Assessment) -> Option<AnswerCore>;

    /// The two whole answers (full, basic) of a machine from their kept part, its id and
    /// the tenant.
    fn answers(
        &self,
        core: &AnswerCore,
        machine_id: &str,
        tenant: &str,
    ) -> Option<(RenderedAnswer, RenderedAnswer)>;
}

/// The encoder a generation uses.
pub type Render = Arc<dyn AnswerEncoder>;

/// What the look-ups read of a machine.
#[derive(Debug)]
pub(super) struct Facts {
    /// The id, compact (20 bytes inline for Defender's 40-hex ids).
    pub(super) key: MachineKey,
    /// `computerDnsName` as sent (empty when none).
    pub(super) dns: Box<str>,
    /// `lastIpAddress` as sent (empty when none).
    pub(super) last_ip: Box<str>,
    /// Every address of the machine, sorted: its interfaces' and its last IP.
    pub(super) ips: Box<[IpAddr]>,
    pub(super) first_seen: Option<DefenderTime>,
    pub(super) last_seen: Option<DefenderTime>,
    /// `healthStatus` is `Active` (its reports run to now).
    pub(super) active: bool,
    /// [`fingerprint`] of the machine entity the row was assessed from.
    pub(super) fingerprint: u64,
}

/// A hash of what a device report can change in the machine entity and what the answer
/// shows of it (levels, health, names, addresses, OS, group, tags, agent), but not its
/// times: two reads with the same fingerprint give the same answer for the same alerts and
/// vulnerabilities. The incremental refresh re-assesses a machine whose fingerprint moved.
pub fn fingerprint(m: &Machine) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    m.id.hash(&mut h);
    m.risk_score.hash(&mut h);
    m.exposure_level.hash(&mut h);
    m.health_status.hash(&mut h);
    m.onboarding_status.hash(&mut h);
    m.device_value.hash(&mut h);
    m.computer_dns_name.hash(&mut h);
    m.last_ip_address.hash(&mut h);
    m.last_external_ip_address.hash(&mut h);
    for ip in m.ip_addresses.iter().flatten() {
        ip.ip_address.hash(&mut h);
        ip.mac_address.hash(&mut h);
        ip.r#type.hash(&mut h);
        ip.operational_status.hash(&mut h);
    }
    m.os_platform.hash(&mut h);
    m.os_processor.hash(&mut h);
    m.os_architecture.hash(&mut h);
    m.version.hash(&mut h);
    m.os_version.hash(&mut h);
    m.os_build.hash(&mut h);
    m.rbac_group_name.hash(&mut h);
    m.is_aad_joined.hash(&mut h);
    m.aad_device_id.hash(&mut h);
    m.machine_tags.hash(&mut h);
    m.agent_version.hash(&mut h);
    m.defender_av_status.hash(&mut h);
    m.managed_by.hash(&mut h);
    h.finish()
}

impl Facts {
    /// The facts of `m`; `None` for a machine without an id.
    pub(super) fn of(m: &Machine) -> Option<Self> {
        let id = m.id.as_deref().filter(|id| !id.is_empty())?;
        Some(Self {
            key: MachineKey::of(id),
            dns: m.computer_dns_name.as_deref().unwrap_or_default().into(),
            last_ip: m.last_ip_address.as_deref().unwrap_or_default().into(),
            ips: machine_ips(m).into_boxed_slice(),
            first_seen: m.first_seen.clone(),
            last_seen: m.last_seen.clone(),
            active: matches!(m.health_status, Some(HealthStatus::Active)),
            fingerprint: fingerprint(m),
        })
    }

    /// The id in lower case.
    pub(super) fn id(&self) -> String {
        match &self.key {
            MachineKey::Hex(bytes) => hex::encode(bytes),
            MachineKey::Text(text) => text.to_string(),
        }
    }

    /// The candidate entry of the machine (the look-up's `other_candidates`).
    pub(super) fn candidate(&self) -> Candidate {
        Candidate {
            machine_id: self.id(),
            computer_dns_name: self.dns.to_string(),
            last_ip_address: self.last_ip.to_string(),
            last_seen: self.last_seen.clone(),
        }
    }

    /// The machine entity as far as the table knows it (identifiers and times only).
    pub(super) fn machine(&self) -> Machine {
        self.machine_with_id(self.id())
    }

    fn machine_with_id(&self, id: String) -> Machine {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Machine {
            id: Some(id),
            computer_dns_name: text(&self.dns),
            last_ip_address: text(&self.last_ip),
            first_seen: self.first_seen.clone(),
            last_seen: self.last_seen.clone(),
            health_status: self.active.then_some(HealthStatus::Active),
            ..Machine::default()
        }
    }
}

/// Every address of the machine: its interfaces' and its last local IP, sorted, once each.
pub(super) fn machine_ips(m: &Machine) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = m
        .ip_addresses
        .iter()
        .flatten()
        .filter_map(|a| a.ip_address.as_deref())
        .chain(m.last_ip_address.as_deref())
        .filter_map(|text| text.trim().parse().ok())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// One machine of the table.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) facts: Facts,
    pub(super) core: AnswerCore,
    evaluated_at: SystemTime,
}

impl Row {
    /// The row of `a`, encoded by `render`; `None` without an id or when it cannot be encoded.
    pub(super) fn of(a: &Assessment, render: &Render) -> Option<Self> {
        let facts = Facts::of(&a.machine)?;
        let core = render.core(a)?;
        Some(Self {
            facts,
            core,
            evaluated_at: a.evaluated_at,
        })
    }

    /// A light assessment of the row: its whole answers (made now from the kept part) and
    /// identifiers, no score or records; every way of answering reads the answers.
    pub(super) fn assessment(&self, tenant: &str, render: &Render) -> Option<Arc<Assessment>> {
        let id = self.facts.id();
        let (full, basic) = render.answers(&self.core, &id, tenant)?;
        Some(Arc::new(Assessment {
            tenant: tenant.to_string(),
            machine: Arc::new(self.facts.machine_with_id(id)),
            score: Score::default(),
            links: PortalLinks::default(),
            evaluated_at: self.evaluated_at,
            rendered: OnceLock::from(full),
            rendered_basic: OnceLock::from(basic),
        }))
    }
}
