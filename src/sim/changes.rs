//! Changes to the generated fleet at run time, so tests can watch the service follow Defender:
//! machines hidden (not onboarded yet, or offboarded: absent from the machine list, get-by-id
//! and find-by-IP) and alerts added (a new detection: in the alert list and the machine's
//! alerts, `lastUpdateTime` = when it was added). Set through [`super::SimHandle`] or
//! `PUT /_sim/hidden-machines` and `POST /_sim/alerts`.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::alerts::{ALERT_SEVERITIES, SimAlert, build_alert};
use super::fleet::{Fleet, SimMachine};

/// What changed since the fleet was generated.
#[derive(Debug, Default)]
pub(crate) struct FleetChanges {
    /// Lower-case ids of hidden machines.
    hidden: HashSet<String>,
    /// Alerts added, oldest first.
    added: Vec<SimAlert>,
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

    /// The added alerts (of one machine, by fleet position, when given).
    pub fn added_alerts(&self, machine_index: Option<u32>) -> Vec<SimAlert> {
        self.added
            .iter()
            .filter(|a| machine_index.is_none_or(|i| a.machine_index == i))
            .cloned()
            .collect()
    }
}
