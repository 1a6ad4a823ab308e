//! Alerts, rebuilt on request from (machine index, alert number) so a 100,000-machine fleet
//! stores only two counters per machine. Ids look like Defender's (`da<ticks>_<number>`) and
//! encode the machine index, so `GET /api/alerts/{id}` needs no index either.

use time::{Duration, OffsetDateTime};

use super::fleet::{Fleet, RISK_SCORES, SimMachine, TIE_ALERT_INDEX};
use super::rng::SplitMix64;

/// Alert severities from least to most severe.
pub const ALERT_SEVERITIES: [&str; 5] = ["UnSpecified", "Informational", "Low", "Medium", "High"];

/// A template for generated alerts.
pub(crate) struct AlertTemplate {
    pub title: &'static str,
    pub category: &'static str,
    pub detection_source: &'static str,
    pub detector_id: &'static str,
    pub threat_family: Option<&'static str>,
    pub mitre: &'static [&'static str],
    pub file_name: &'static str,
    pub description: &'static str,
}

pub(crate) const TEMPLATES: &[AlertTemplate] = &[
    AlertTemplate {
        title: "Low-reputation arbitrary code executed by signed executable",
        category: "Execution",
        detection_source: "WindowsDefenderAtp",
        detector_id: "17e10bbc-3a68-474a-8aad-faef14d43952",
        threat_family: None,
        mitre: &["T1064", "T1085", "T1220"],
        file_name: "rundll32.exe",
        description: "Binaries signed by Microsoft can be used to run low-reputation arbitrary code.",
    },
    AlertTemplate {
        title: "Suspicious 'Meterpreter' behavior was detected",
        category: "SuspiciousActivity",
        detection_source: "WindowsDefenderAv",
        detector_id: "5d5a9b2a-8bf4-4a53-9e8c-2f4e10a8b7c1",
        threat_family: Some("Meterpreter"),
        mitre: &["T1055"],
        file_name: "payload.exe",
        description: "Malware and unwanted software are undesirable applications that perform harmful actions.",
    },
    AlertTemplate {
        title: "Suspicious PowerShell command line",
        category: "Execution",
        detection_source: "WindowsDefenderAtp",
        detector_id: "0b4a1e3c-7d2f-4e47-9a61-6c1d3f5e8a90",
        threat_family: None,
        mitre: &["T1059.001"],
        file_name: "powershell.exe",
        description: "A suspicious PowerShell activity was observed on the machine.",
    },
    AlertTemplate {
        title: "Credential dumping activity observed",
        category: "CredentialAccess",
        detection_source: "WindowsDefenderAtp",
        detector_id: "8a2e6f10-3b1d-4c9e-a7f4-1d2c3b4a5e6f",
        threat_family: None,
        mitre: &["T1003", "T1003.001"],
        file_name: "procdump64.exe",
        description: "A process accessed the memory of the LSASS process to read credentials.",
    },
    AlertTemplate {
        title: "Ransomware behavior detected in the file system",
        category: "Ransomware",
        detection_source: "WindowsDefenderAv",
        detector_id: "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
        threat_family: Some("Ryuk"),
        mitre: &["T1486"],
        file_name: "svch0st.exe",
        description: "Files were encrypted in a pattern typical of ransomware.",
    },
    AlertTemplate {
        title: "Unwanted software detected",
        category: "UnwantedSoftware",
        detection_source: "WindowsDefenderAv",
        detector_id: "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
        threat_family: Some("BundleInstaller"),
        mitre: &[],
        file_name: "setup_bundle.exe",
        description: "Potentially unwanted software was found on the machine.",
    },
    AlertTemplate {
        title: "Connection to a custom network indicator",
        category: "CommandAndControl",
        detection_source: "CustomerTI",
        detector_id: "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f",
        threat_family: None,
        mitre: &["T1071"],
        file_name: "chrome.exe",
        description: "A process connected to an address listed in a custom indicator.",
    },
    AlertTemplate {
        title: "Suspicious shell script executed",
        category: "Execution",
        detection_source: "WindowsDefenderAtp",
        detector_id: "a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c6d",
        threat_family: None,
        mitre: &["T1059.004"],
        file_name: "bash",
        description: "A shell script with characteristics of a downloader was executed.",
    },
];

/// One alert (Defender's Alert entity).
#[derive(Clone, Debug)]
pub struct SimAlert {
    /// `da<ticks>_<number>`.
    pub id: String,
    /// Machine position in the fleet.
    pub machine_index: u32,
    /// Incident id.
    pub incident_id: u64,
    /// Investigation id.
    pub investigation_id: Option<u64>,
    /// Analyst.
    pub assigned_to: Option<&'static str>,
    /// `UnSpecified` … `High`.
    pub severity: &'static str,
    /// `New`, `InProgress` or `Resolved`.
    pub status: &'static str,
    /// Classification (resolved alerts).
    pub classification: Option<&'static str>,
    /// Determination (resolved alerts).
    pub determination: Option<&'static str>,
    /// Investigation state.
    pub investigation_state: &'static str,
    /// Index into the alert templates.
    pub(crate) template: usize,
    /// Created.
    pub alert_creation_time: OffsetDateTime,
    /// First event.
    pub first_event_time: OffsetDateTime,
    /// Last event.
    pub last_event_time: OffsetDateTime,
    /// Last update.
    pub last_update_time: OffsetDateTime,
    /// Resolved (resolved alerts).
    pub resolved_time: Option<OffsetDateTime>,
}

impl SimAlert {
    pub(crate) fn template(&self) -> &'static AlertTemplate {
        &TEMPLATES[self.template % TEMPLATES.len()]
    }

    /// Category of its template.
    pub fn category(&self) -> &'static str {
        self.template().category
    }

    /// Detection source of its template.
    pub fn detection_source(&self) -> &'static str {
        self.template().detection_source
    }

    /// Title.
    pub fn title(&self) -> &'static str {
        self.template().title
    }
}

const ID_MASK: u32 = 0x5A5A_5A5A;
const TICKS_AT_UNIX_EPOCH: i128 = 621_355_968_000_000_000;

fn ticks(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 100 + TICKS_AT_UNIX_EPOCH
}

/// Rank of an alert severity (UnSpecified = 0 … High = 4).
pub fn alert_severity_rank(s: &str) -> usize {
    ALERT_SEVERITIES.iter().position(|x| *x == s).unwrap_or(0)
}

/// Builds alert `j` of machine `m`.
pub(crate) fn build_alert(seed: u64, m: &SimMachine, j: u8) -> SimAlert {
    let mut rng = SplitMix64::new(seed, 2, (u64::from(m.index) << 8) | u64::from(j));
    let risk_rank = m
        .risk_score
        .and_then(|r| RISK_SCORES.iter().position(|x| *x == r))
        .unwrap_or(0);
    let active = j < m.active_alerts;
    let severity_rank = if m.index as usize == TIE_ALERT_INDEX || (active && j == 0) {
        risk_rank
    } else if active {
        rng.range(1, risk_rank.max(1) as u64) as usize
    } else {
        rng.range(1, 4) as usize
    };
    let template = rng.below(TEMPLATES.len() as u64) as usize;
    let back = if m.index as usize == TIE_ALERT_INDEX {
        // Two alerts of equal severity, one clearly newer.
        Duration::hours(2 + 24 * i64::from(j))
    } else {
        Duration::seconds(rng.range(600, 10 * 86400) as i64)
    };
    let created = m.last_seen - back;
    let first_event = created - Duration::seconds(rng.range(30, 300) as i64);
    let last_event = first_event + Duration::seconds(rng.range(1, 60) as i64);
    let last_update = created + Duration::seconds(rng.range(5, 3600) as i64);
    let (status, classification, determination, resolved, state) = if active {
        let status = if rng.chance(60) { "New" } else { "InProgress" };
        (
            status,
            None,
            None,
            None,
            if status == "New" { "Queued" } else { "Running" },
        )
    } else {
        let (c, d) = if rng.chance(70) {
            ("TruePositive", "Malware")
        } else {
            ("FalsePositive", "Clean")
        };
        (
            "Resolved",
            Some(c),
            Some(d),
            Some(last_update),
            "SuccessfullyRemediated",
        )
    };
    let number = ((m.index << 4) | u32::from(j & 0x0f)) ^ ID_MASK;
    SimAlert {
        id: format!("da{}_{}", ticks(created), number as i32),
        machine_index: m.index,
        incident_id: rng.range(1000, 2_000_000),
        investigation_id: rng.chance(50).then(|| rng.range(1000, 900_000)),
        assigned_to: if status == "New" {
            None
        } else {
            Some("secop@contoso.com")
        },
        severity: ALERT_SEVERITIES[severity_rank.min(4)],
        status,
        classification,
        determination,
        investigation_state: state,
        template,
        alert_creation_time: created,
        first_event_time: first_event,
        last_event_time: last_event,
        last_update_time: last_update,
        resolved_time: resolved,
    }
}

impl Fleet {
    /// Every alert of one machine, active ones first.
    pub fn alerts_of(&self, m: &SimMachine) -> Vec<SimAlert> {
        (0..m.alert_count.min(16))
            .map(|j| build_alert(self.seed(), m, j))
            .collect()
    }

    /// Every alert in the fleet, machine by machine (built lazily).
    pub fn all_alerts(&self) -> impl Iterator<Item = SimAlert> + '_ {
        self.machines()
            .iter()
            .filter(|m| m.alert_count > 0)
            .flat_map(move |m| {
                (0..m.alert_count.min(16)).map(move |j| build_alert(self.seed(), m, j))
            })
    }

    /// The alert with this id, if any.
    pub fn find_alert(&self, id: &str) -> Option<SimAlert> {
        let (_, number) = id.rsplit_once('_')?;
        let n = number.parse::<i32>().ok()? as u32 ^ ID_MASK;
        let m = self.machines().get((n >> 4) as usize)?;
        let j = (n & 0x0f) as u8;
        if j >= m.alert_count {
            return None;
        }
        let alert = build_alert(self.seed(), m, j);
        (alert.id == id).then_some(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fleet() -> Fleet {
        Fleet::generate(800, 4, datetime!(2026-01-15 12:00 UTC))
    }

    #[test]
    fn most_severe_active_alert_matches_risk_score() {
        let f = fleet();
        for m in f.machines().iter().filter(|m| m.active_alerts > 0) {
            let top = f
                .alerts_of(m)
                .iter()
                .filter(|a| a.status != "Resolved")
                .map(|a| alert_severity_rank(a.severity))
                .max();
            let risk = RISK_SCORES.iter().position(|r| Some(*r) == m.risk_score);
            assert_eq!(top, risk, "{}", m.id);
        }
    }

    #[test]
    fn alert_ids_round_trip_through_find_alert() {
        let f = fleet();
        let all: Vec<SimAlert> = f.all_alerts().collect();
        assert!(all.len() > 100);
        for a in all.iter().step_by(37) {
            let found = f.find_alert(&a.id).expect("found");
            assert_eq!(found.id, a.id);
            assert!(a.id.starts_with("da"));
        }
        assert!(f.find_alert("da637472900382838869_1364969609").is_none());
        assert!(f.find_alert("garbage").is_none());
    }

    #[test]
    fn tie_break_machine_has_two_equal_active_alerts_at_different_times() {
        let f = fleet();
        let m = f
            .find(f.tie_break_alert_machine_id().expect("id"))
            .expect("m");
        let alerts = f.alerts_of(m);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].severity, alerts[1].severity);
        assert_ne!(alerts[0].alert_creation_time, alerts[1].alert_creation_time);
        assert!(alerts.iter().all(|a| a.status != "Resolved"));
    }
}
