//! The generated fleet: machines with their vulnerabilities, software and alerts, derived
//! deterministically from (size, seed) and anchored at the simulator's start time so that
//! `lastSeen` is always recent. Per-machine data is kept as small indices into the catalogues;
//! alerts are rebuilt on request from (machine index, alert number).

use std::net::IpAddr;

use time::OffsetDateTime;

use super::catalog::{self, Catalog, PlatformClass, SimSoftware, SimVulnerability};
use super::generate;

/// Machine risk scores (Defender `riskScore`), least to most severe.
pub const RISK_SCORES: [&str; 5] = ["None", "Informational", "Low", "Medium", "High"];
/// Machine exposure levels (Defender `exposureLevel`), least to most severe.
pub const EXPOSURE_LEVELS: [&str; 4] = ["None", "Low", "Medium", "High"];

/// One network interface address of a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimIpAddress {
    /// The address.
    pub ip_address: IpAddr,
    /// The interface's MAC address (48 bits).
    pub mac_address: u64,
}

/// One generated machine (Defender's Machine entity).
#[derive(Clone, Debug)]
pub struct SimMachine {
    /// Position in the fleet.
    pub index: u32,
    /// 40 lowercase hex characters.
    pub id: String,
    /// FQDN (or a short name for a few macOS machines).
    pub computer_dns_name: String,
    /// First report.
    pub first_seen: OffsetDateTime,
    /// Last full report; within the last 30 days.
    pub last_seen: OffsetDateTime,
    /// `Windows10`, `Windows11`, `WindowsServer2019`, `WindowsServer2022`, `Linux` or `macOS`.
    pub os_platform: &'static str,
    /// OS version, e.g. `22H2`.
    pub version: &'static str,
    /// OS build (Windows only).
    pub os_build: Option<u32>,
    /// Agent version.
    pub agent_version: &'static str,
    /// Last IP on a local NIC, in 10.0.0.0/8.
    pub last_ip_address: String,
    /// Last internet-facing IP.
    pub last_external_ip_address: String,
    /// Every interface address (seen continuously between `first_seen` and `last_seen`).
    pub ip_addresses: Vec<SimIpAddress>,
    /// `Active`, `Inactive`, `ImpairedCommunication`, `NoSensorData`, …
    pub health_status: &'static str,
    /// Device group id (`0` = none).
    pub rbac_group_id: u32,
    /// Device group name.
    pub rbac_group_name: Option<&'static str>,
    /// `None`, `Informational`, `Low`, `Medium`, `High`, or JSON null.
    pub risk_score: Option<&'static str>,
    /// `None`, `Low`, `Medium`, `High`, or JSON null.
    pub exposure_level: Option<&'static str>,
    /// `Normal`, `Low` or `High`.
    pub device_value: &'static str,
    /// Entra device id, for Entra-joined machines.
    pub aad_device_id: Option<String>,
    /// Tags.
    pub machine_tags: Vec<&'static str>,
    /// Indices into [`Fleet::vulnerabilities`], sorted.
    pub vulnerabilities: Box<[u16]>,
    /// Indices into [`Fleet::software`], sorted.
    pub software: Box<[u16]>,
    /// Number of alerts (active first, then resolved).
    pub alert_count: u8,
    /// Number of alerts that are not Resolved.
    pub active_alerts: u8,
}

impl SimMachine {
    /// Platform class, for matching software.
    pub fn platform_class(&self) -> PlatformClass {
        platform_class(self.os_platform)
    }
}

pub(crate) fn platform_class(os: &str) -> PlatformClass {
    match os {
        "Linux" => PlatformClass::Linux,
        "macOS" => PlatformClass::Mac,
        _ => PlatformClass::Windows,
    }
}

/// A compact summary of a machine (the `/_sim/fleet` control-plane view).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineSummary {
    /// Machine id.
    pub id: String,
    /// FQDN.
    pub computer_dns_name: String,
    /// Last local IP.
    pub last_ip_address: String,
    /// OS platform.
    pub os_platform: String,
    /// Health status.
    pub health_status: String,
    /// Risk score (null allowed).
    pub risk_score: Option<String>,
    /// Exposure level (null allowed).
    pub exposure_level: Option<String>,
    /// RFC 3339.
    pub last_seen: String,
    /// Number of vulnerabilities.
    pub vulnerabilities: usize,
    /// Alerts that are not resolved.
    pub active_alerts: u8,
    /// All alerts.
    pub alerts: u8,
}

/// The generated data set, read-only once built.
#[derive(Debug)]
pub struct Fleet {
    seed: u64,
    anchor: OffsetDateTime,
    machines: Vec<SimMachine>,
    catalog: Catalog,
    /// (first 8 bytes of the id, machine index), sorted, for id look-ups in little memory.
    by_id: Vec<(u64, u32)>,
    /// Machines that have each product installed.
    installed: Vec<Vec<u32>>,
}

/// Fleet positions with a fixed role (when the fleet is large enough).
pub(crate) const SAMPLE_INDEX: usize = 0;
pub(crate) const TIE_CVSS_INDEX: usize = 1;
pub(crate) const TIE_EXPLOIT_INDEX: usize = 2;
pub(crate) const TIE_ALERT_INDEX: usize = 3;
pub(crate) const CLEAN_INDEX: usize = 4;
pub(crate) const AMBIGUOUS_NAME_INDEX: usize = 6;
pub(crate) const SHARED_IP_INDEX: usize = 8;
/// The machine whose IP [`SHARED_IP_INDEX`] reuses (seen two days ago, now inactive).
pub(crate) const SHARED_IP_PARTNER: usize = SHARED_IP_INDEX - 1;

fn id_key(id: &str) -> Option<u64> {
    let bytes = hex::decode(id.get(..16)?).ok()?;
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

impl Fleet {
    /// Generates `machines` machines from `seed`; times are offsets back from `anchor`.
    pub fn generate(machines: usize, seed: u64, anchor: OffsetDateTime) -> Self {
        let mut catalog = Catalog::build(seed);
        let runnable: Vec<Vec<u16>> = [
            PlatformClass::Windows,
            PlatformClass::Linux,
            PlatformClass::Mac,
        ]
        .iter()
        .map(|c| {
            (0..catalog.software.len() as u16)
                .filter(|i| catalog.software[*i as usize].platform.runs_on(*c))
                .collect()
        })
        .collect();
        let base: Vec<Vec<u16>> = generate::PLATFORMS
            .iter()
            .map(|p| {
                catalog::base_software(p)
                    .iter()
                    .filter_map(|id| catalog.software_index(id).map(|i| i as u16))
                    .collect()
            })
            .collect();
        let mut list: Vec<SimMachine> = Vec::with_capacity(machines);
        for i in 0..machines {
            let m = generate::generate_machine(seed, anchor, i, &catalog, &runnable, &base, &list);
            list.push(m);
        }
        let mut installed = vec![Vec::new(); catalog.software.len()];
        let mut exposed_sw = vec![0u32; catalog.software.len()];
        for m in &list {
            for s in m.software.iter() {
                installed[*s as usize].push(m.index);
            }
            let mut seen: Vec<u16> = m
                .vulnerabilities
                .iter()
                .map(|v| catalog.vulnerabilities[*v as usize].software)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for s in seen {
                exposed_sw[s as usize] += 1;
            }
            for v in m.vulnerabilities.iter() {
                catalog.vulnerabilities[*v as usize].exposed_machines += 1;
            }
        }
        for (i, s) in catalog.software.iter_mut().enumerate() {
            s.installed_machines = installed[i].len() as u32;
            s.exposed_machines = exposed_sw[i];
            s.impact_score = if s.installed_machines == 0 {
                0.0
            } else {
                (f64::from(s.weaknesses) * f64::from(s.exposed_machines)
                    / f64::from(s.installed_machines)
                    * 100.0)
                    .round()
                    / 1000.0
            };
        }
        let mut by_id: Vec<(u64, u32)> = list
            .iter()
            .filter_map(|m| id_key(&m.id).map(|k| (k, m.index)))
            .collect();
        by_id.sort_unstable();
        Self {
            seed,
            anchor,
            machines: list,
            catalog,
            by_id,
            installed,
        }
    }

    /// The seed it was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The instant the machines' times are relative to (the simulator's start).
    pub fn anchor(&self) -> OffsetDateTime {
        self.anchor
    }

    /// Every machine, in fleet order (the order of `GET /api/machines`).
    pub fn machines(&self) -> &[SimMachine] {
        &self.machines
    }

    /// The machine with this id (case-insensitive), if any.
    pub fn find(&self, id: &str) -> Option<&SimMachine> {
        let key = id_key(id)?;
        let start = self.by_id.partition_point(|(k, _)| *k < key);
        self.by_id[start..]
            .iter()
            .take_while(|(k, _)| *k == key)
            .map(|(_, i)| &self.machines[*i as usize])
            .find(|m| m.id.eq_ignore_ascii_case(id))
    }

    /// A machine with High risk, vulnerabilities and active alerts (for the demo's examples);
    /// empty when the fleet is empty.
    pub fn sample_machine_id(&self) -> &str {
        self.machines
            .get(SAMPLE_INDEX)
            .map_or("", |m| m.id.as_str())
    }

    /// A machine whose two most severe vulnerabilities share a severity and differ in CVSS.
    pub fn tie_break_cvss_machine_id(&self) -> Option<&str> {
        self.machines.get(TIE_CVSS_INDEX).map(|m| m.id.as_str())
    }

    /// A machine whose two most severe vulnerabilities share severity and CVSS and differ in
    /// exploit availability.
    pub fn tie_break_exploit_machine_id(&self) -> Option<&str> {
        self.machines.get(TIE_EXPLOIT_INDEX).map(|m| m.id.as_str())
    }

    /// A machine with two active High alerts created at different times.
    pub fn tie_break_alert_machine_id(&self) -> Option<&str> {
        self.machines.get(TIE_ALERT_INDEX).map(|m| m.id.as_str())
    }

    /// A machine with risk None and exposure None (no alerts, no vulnerabilities).
    pub fn clean_machine_id(&self) -> Option<&str> {
        self.machines.get(CLEAN_INDEX).map(|m| m.id.as_str())
    }

    /// A short host name (first DNS label) that two machines in different domains share.
    pub fn ambiguous_short_name(&self) -> Option<&str> {
        self.machines
            .get(AMBIGUOUS_NAME_INDEX)
            .and_then(|m| m.computer_dns_name.split('.').next())
    }

    /// An IP that two machines with different `lastSeen` report as `lastIpAddress`.
    pub fn shared_ip(&self) -> Option<&str> {
        self.machines
            .get(SHARED_IP_INDEX)
            .map(|m| m.last_ip_address.as_str())
    }

    /// The software catalogue.
    pub fn software(&self) -> &[SimSoftware] {
        &self.catalog.software
    }

    /// The vulnerability catalogue.
    pub fn vulnerabilities(&self) -> &[SimVulnerability] {
        &self.catalog.vulnerabilities
    }

    /// Machines that have product `software_index` installed.
    pub fn installed_on(&self, software_index: usize) -> &[u32] {
        self.installed
            .get(software_index)
            .map_or(&[], Vec::as_slice)
    }

    /// Catalogue index of a product id (case-insensitive).
    pub fn software_index(&self, id: &str) -> Option<usize> {
        self.catalog.software_index(id)
    }

    /// Summaries of the first `top` machines.
    pub fn summaries(&self, top: usize) -> Vec<MachineSummary> {
        self.machines
            .iter()
            .take(top)
            .map(|m| MachineSummary {
                id: m.id.clone(),
                computer_dns_name: m.computer_dns_name.clone(),
                last_ip_address: m.last_ip_address.clone(),
                os_platform: m.os_platform.to_string(),
                health_status: m.health_status.to_string(),
                risk_score: m.risk_score.map(str::to_string),
                exposure_level: m.exposure_level.map(str::to_string),
                last_seen: super::wire::iso(m.last_seen),
                vulnerabilities: m.vulnerabilities.len(),
                active_alerts: m.active_alerts,
                alerts: m.alert_count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const ANCHOR: OffsetDateTime = datetime!(2026-01-15 12:00 UTC);

    #[test]
    fn generation_of_100k_machines_is_deterministic_and_fast() {
        let started = std::time::Instant::now();
        let a = Fleet::generate(100_000, 1, ANCHOR);
        let elapsed = started.elapsed();
        println!("generated 100,000 machines in {elapsed:?}");
        let b = Fleet::generate(100_000, 1, ANCHOR);
        assert_eq!(a.machines().len(), 100_000);
        for (x, y) in a.machines().iter().zip(b.machines()) {
            assert_eq!(x.id, y.id);
            assert_eq!(x.computer_dns_name, y.computer_dns_name);
            assert_eq!(x.last_ip_address, y.last_ip_address);
            assert_eq!(x.last_seen, y.last_seen);
            assert_eq!(x.vulnerabilities, y.vulnerabilities);
            assert_eq!(x.alert_count, y.alert_count);
        }
        let c = Fleet::generate(1000, 2, ANCHOR);
        assert_ne!(a.machines()[0].id, c.machines()[0].id);
    }

    #[test]
    fn exposure_none_means_no_vulnerabilities_and_risk_none_means_no_alerts() {
        let f = Fleet::generate(3000, 5, ANCHOR);
        for m in f.machines() {
            if m.exposure_level == Some("None") {
                assert!(m.vulnerabilities.is_empty(), "{}", m.id);
            }
            if matches!(m.risk_score, Some("None") | None) {
                assert_eq!(m.alert_count, 0, "{}", m.id);
            }
            let top = m
                .vulnerabilities
                .iter()
                .map(|v| catalog::vuln_severity_rank(f.vulnerabilities()[*v as usize].severity))
                .max();
            match m.exposure_level {
                Some("Low") => assert!(top.is_some_and(|t| t <= 1)),
                Some("Medium") => assert_eq!(top, Some(2)),
                Some("High") => assert_eq!(top, Some(3)),
                _ => {}
            }
        }
    }

    #[test]
    fn last_seen_is_within_thirty_days_of_the_anchor() {
        let f = Fleet::generate(2000, 3, ANCHOR);
        for m in f.machines() {
            assert!(m.last_seen <= ANCHOR && m.last_seen > ANCHOR - Duration::days(30));
            assert!(m.first_seen < m.last_seen);
            assert!(m.last_ip_address.starts_with("10."));
        }
    }

    #[test]
    fn some_hostnames_collide_in_their_first_label_and_some_ips_are_shared() {
        let f = Fleet::generate(1000, 1, ANCHOR);
        let short = f.ambiguous_short_name().expect("short name");
        let named: Vec<&SimMachine> = f
            .machines()
            .iter()
            .filter(|m| m.computer_dns_name.split('.').next() == Some(short))
            .collect();
        assert_eq!(named.len(), 2);
        assert_ne!(named[0].computer_dns_name, named[1].computer_dns_name);
        let ip = f.shared_ip().expect("ip");
        let same: Vec<&SimMachine> = f
            .machines()
            .iter()
            .filter(|m| m.last_ip_address == ip)
            .collect();
        assert_eq!(same.len(), 2);
        assert_ne!(same[0].last_seen, same[1].last_seen);
    }

    #[test]
    fn find_returns_the_machine_with_that_id_in_any_case() {
        let f = Fleet::generate(500, 9, ANCHOR);
        let m = &f.machines()[321];
        assert_eq!(f.find(&m.id).map(|x| x.index), Some(321));
        assert_eq!(f.find(&m.id.to_uppercase()).map(|x| x.index), Some(321));
        assert!(f.find("0000000000000000000000000000000000000000").is_none());
        assert!(f.find("xyz").is_none());
    }

    #[test]
    fn sample_machine_has_high_risk_vulnerabilities_and_active_alerts() {
        let f = Fleet::generate(10, 1, ANCHOR);
        let m = f.find(f.sample_machine_id()).expect("sample");
        assert_eq!(m.risk_score, Some("High"));
        assert!(!m.vulnerabilities.is_empty());
        assert!(m.active_alerts > 0);
        assert_eq!(Fleet::generate(0, 1, ANCHOR).sample_machine_id(), "");
    }
}
