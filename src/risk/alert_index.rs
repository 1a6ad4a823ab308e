//! Alerts folded into what scoring needs, one alert at a time: per machine, the counts, the
//! most severe active alert (compact, its repeated texts shared) and the rank of the runner-up.
//! A page of alerts is folded as it is decoded and never held, so a tenant-wide read of
//! hundreds of thousands of alerts costs one summary per machine, not the alerts.
//!
//! Sizes matter here: a 100,000-machine tenant has a summary for every machine with alerts
//! (about 62,000 on the simulator). A summary is 32 bytes plus its key; the kept alert is
//! [`CompactAlert`], 96 bytes plus its id and host name, its texts and enums shared as one
//! 4-byte [`Profile`] number. Once a read is complete, [`AlertIndex::freeze`] moves the
//! summaries from the hash map (about twice the slots it uses) into an exact-size sorted list.

use std::cmp::Reverse;
use std::collections::HashMap;

use super::intern::{Id, Interned};
use super::level::RiskLevel;
use super::machine_key::MachineKey;
use super::scoring::{self, Alerts};
use crate::defender::{Alert, AlertSeverity, AlertStatus, DefenderTime};

/// Per-machine alert summaries.
#[derive(Debug, Default)]
pub struct AlertIndex {
    /// Summaries while a read folds alerts in.
    building: HashMap<MachineKey, AlertSummary>,
    /// Summaries of finished reads, sorted by key (see [`AlertIndex::freeze`]).
    frozen: Vec<(MachineKey, AlertSummary)>,
    shared: Shared,
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
        summary_mut(
            &mut self.building,
            &mut self.frozen,
            MachineKey::of(machine_id),
        )
        .add(alert, &mut self.shared);
    }

    /// Records that `machine_id` was read and has no alerts (absent machines read the same;
    /// this only makes the machine known).
    pub fn mark_read(&mut self, machine_id: &str) {
        summary_mut(
            &mut self.building,
            &mut self.frozen,
            MachineKey::of(machine_id),
        );
    }

    /// Moves the summaries folded so far into the exact-size sorted list: a hash map keeps
    /// up to twice the slots it uses (62,000 summaries took 131,072 slots), the list none.
    /// Call it when a read is complete; folding in more afterwards still works.
    pub fn freeze(&mut self) {
        if self.building.is_empty() {
            return;
        }
        let building = std::mem::take(&mut self.building);
        self.frozen.reserve_exact(building.len());
        self.frozen.extend(building);
        self.frozen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.frozen.shrink_to_fit();
    }

    /// Active alerts folded in, over every machine (the size of the tenant's active list when
    /// the read was tenant-wide).
    pub fn active_seen(&self) -> u64 {
        self.active_seen
    }

    /// Machines with a summary.
    pub fn len(&self) -> usize {
        self.building.len() + self.frozen.len()
    }

    /// No machine has a summary.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One machine's alerts as scoring needs them.
    pub fn for_machine(&self, machine_id: &str) -> Alerts {
        let key = MachineKey::of(machine_id);
        let summary = match self.frozen.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => Some(&self.frozen[at].1),
            Err(_) => self.building.get(&key),
        };
        match summary {
            Some(summary) => summary.alerts(machine_id, &self.shared),
            None => Alerts::default(),
        }
    }
}

/// The summary of `key`: the frozen one when there is one, else one being built.
fn summary_mut<'a>(
    building: &'a mut HashMap<MachineKey, AlertSummary>,
    frozen: &'a mut [(MachineKey, AlertSummary)],
    key: MachineKey,
) -> &'a mut AlertSummary {
    match frozen.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(at) => &mut frozen[at].1,
        Err(_) => building.entry(key).or_default(),
    }
}

/// One machine's alerts, folded. Small (the alert is boxed): a tenant has one per machine
/// with alerts, and most have a single alert, so no runner-up.
#[derive(Debug, Default)]
struct AlertSummary {
    active: u32,
    resolved: u32,
    best: Option<Box<CompactAlert>>,
    runner_up: Option<RunnerUp>,
}

/// What scoring needs of the runner-up: whether it is as severe as the most severe alert,
/// and whether it was created at the same time (the tie-break named in the reasons). Its id
/// only orders alerts of the same severity and time, which give the same answer either way.
#[derive(Clone, Copy, Debug)]
struct RunnerUp {
    /// Its [`Created`] parts (flat: a nested [`Created`] would pad this to 24 bytes).
    created_nanos: i64,
    created_odd: Id,
    level: RiskLevel,
}

impl RunnerUp {
    fn new(created: Created, level: RiskLevel) -> Self {
        Self {
            created_nanos: created.nanos,
            created_odd: created.odd,
            level,
        }
    }

    fn created(&self) -> Created {
        Created {
            nanos: self.created_nanos,
            odd: self.created_odd,
        }
    }
}

impl AlertSummary {
    fn add(&mut self, alert: Alert, shared: &mut Shared) {
        if !scoring::is_active(&alert) {
            self.resolved = self.resolved.saturating_add(1);
            return;
        }
        self.active = self.active.saturating_add(1);
        let outranked = match &self.best {
            Some(best) => {
                let created = best.created().get(shared);
                let key = (
                    best.level(shared),
                    created.as_ref(),
                    Reverse(best.id.as_deref()),
                );
                key >= scoring::alert_rank(&alert)
            }
            None => false,
        };
        if outranked {
            let (level, created, _) = scoring::alert_rank(&alert);
            let higher = self.runner_up.is_none_or(|r| {
                let runner_created = r.created().get(shared);
                (r.level, runner_created.as_ref()) < (level, created)
            });
            if higher {
                self.runner_up = Some(RunnerUp::new(Created::of(created, shared), level));
            }
        } else {
            let new = Box::new(CompactAlert::new(alert, shared));
            if let Some(previous) = self.best.replace(new) {
                self.runner_up = Some(RunnerUp::new(previous.created(), previous.level(shared)));
            }
        }
    }

    fn alerts(&self, machine_id: &str, shared: &Shared) -> Alerts {
        let mut candidates = Vec::with_capacity(2);
        if let Some(best) = &self.best {
            let alert = best.to_alert(machine_id, shared);
            if let Some(r) = self.runner_up.filter(|r| r.level == best.level(shared)) {
                // Scoring sees the runner-up with the same severity, its own creation time,
                // and an id that sorts after the best one's (the best wins any tie): exactly
                // what its tie-break looks at. A less severe runner-up changes nothing.
                let id = match &alert.id {
                    Some(best_id) => format!("{best_id}\u{0}"),
                    None => String::new(),
                };
                let runner_up = Alert {
                    id: Some(id),
                    severity: alert.severity.clone(),
                    alert_creation_time: r.created().get(shared),
                    ..Alert::default()
                };
                candidates.push(alert);
                candidates.push(runner_up);
            } else {
                candidates.push(alert);
            }
        }
        Alerts {
            active: self.active as usize,
            resolved: self.resolved as usize,
            candidates,
        }
    }
}

/// What alerts share: texts, their combinations ([`Profile`]s), lists of MITRE techniques
/// and creation times that do not fit [`Created`]'s 8 bytes.
#[derive(Debug, Default)]
struct Shared {
    texts: Interned<str>,
    lists: Interned<[String]>,
    profiles: Interned<Profile>,
    odd_times: Interned<DefenderTime>,
}

impl Shared {
    fn profile(&self, id: Id) -> &Profile {
        static NONE: Profile = Profile {
            texts: [Id::NONE; 12],
            mitre_techniques: Id::NONE,
            severity: None,
            status: None,
        };
        self.profiles.get(id).unwrap_or(&NONE)
    }
}

/// Everything of an alert that repeats across alerts: its texts (titles, descriptions,
/// categories, detection source, group...), severity and status. Alerts of one detector and
/// state share one, so a tenant's alerts need a few hundred of them, not one each.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Profile {
    /// Assigned to, classification, determination, investigation state, detection source,
    /// detector id, category, threat family, threat name, title, description, device group.
    texts: [Id; 12],
    mitre_techniques: Id,
    severity: Option<AlertSeverity>,
    status: Option<AlertStatus>,
}

/// An alert as the answer shows it: its per-alert values inline, the rest one shared
/// [`Profile`]. Comments, evidence, the related user and the tenant id are not part of a risk
/// answer and are dropped. 96 bytes (a unit test holds it there).
#[derive(Debug)]
struct CompactAlert {
    id: Option<Box<str>>,
    computer_dns_name: Option<Box<str>>,
    /// The creation time's [`Created`] parts, side by side with `profile` (a [`Created`]
    /// field would pad to 16 bytes).
    created_nanos: i64,
    created_odd: Id,
    profile: Id,
    /// [`NO_NUMBER`] for none.
    incident_id: i64,
    /// [`NO_NUMBER`] for none.
    investigation_id: i64,
    /// First event, last event, last update, resolved.
    times: [CompactTime; 4],
}

/// An absent incident or investigation id. Defender's are positive, so the one value this
/// hides (the smallest `i64`) cannot be a real one.
const NO_NUMBER: i64 = i64::MIN;

impl CompactAlert {
    fn new(a: Alert, shared: &mut Shared) -> Self {
        let created = Created::of(a.alert_creation_time.as_ref(), shared);
        let mut t = |s: Option<String>| shared.texts.opt(s);
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
        let profile = Profile {
            texts,
            mitre_techniques: shared.lists.opt(a.mitre_techniques),
            severity: a.severity,
            status: a.status,
        };
        Self {
            id: a.id.map(Into::into),
            computer_dns_name: a.computer_dns_name.map(Into::into),
            created_nanos: created.nanos,
            created_odd: created.odd,
            profile: shared.profiles.id(profile),
            incident_id: a.incident_id.unwrap_or(NO_NUMBER),
            investigation_id: a.investigation_id.unwrap_or(NO_NUMBER),
            times: [
                CompactTime::of(a.first_event_time.as_ref()),
                CompactTime::of(a.last_event_time.as_ref()),
                CompactTime::of(a.last_update_time.as_ref()),
                CompactTime::of(a.resolved_time.as_ref()),
            ],
        }
    }

    fn created(&self) -> Created {
        Created {
            nanos: self.created_nanos,
            odd: self.created_odd,
        }
    }

    fn level(&self, shared: &Shared) -> RiskLevel {
        RiskLevel::from_alert_severity(shared.profile(self.profile).severity.as_ref())
    }

    fn to_alert(&self, machine_id: &str, shared: &Shared) -> Alert {
        let p = shared.profile(self.profile);
        let t = |i: usize| shared.texts.get(p.texts[i]).map(str::to_string);
        let number = |n: i64| (n != NO_NUMBER).then_some(n);
        Alert {
            id: self.id.as_deref().map(str::to_string),
            incident_id: number(self.incident_id),
            investigation_id: number(self.investigation_id),
            assigned_to: t(0),
            severity: p.severity.clone(),
            status: p.status.clone(),
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
            alert_creation_time: self.created().get(shared),
            first_event_time: self.times[0].get(),
            last_event_time: self.times[1].get(),
            last_update_time: self.times[2].get(),
            resolved_time: self.times[3].get(),
            machine_id: Some(machine_id.to_string()),
            computer_dns_name: self.computer_dns_name.as_deref().map(str::to_string),
            rbac_group_name: t(11),
            aad_tenant_id: None,
            mitre_techniques: shared.lists.get(p.mitre_techniques).map(<[String]>::to_vec),
            related_user: None,
            comments: None,
            evidence: None,
        }
    }
}

/// An alert's creation time, exactly (it ranks alerts, rule 5): a UTC time in range as its
/// nanoseconds; anything else (no time, text Defender sent that is not a time, another
/// offset, a year outside 1678..2261) as a number into the shared odd times.
#[derive(Clone, Copy, Debug)]
struct Created {
    nanos: i64,
    /// [`Id::NONE`] when `nanos` is the time (or there is none, `nanos` = `i64::MIN`).
    odd: Id,
}

impl Created {
    fn of(t: Option<&DefenderTime>, shared: &mut Shared) -> Self {
        let plain = |nanos| Self {
            nanos,
            odd: Id::NONE,
        };
        let Some(t) = t else {
            return plain(i64::MIN);
        };
        let nanos = t
            .datetime()
            .filter(|at| at.offset().is_utc())
            .and_then(|at| i64::try_from(at.unix_timestamp_nanos()).ok())
            .filter(|n| *n != i64::MIN);
        match nanos {
            Some(nanos) => plain(nanos),
            None => Self {
                nanos: i64::MIN,
                odd: shared.odd_times.id(t.clone()),
            },
        }
    }

    fn get(self, shared: &Shared) -> Option<DefenderTime> {
        if self.odd != Id::NONE {
            return shared.odd_times.get(self.odd).cloned();
        }
        CompactTime(self.nanos).get()
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
#[path = "alert_index_tests.rs"]
mod tests;
