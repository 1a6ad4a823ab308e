//! The risk model (docs/risk-model.md), rules 3 to 7, as pure functions: no I/O, no clock, so every
//! rule and tie-break is unit- and property-tested here and the I/O layers only decide *what*
//! to fetch (by asking [`vulnerabilities_needed`] / [`alerts_needed`]) and hand the results in.
//!
//! - Rule 3: vulnerabilities are fetched only when `riskScore` or `exposureLevel` is above
//!   Informational. A null (unreported) value is not a reason to fetch.
//! - Rule 4: alerts are fetched unless `riskScore` is the string `None` (null does not skip
//!   them: with no score, alerts are the only signal); only alerts that are not Resolved count.
//! - Rule 5: the most severe vulnerability decides `exposure_risk_level` (ties: higher CVSS v3,
//!   then the stronger exploit — verified or in a kit, then public, then none —, then the lower
//!   id); without fetched vulnerabilities it is mapped from `exposureLevel`. The most severe
//!   active alert decides `alert_risk_level` (ties: newest `alertCreationTime`, then the lower
//!   id).
//! - Rule 6: `risk_level` is the highest of `defender_risk_score`, `exposure_risk_level` and
//!   `alert_risk_level`; unknown parts take no part.
//! - Rule 7: a part left out for a missing permission is named in `missing_permissions`.

use std::cmp::{Ordering, Reverse};

use super::level::{RiskLevel, describe};
use crate::defender::{
    Alert, AlertStatus, DefenderTime, ExposureLevel, Machine, RiskScore, Vulnerability,
};

/// The permission whose absence leaves vulnerabilities out.
pub const VULNERABILITY_PERMISSION: &str = "Vulnerability.Read.All";
/// The permission whose absence leaves alerts out.
pub const ALERT_PERMISSION: &str = "Alert.Read.All";

/// What happened to one optional part of an assessment (vulnerabilities or alerts).
#[derive(Clone, Debug, PartialEq)]
pub enum Part<T> {
    /// Fetched from Defender.
    Fetched(T),
    /// Not fetched because a rule says it is not needed; the text says why, for people.
    Skipped(String),
    /// Not fetched because the Defender app lacks this permission (rule 7).
    MissingPermission(String),
}

impl<T> Part<T> {
    /// Converts the fetched value, keeping the other outcomes.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Fetched(value) => Part::Fetched(f(value)),
            Part::Skipped(why) => Part::Skipped(why),
            Part::MissingPermission(permission) => Part::MissingPermission(permission),
        }
    }

    /// The missing permission, if that is why the part is absent.
    pub fn missing(&self) -> Option<String> {
        match self {
            Part::MissingPermission(p) => Some(p.clone()),
            _ => None,
        }
    }
}

/// A machine's vulnerabilities as scoring needs them: how many there are, and at least every
/// one of the highest severity (the bulk path leaves the others out to save memory).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vulnerabilities {
    /// Number of distinct vulnerabilities on the machine.
    pub count: usize,
    /// Candidates for the most severe one: all of them, or at least all of the top severity.
    pub candidates: Vec<Vulnerability>,
}

impl From<Vec<Vulnerability>> for Vulnerabilities {
    fn from(all: Vec<Vulnerability>) -> Self {
        Self {
            count: all.len(),
            candidates: all,
        }
    }
}

/// A machine's alerts as scoring needs them: how many are active and resolved, and at least
/// the most severe active one and its runner-up (the bulk path folds pages into exactly that,
/// to save memory).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerts {
    /// Alerts that are not Resolved.
    pub active: usize,
    /// Resolved alerts (ignored, but named in the reasons).
    pub resolved: usize,
    /// Candidates for the most severe active one: all of them, or at least the two most
    /// severe active ones.
    pub candidates: Vec<Alert>,
}

impl From<Vec<Alert>> for Alerts {
    fn from(all: Vec<Alert>) -> Self {
        let active = all.iter().filter(|a| is_active(a)).count();
        Self {
            active,
            resolved: all.len() - active,
            candidates: all,
        }
    }
}

/// The scored assessment of one machine: every level and the reasons for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Score {
    /// The combined level (rule 6); `None` when every input is unknown.
    pub risk_level: Option<RiskLevel>,
    /// Defender's `riskScore`.
    pub defender_risk_score: Option<RiskLevel>,
    /// Defender's `exposureLevel`, as-is.
    pub exposure_level: Option<RiskLevel>,
    /// The most severe vulnerability's severity, or mapped from `exposureLevel` (rule 5).
    pub exposure_risk_level: Option<RiskLevel>,
    /// The most severe active alert's severity; None-level without active alerts; unknown
    /// when alerts were not fetched.
    pub alert_risk_level: Option<RiskLevel>,
    /// Number of vulnerabilities (0 when not fetched).
    pub vulnerability_count: u32,
    /// The vulnerability that set `exposure_risk_level`.
    pub most_severe_vulnerability: Option<Vulnerability>,
    /// The alert that set `alert_risk_level`.
    pub most_severe_alert: Option<Alert>,
    /// Number of alerts that are not Resolved (0 when not fetched).
    pub active_alert_count: u32,
    /// Plain-language reasons, most important first.
    pub reasons: Vec<String>,
    /// Permissions whose absence left a part out.
    pub missing_permissions: Vec<String>,
}

/// Rule 3: `Ok` when vulnerabilities must be fetched, else why not (for `reasons`).
pub fn vulnerabilities_needed(
    risk_score: Option<&RiskScore>,
    exposure_level: Option<&ExposureLevel>,
) -> Result<(), String> {
    let risk = risk_score.and_then(RiskLevel::from_risk_score);
    let exposure = exposure_level.and_then(RiskLevel::from_exposure_level);
    if risk.is_some_and(|l| l.is_meaningful()) || exposure.is_some_and(|l| l.is_meaningful()) {
        return Ok(());
    }
    let risk_text = risk_score.map_or("null", |s| s.as_str());
    let exposure_text = exposure_level.map_or("null", |s| s.as_str());
    let why = if risk_text == exposure_text {
        format!("riskScore and exposureLevel are {risk_text}")
    } else {
        format!("riskScore is {risk_text} and exposureLevel is {exposure_text}")
    };
    Err(format!(
        "vulnerabilities not fetched: {why} (they are fetched only when either is above Informational)"
    ))
}

/// Rule 4: `Ok` when alerts must be fetched, else why not (for `reasons`).
pub fn alerts_needed(risk_score: Option<&RiskScore>) -> Result<(), String> {
    match risk_score {
        Some(RiskScore::None) => Err("alerts not fetched: riskScore is None".to_string()),
        _ => Ok(()),
    }
}

/// Which criterion decided the most severe item among items of the same severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TieBreak {
    /// No other item had the same severity.
    Unique,
    /// Higher CVSS v3 score.
    Cvss,
    /// Stronger exploit (verified or in a kit, then public).
    Exploit,
    /// Newer alert.
    Newest,
    /// Lower id (everything else equal).
    Id,
}

/// How strong the known exploit of a vulnerability is: 2 verified or in a kit, 1 public, 0 none.
pub fn exploit_rank(v: &Vulnerability) -> u8 {
    if v.exploit_verified == Some(true) || v.exploit_in_kit == Some(true) {
        2
    } else if v.public_exploit == Some(true) {
        1
    } else {
        0
    }
}

/// CVSS as a totally ordered key: unknown or NaN ranks below every real score.
fn cvss_key(v: &Vulnerability) -> f64 {
    v.cvss_v3.filter(|c| c.is_finite()).unwrap_or(-1.0)
}

fn vulnerability_level(v: &Vulnerability) -> RiskLevel {
    RiskLevel::from_vulnerability_severity(v.severity.as_ref())
}

/// Orders vulnerabilities by rule 5, most severe greatest.
fn compare_vulnerabilities(a: &Vulnerability, b: &Vulnerability) -> Ordering {
    vulnerability_level(a)
        .cmp(&vulnerability_level(b))
        .then_with(|| cvss_key(a).total_cmp(&cvss_key(b)))
        .then_with(|| exploit_rank(a).cmp(&exploit_rank(b)))
        .then_with(|| Reverse(a.id.as_deref()).cmp(&Reverse(b.id.as_deref())))
}

/// Rule 5 for vulnerabilities: the index of the most severe one and what decided it. The
/// choice does not depend on the order of `items`.
pub fn most_severe_vulnerability(items: &[Vulnerability]) -> Option<(usize, TieBreak)> {
    let (best, winner) = items
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| compare_vulnerabilities(a, b))?;
    // The runner-up among the same severity tells which criterion decided.
    let level = vulnerability_level(winner);
    let runner_up = items
        .iter()
        .enumerate()
        .filter(|(i, v)| *i != best && vulnerability_level(v) == level)
        .max_by(|(_, a), (_, b)| compare_vulnerabilities(a, b))
        .map(|(_, v)| v);
    let tie = match runner_up {
        None => TieBreak::Unique,
        Some(r) if cvss_key(r) != cvss_key(winner) => TieBreak::Cvss,
        Some(r) if exploit_rank(r) != exploit_rank(winner) => TieBreak::Exploit,
        Some(_) => TieBreak::Id,
    };
    Some((best, tie))
}

/// Only alerts that are not Resolved count (rule 4).
pub fn is_active(alert: &Alert) -> bool {
    !matches!(alert.status, Some(AlertStatus::Resolved))
}

fn alert_level(a: &Alert) -> RiskLevel {
    RiskLevel::from_alert_severity(a.severity.as_ref())
}

/// An alert's place in rule 5's order (severity, then newest, then the lower id): compare
/// two ranks to compare the alerts.
pub fn alert_rank(a: &Alert) -> (RiskLevel, Option<&DefenderTime>, Reverse<Option<&str>>) {
    (
        alert_level(a),
        a.alert_creation_time.as_ref(),
        Reverse(a.id.as_deref()),
    )
}

/// Orders alerts by rule 5, most severe greatest.
fn compare_alerts(a: &Alert, b: &Alert) -> Ordering {
    alert_rank(a).cmp(&alert_rank(b))
}

/// Rule 5 for alerts: the index of the most severe *active* alert and what decided it. The
/// choice does not depend on the order of `items`.
pub fn most_severe_alert(items: &[Alert]) -> Option<(usize, TieBreak)> {
    let active = || items.iter().enumerate().filter(|(_, a)| is_active(a));
    let (best, winner) = active().max_by(|(_, a), (_, b)| compare_alerts(a, b))?;
    let level = alert_level(winner);
    let runner_up = active()
        .filter(|(i, a)| *i != best && alert_level(a) == level)
        .max_by(|(_, a), (_, b)| compare_alerts(a, b))
        .map(|(_, a)| a);
    let tie = match runner_up {
        None => TieBreak::Unique,
        Some(r) if r.alert_creation_time != winner.alert_creation_time => TieBreak::Newest,
        Some(_) => TieBreak::Id,
    };
    Some((best, tie))
}

/// Rule 6: the highest known level, `None` when all are unknown.
pub fn combine(levels: [Option<RiskLevel>; 3]) -> Option<RiskLevel> {
    levels.into_iter().flatten().max()
}

/// Scores one machine from what was fetched (rules 3 to 7).
pub fn score(
    machine: &Machine,
    vulnerabilities: Part<Vulnerabilities>,
    alerts: Part<Alerts>,
) -> Score {
    let mut s = Score {
        defender_risk_score: machine
            .risk_score
            .as_ref()
            .and_then(RiskLevel::from_risk_score),
        exposure_level: machine
            .exposure_level
            .as_ref()
            .and_then(RiskLevel::from_exposure_level),
        ..Score::default()
    };
    let mut detail = Vec::new();
    score_vulnerabilities(&mut s, &mut detail, vulnerabilities);
    score_alerts(&mut s, &mut detail, alerts);
    s.risk_level = combine([
        s.defender_risk_score,
        s.exposure_risk_level,
        s.alert_risk_level,
    ]);
    s.reasons.push(summary(&s));
    s.reasons.extend(detail);
    s
}

fn score_vulnerabilities(s: &mut Score, detail: &mut Vec<String>, part: Part<Vulnerabilities>) {
    let from_exposure = |s: &Score| {
        format!(
            "exposure risk {} taken from Defender's exposureLevel",
            describe(s.exposure_level)
        )
    };
    match part {
        Part::Fetched(Vulnerabilities {
            count,
            candidates: items,
        }) => {
            s.vulnerability_count = u32::try_from(count).unwrap_or(u32::MAX);
            match most_severe_vulnerability(&items) {
                None => {
                    s.exposure_risk_level = Some(RiskLevel::None);
                    detail.push(format!(
                        "no vulnerabilities reported: exposure risk None (Defender's exposureLevel is {})",
                        describe(s.exposure_level)
                    ));
                }
                Some((index, tie)) => {
                    let v = &items[index];
                    let level = vulnerability_level(v);
                    s.exposure_risk_level = Some(level);
                    detail.push(format!(
                        "{count} vulnerabilit{}; the most severe is {}",
                        if count == 1 { "y" } else { "ies" },
                        describe_vulnerability(v, level, tie),
                    ));
                    s.most_severe_vulnerability = items.into_iter().nth(index);
                }
            }
        }
        Part::Skipped(why) => {
            s.exposure_risk_level = s.exposure_level;
            detail.push(format!("{why}; {}", from_exposure(s)));
        }
        Part::MissingPermission(permission) => {
            s.exposure_risk_level = s.exposure_level;
            detail.push(format!(
                "vulnerabilities left out: the Defender app lacks {permission}; {}",
                from_exposure(s)
            ));
            s.missing_permissions.push(permission);
        }
    }
}

fn describe_vulnerability(v: &Vulnerability, level: RiskLevel, tie: TieBreak) -> String {
    let id = v.id.as_deref().unwrap_or("(no id)");
    let cvss = v
        .cvss_v3
        .map_or_else(|| "no CVSS score".to_string(), |c| format!("CVSS {c:.1}"));
    let exploit = match exploit_rank(v) {
        2 => ", verified exploit",
        1 => ", public exploit",
        _ => "",
    };
    let why = match tie {
        TieBreak::Unique => "",
        TieBreak::Cvss => "; chosen among equally severe ones for its higher CVSS score",
        TieBreak::Exploit => {
            "; chosen among equally severe ones with the same CVSS for its stronger exploit"
        }
        _ => "; chosen among otherwise equal ones by id",
    };
    format!("{id} ({level}, {cvss}{exploit}){why}")
}

fn score_alerts(s: &mut Score, detail: &mut Vec<String>, part: Part<Alerts>) {
    match part {
        Part::Fetched(Alerts {
            active,
            resolved,
            candidates: items,
        }) => {
            s.active_alert_count = u32::try_from(active).unwrap_or(u32::MAX);
            let ignored = if resolved > 0 {
                format!(" ({resolved} resolved ignored)")
            } else {
                String::new()
            };
            match most_severe_alert(&items) {
                None => {
                    s.alert_risk_level = Some(RiskLevel::None);
                    detail.push(format!("no active alerts{ignored}: alert risk None"));
                }
                Some((index, tie)) => {
                    let a = &items[index];
                    let level = alert_level(a);
                    s.alert_risk_level = Some(level);
                    let title = a.title.as_deref().unwrap_or("untitled");
                    let created = a
                        .alert_creation_time
                        .as_ref()
                        .map_or_else(String::new, |t| format!(", created {t}"));
                    let why = match tie {
                        TieBreak::Newest => "; the newest of the equally severe ones",
                        TieBreak::Id => "; chosen among equally severe ones of the same time by id",
                        _ => "",
                    };
                    detail.push(format!(
                        "{active} active alert{}{ignored}; the most severe is \"{title}\" ({level}{created}){why}",
                        if active == 1 { "" } else { "s" },
                    ));
                    s.most_severe_alert = items.into_iter().nth(index);
                }
            }
        }
        Part::Skipped(why) => detail.push(why),
        Part::MissingPermission(permission) => {
            detail.push(format!(
                "alerts left out: the Defender app lacks {permission}"
            ));
            s.missing_permissions.push(permission);
        }
    }
}

/// The first reason: the combined level and which input set it.
fn summary(s: &Score) -> String {
    let Some(level) = s.risk_level else {
        return "risk level unknown: Defender reported no risk score, no exposure and no alert data"
            .to_string();
    };
    let mut sources = Vec::new();
    if s.defender_risk_score == Some(level) {
        sources.push("Defender's risk score".to_string());
    }
    if s.exposure_risk_level == Some(level) {
        sources.push(match &s.most_severe_vulnerability {
            Some(v) => format!(
                "the most severe vulnerability ({})",
                v.id.as_deref().unwrap_or("no id")
            ),
            None => "the exposure level".to_string(),
        });
    }
    if s.alert_risk_level == Some(level) {
        sources.push(match s.most_severe_alert {
            Some(_) => "the most severe active alert".to_string(),
            None => "the absence of active alerts".to_string(),
        });
    }
    format!(
        "risk level {level} from {} (risk score {}, exposure risk {}, alert risk {})",
        sources.join(" and "),
        describe(s.defender_risk_score),
        describe(s.exposure_risk_level),
        describe(s.alert_risk_level),
    )
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
