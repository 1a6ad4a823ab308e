//! Changes to the generated fleet at run time, so tests can watch the service follow Defender:
//! machines hidden (not onboarded yet, or offboarded: absent from the machine list, get-by-id
//! and find-by-IP) and alerts added (a new detection: in the alert list and the machine's
//! alerts, `lastUpdateTime` = when it was added), and machines changed (a new device report:
//! risk score, exposure level or health status set, `lastSeen` = when it was changed). Set
//! through [`super::SimHandle`] or `PUT /_sim/hidden-machines`, `POST /_sim/alerts` and
//! `POST /_sim/machine-changes`.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use time::OffsetDateTime;

use super::alerts::{ALERT_SEVERITIES, SimAlert, build_alert};
use super::fleet::{EXPOSURE_LEVELS, Fleet, RISK_SCORES, SimMachine};

/// What changed since the fleet was generated.
#[derive(Debug, Default)]
pub(crate) struct FleetChanges {
    /// Lower-case ids of hidden machines.
    hidden: HashSet<String>,
    /// Alerts added, oldest first.
    added: Vec<SimAlert>,
    /// Machines changed since generation, by lower-case id (their new state, whole).
    changed: HashMap<String, SimMachine>,
}

/// A change to one machine, as a new device report would bring it (absent fields keep their
/// value). Body of `POST /_sim/machine-changes`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineChange {
    /// The machine's id.
    pub machine_id: String,
    /// `None`, `Informational`, `Low`, `Medium` or `High`.
    pub risk_score: Option<String>,
    /// `None`, `Low`, `Medium` or `High`.
    pub exposure_level: Option<String>,
    /// `Active`, `Inactive`, `ImpairedCommunication`, `NoSensorData`,
    /// `NoSensorDataImpairedCommunication` or `Unknown`.
    pub health_status: Option<String>,
}

const HEALTH_STATUSES: [&str; 6] = [
    "Active",
    "Inactive",
    "ImpairedCommunication",
    "NoSensorData",
    "NoSensorDataImpairedCommunication",
    "Unknown",
];

/// `value` as one of `allowed` (any letter case); `Err` if it is none of them.
fn one_of(value: Option<&str>, allowed: &[&'static str]) -> Result<Option<&'static str>, ()> {
    match value {
        None => Ok(None),
        Some(v) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(v))
            .map(|a| Some(*a))
            .ok_or(()),
    }
}

impl FleetChanges {
    /// Hides exactly `ids` (an empty list shows every machine again).
    pub fn set_hidden(&mut self, ids: &[String]) {
        self.hidden = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    }

    /// Whether the machine is hidden.
    pub fn is_hidden(&self, m: &SimMachine) -> bool {
        !self.hidden.is_empty() && self.hidden.contains(&m.id.to_ascii_lowercase())
    }

    /// Adds an active (`New`) alert of `severity` to the machine; returns its id, or `None`
    /// when the machine or the severity is unknown.
    pub fn add_alert(&mut self, fleet: &Fleet, machine_id: &str, severity: &str) -> Option<String> {
        let m = fleet.find(machine_id)?;
        let severity = *ALERT_SEVERITIES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(severity))?;
        let now = OffsetDateTime::now_utc();
        let mut alert = build_alert(fleet.seed(), m, 0);
        alert.id = format!("da{}_added{}", now.unix_timestamp(), self.added.len());
        alert.severity = severity;
        alert.status = "New";
        alert.classification = None;
        alert.determination = None;
        alert.investigation_state = "Queued";
        alert.assigned_to = None;
        alert.alert_creation_time = now;
        alert.first_event_time = now;
        alert.last_event_time = now;
        alert.last_update_time = now;
        alert.resolved_time = None;
        let id = alert.id.clone();
        self.added.push(alert);
        Some(id)
    }

    /// Applies `change` to the machine (on top of earlier changes), its `lastSeen` now (a new
    /// full report); `false` when the machine or a value is unknown.
    pub fn change_machine(&mut self, fleet: &Fleet, change: &MachineChange) -> bool {
        let Some(generated) = fleet.find(&change.machine_id) else {
            return false;
        };
        let (Ok(risk), Ok(exposure), Ok(health)) = (
            one_of(change.risk_score.as_deref(), &RISK_SCORES),
            one_of(change.exposure_level.as_deref(), &EXPOSURE_LEVELS),
            one_of(change.health_status.as_deref(), &HEALTH_STATUSES),
        ) else {
            return false;
        };
        let key = generated.id.to_ascii_lowercase();
        let m = self.changed.entry(key).or_insert_with(|| generated.clone());
        if risk.is_some() {
            m.risk_score = risk;
        }
        if exposure.is_some() {
            m.exposure_level = exposure;
        }
        if let Some(health) = health {
            m.health_status = health;
        }
        m.last_seen = OffsetDateTime::now_utc().max(m.last_seen);
        true
    }

    /// The machine as it is now: its changed state, if it was changed, else as generated.
    pub fn current<'a>(&'a self, m: &'a SimMachine) -> &'a SimMachine {
        if self.changed.is_empty() {
            return m;
        }
        self.changed.get(&m.id.to_ascii_lowercase()).unwrap_or(m)
    }

    /// The added alerts (of one machine, by fleet position, when given).
    pub fn added_alerts(&self, machine_index: Option<u32>) -> Vec<SimAlert> {
        self.added
            .iter()
            .filter(|a| machine_index.is_none_or(|i| a.machine_index == i))
            .cloned()
            .collect()
    }
}
