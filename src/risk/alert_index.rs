//! Alerts folded into what scoring needs, one alert at a time: per machine, the counts, the
//! most severe active alert (compact, its repeated texts shared) and the rank of the runner-up.
//! A page of alerts is folded as it is decoded and never held, so a tenant-wide read of
//! hundreds of thousands of alerts costs one summary per machine, not the alerts.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use super::level::RiskLevel;
use super::machine_key::MachineKey;
use super::scoring::{self, Alerts};
use crate::defender::{Alert, AlertSeverity, AlertStatus, DefenderTime};

/// Per-machine alert summaries.
#[derive(Debug, Default)]
pub struct AlertIndex {
    by_machine: HashMap<MachineKey, AlertSummary>,
    texts: Interner,
    /// Active alerts folded in (every machine's, kept or not).
    active_seen: u64,
}

impl AlertIndex {
    /// Folds in an alert of a tenant-wide read, under its own `machineId`; kept only when
    /// `keep` says the machine is wanted (`keep` sees the id in lower case).
    pub fn add(&mut self, alert: Alert, keep: impl Fn(&str) -> bool) {
        if scoring::is_active(&alert) {
            self.active_seen += 1;
        }
        let Some(id) = alert.machine_id.as_deref().filter(|id| !id.is_empty()) else {
            return;
        };
        let id = id.to_ascii_lowercase();
        if keep(&id) {
            self.add_for(&id, alert);
        }
    }

    /// Folds in an alert read for machine `machine_id` (a per-machine list).
    pub fn add_for(&mut self, machine_id: &str, alert: Alert) {
        let summary = self
            .by_machine
            .entry(MachineKey::of(machine_id))
            .or_default();
        summary.add(alert, &mut self.texts);
    }

    /// Records that `machine_id` was read and has no alerts (absent machines read the same;
    /// this only makes the machine known).
    pub fn mark_read(&mut self, machine_id: &str) {
        self.by_machine
            .entry(MachineKey::of(machine_id))
            .or_default();
    }

    /// Active alerts folded in, over every machine (the size of the tenant's active list when
    /// the read was tenant-wide).
    pub fn active_seen(&self) -> u64 {
        self.active_seen
    }

    /// Machines with a summary.
    pub fn len(&self) -> usize {
        self.by_machine.len()
    }

    /// No machine has a summary.
    pub fn is_empty(&self) -> bool {
        self.by_machine.is_empty()
    }

    /// One machine's alerts as scoring needs them.
    pub fn for_machine(&self, machine_id: &str) -> Alerts {
        match self.by_machine.get(&MachineKey::of(machine_id)) {
            Some(summary) => summary.alerts(machine_id, &self.texts),
            None => Alerts::default(),
        }
    }
}

/// One machine's alerts, folded. Small (the alerts are boxed): a tenant has one per machine
/// with alerts, and most have a single alert, so no runner-up.
#[derive(Debug, Default)]
struct AlertSummary {
    active: u32,
    resolved: u32,
    best: Option<Box<CompactAlert>>,
    runner_up: Option<Box<Rank>>,
}

impl AlertSummary {
    fn add(&mut self, alert: Alert, texts: &mut Interner) {
        if !scoring::is_active(&alert) {
            self.resolved = self.resolved.saturating_add(1);
            return;
        }
        self.active = self.active.saturating_add(1);
        let rank = scoring::alert_rank(&alert);
        match &self.best {
            Some(best) if best.rank.key() >= rank => {
                if self.runner_up.as_ref().is_none_or(|r| r.key() < rank) {
                    self.runner_up = Some(Box::new(Rank::of(&alert)));
                }
            }
            _ => {
                let previous = self.best.replace(Box::new(CompactAlert::new(alert, texts)));
                if let Some(previous) = previous {
                    self.runner_up = Some(Box::new(previous.rank));
                }
            }
        }
    }

    fn alerts(&self, machine_id: &str, texts: &Interner) -> Alerts {
        let mut candidates = Vec::with_capacity(2);
        if let Some(best) = &self.best {
            candidates.push(best.to_alert(machine_id, texts));
        }
        if let Some(r) = &self.runner_up {
            // Only its rank matters: it names the tie-break of the most severe one.
            candidates.push(Alert {
                id: r.id.as_deref().map(str::to_string),
                severity: r.severity.clone(),
                alert_creation_time: r.created.clone(),
                ..Alert::default()
            });
        }
        Alerts {
            active: self.active as usize,
            resolved: self.resolved as usize,
            candidates,
        }
    }
}

/// What orders an alert (rule 5).
#[derive(Debug)]
struct Rank {
    severity: Option<AlertSeverity>,
    created: Option<DefenderTime>,
    id: Option<Box<str>>,
}

impl Rank {
    fn of(a: &Alert) -> Self {
        Self {
            severity: a.severity.clone(),
            created: a.alert_creation_time.clone(),
            id: a.id.as_deref().map(Into::into),
        }
    }

    /// The same key as [`scoring::alert_rank`].
    fn key(&self) -> (RiskLevel, Option<&DefenderTime>, Reverse<Option<&str>>) {
        (
            RiskLevel::from_alert_severity(self.severity.as_ref()),
            self.created.as_ref(),
            Reverse(self.id.as_deref()),
        )
    }
}

/// An alert as the answer shows it, its repeated texts (titles, descriptions, categories...)
/// shared between machines as numbers into the index's [`Interner`], its times as UTC
/// nanoseconds. Comments, evidence, the related user and the tenant id are not part of a risk
/// answer and are dropped.
#[derive(Debug)]
struct CompactAlert {
    rank: Rank,
    incident_id: Option<i64>,
    investigation_id: Option<i64>,
    status: Option<AlertStatus>,
    /// First event, last event, last update, resolved.
    times: [CompactTime; 4],
    computer_dns_name: Option<Box<str>>,
    texts: [TextId; 12],
    mitre_techniques: TextId,
}

impl CompactAlert {
    fn new(a: Alert, interner: &mut Interner) -> Self {
        let rank = Rank::of(&a);
        let mut t = |s: Option<String>| interner.text(s);
        let texts = [
            t(a.assigned_to),
            t(a.classification),
            t(a.determination),
            t(a.investigation_state),
            t(a.detection_source),
            t(a.detector_id),
            t(a.category),
            t(a.threat_family_name),
            t(a.threat_name),
            t(a.title),
            t(a.description),
            t(a.rbac_group_name),
        ];
        Self {
            rank,
            incident_id: a.incident_id,
            investigation_id: a.investigation_id,
            status: a.status,
            times: [
                CompactTime::of(a.first_event_time.as_ref()),
                CompactTime::of(a.last_event_time.as_ref()),
                CompactTime::of(a.last_update_time.as_ref()),
                CompactTime::of(a.resolved_time.as_ref()),
            ],
            computer_dns_name: a.computer_dns_name.map(Into::into),
            texts,
            mitre_techniques: interner.list(a.mitre_techniques),
        }
    }

    fn to_alert(&self, machine_id: &str, interner: &Interner) -> Alert {
        let t = |i: usize| interner.get(self.texts[i]).map(str::to_string);
        Alert {
            id: self.rank.id.as_deref().map(str::to_string),
            incident_id: self.incident_id,
            investigation_id: self.investigation_id,
            assigned_to: t(0),
            severity: self.rank.severity.clone(),
            status: self.status.clone(),
            classification: t(1),
            determination: t(2),
            investigation_state: t(3),
            detection_source: t(4),
            detector_id: t(5),
            category: t(6),
            threat_family_name: t(7),
            threat_name: t(8),
            title: t(9),
            description: t(10),
            alert_creation_time: self.rank.created.clone(),
            first_event_time: self.times[0].get(),
            last_event_time: self.times[1].get(),
            last_update_time: self.times[2].get(),
            resolved_time: self.times[3].get(),
            machine_id: Some(machine_id.to_string()),
            computer_dns_name: self.computer_dns_name.as_deref().map(str::to_string),
            rbac_group_name: t(11),
            aad_tenant_id: None,
            mitre_techniques: interner.get_list(self.mitre_techniques),
            related_user: None,
            comments: None,
            evidence: None,
        }
    }
}

/// A number standing for a text (or a list of texts) in an [`Interner`]; [`TextId::NONE`] for
/// an absent one. 4 bytes instead of 16 for a shared pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TextId(u32);

impl TextId {
    const NONE: TextId = TextId(u32::MAX);
}

/// One shared copy of each distinct text and list of texts, numbered.
#[derive(Debug, Default)]
struct Interner {
    text_ids: HashMap<Arc<str>, TextId>,
    texts: Vec<Arc<str>>,
    list_ids: HashMap<Arc<[String]>, TextId>,
    lists: Vec<Arc<[String]>>,
}

impl Interner {
    fn text(&mut self, s: Option<String>) -> TextId {
        let Some(s) = s else { return TextId::NONE };
        if let Some(id) = self.text_ids.get(s.as_str()) {
            return *id;
        }
        match u32::try_from(self.texts.len()) {
            Ok(n) if n < u32::MAX => {
                let shared: Arc<str> = s.into();
                self.texts.push(shared.clone());
                self.text_ids.insert(shared, TextId(n));
                TextId(n)
            }
            // Four billion distinct texts: unreachable in practice; the text is dropped.
            _ => TextId::NONE,
        }
    }

    fn list(&mut self, v: Option<Vec<String>>) -> TextId {
        let Some(v) = v else { return TextId::NONE };
        if let Some(id) = self.list_ids.get(v.as_slice()) {
            return *id;
        }
        match u32::try_from(self.lists.len()) {
            Ok(n) if n < u32::MAX => {
                let shared: Arc<[String]> = v.into();
                self.lists.push(shared.clone());
                self.list_ids.insert(shared, TextId(n));
                TextId(n)
            }
            _ => TextId::NONE,
        }
    }

    fn get(&self, id: TextId) -> Option<&str> {
        self.texts.get(id.0 as usize).map(|t| &**t)
    }

    fn get_list(&self, id: TextId) -> Option<Vec<String>> {
        self.lists.get(id.0 as usize).map(|l| l.to_vec())
    }
}

/// A timestamp in 8 bytes: UTC nanoseconds since 1970, `i64::MIN` for none. A time Defender
/// sent that could not be parsed is kept as none: an answer shows such a time as unset anyway.
#[derive(Clone, Copy, Debug)]
struct CompactTime(i64);

impl CompactTime {
    fn of(t: Option<&DefenderTime>) -> Self {
        t.and_then(DefenderTime::datetime)
            .and_then(|at| i64::try_from(at.unix_timestamp_nanos()).ok())
            .map_or(CompactTime(i64::MIN), CompactTime)
    }

    fn get(self) -> Option<DefenderTime> {
        if self.0 == i64::MIN {
            return None;
        }
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .map(DefenderTime::Parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defender::Machine;
    use crate::risk::scoring::{Part, score};

    fn alert(id: &str, machine: &str, severity: &str, created: &str, status: &str) -> Alert {
        Alert {
            id: Some(id.into()),
            machine_id: Some(machine.into()),
            severity: Some(AlertSeverity::parse(severity)),
            status: Some(AlertStatus::parse(status)),
            alert_creation_time: Some(DefenderTime::parse(created)),
            title: Some(format!("title of {severity}")),
            description: Some("shared description".into()),
            mitre_techniques: Some(vec!["T1".into()]),
            ..Alert::default()
        }
    }

    #[test]
    fn folded_alerts_score_like_the_whole_list_in_any_order() {
        let all = vec![
            alert("a1", "M1", "Medium", "2024-01-02T00:00:00Z", "New"),
            alert("a2", "m1", "High", "2024-01-01T00:00:00Z", "InProgress"),
            alert("a3", "m1", "High", "2024-01-01T00:00:00Z", "New"),
            alert("a4", "m1", "High", "2024-01-03T00:00:00Z", "Resolved"),
            alert("a5", "m1", "Low", "2024-01-04T00:00:00Z", "New"),
            alert("b1", "m2", "Low", "2024-01-04T00:00:00Z", "New"),
            alert("b2", "m2", "Low", "2024-01-05T00:00:00Z", "New"),
        ];
        let machine = Machine {
            id: Some("m1".into()),
            ..Machine::default()
        };
        for rotation in 0..all.len() {
            let mut order = all.clone();
            order.rotate_left(rotation);
            let mut index = AlertIndex::default();
            for a in order.iter().cloned() {
                index.add(a, |id| id == "m1");
            }
            assert_eq!(index.active_seen(), 6);
            assert_eq!(index.len(), 1, "m2 is not kept");
            let m1: Vec<Alert> = all
                .iter()
                .filter(|a| {
                    a.machine_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case("m1"))
                })
                .cloned()
                .collect();
            let whole = score(
                &machine,
                Part::Skipped("x".into()),
                Part::Fetched(m1.into()),
            );
            let folded = score(
                &machine,
                Part::Skipped("x".into()),
                Part::Fetched(index.for_machine("M1")),
            );
            assert_eq!(folded.reasons, whole.reasons, "rotation {rotation}");
            assert_eq!(folded.active_alert_count, 4);
            let best = folded.most_severe_alert.expect("best");
            assert_eq!(best.id.as_deref(), Some("a2"), "same time: the lower id");
            assert_eq!(best.title.as_deref(), Some("title of High"));
            assert_eq!(best.mitre_techniques, Some(vec!["T1".to_string()]));
        }
    }

    #[test]
    fn a_machine_without_alerts_has_none() {
        let mut index = AlertIndex::default();
        index.mark_read("m9");
        assert_eq!(index.for_machine("m9"), Alerts::default());
        assert_eq!(index.for_machine("m8"), Alerts::default());
    }
}
