//! Unit and property tests of the risk model (kept beside `scoring.rs` to keep both short).

use proptest::prelude::*;

use super::*;
use crate::defender::{AlertSeverity, DefenderTime, VulnerabilitySeverity};

fn machine(risk: Option<&str>, exposure: Option<&str>) -> Machine {
    Machine {
        id: Some("a".repeat(40)),
        risk_score: risk.map(RiskScore::parse),
        exposure_level: exposure.map(ExposureLevel::parse),
        ..Machine::default()
    }
}

fn vuln(id: &str, severity: &str, cvss: f64, public: bool, verified: bool) -> Vulnerability {
    Vulnerability {
        id: Some(id.into()),
        severity: Some(VulnerabilitySeverity::parse(severity)),
        cvss_v3: Some(cvss),
        public_exploit: Some(public),
        exploit_verified: Some(verified),
        ..Vulnerability::default()
    }
}

fn alert(id: &str, severity: &str, status: &str, created: &str) -> Alert {
    Alert {
        id: Some(id.into()),
        title: Some(format!("alert {id}")),
        severity: Some(AlertSeverity::parse(severity)),
        status: Some(AlertStatus::parse(status)),
        alert_creation_time: Some(DefenderTime::parse(created)),
        ..Alert::default()
    }
}

#[test]
fn vulnerabilities_are_not_needed_when_risk_and_exposure_are_none() {
    let why = vulnerabilities_needed(Some(&RiskScore::None), Some(&ExposureLevel::None))
        .expect_err("not needed");
    assert!(
        why.contains("riskScore and exposureLevel are None"),
        "{why}"
    );
    assert!(
        vulnerabilities_needed(Some(&RiskScore::Informational), Some(&ExposureLevel::None))
            .is_err()
    );
    assert!(vulnerabilities_needed(None, None).is_err());
}

#[test]
fn vulnerabilities_are_needed_when_either_level_is_above_informational() {
    assert!(vulnerabilities_needed(Some(&RiskScore::Low), Some(&ExposureLevel::None)).is_ok());
    assert!(vulnerabilities_needed(Some(&RiskScore::None), Some(&ExposureLevel::Low)).is_ok());
    assert!(vulnerabilities_needed(None, Some(&ExposureLevel::High)).is_ok());
}

#[test]
fn alerts_are_skipped_only_for_risk_score_none() {
    assert!(alerts_needed(Some(&RiskScore::None)).is_err());
    assert!(alerts_needed(Some(&RiskScore::Informational)).is_ok());
    assert!(alerts_needed(None).is_ok(), "null is not None");
}

#[test]
fn skipped_parts_map_exposure_from_exposure_level_and_say_why() {
    let m = machine(Some("None"), Some("None"));
    let why_v =
        vulnerabilities_needed(m.risk_score.as_ref(), m.exposure_level.as_ref()).expect_err("skip");
    let why_a = alerts_needed(m.risk_score.as_ref()).expect_err("skip");
    let s = score(&m, Part::Skipped(why_v), Part::Skipped(why_a));
    assert_eq!(s.risk_level, Some(RiskLevel::None));
    assert_eq!(s.exposure_risk_level, Some(RiskLevel::None));
    assert_eq!(s.alert_risk_level, None);
    assert_eq!(s.vulnerability_count, 0);
    let text = s.reasons.join("\n");
    assert!(text.contains("vulnerabilities not fetched"), "{text}");
    assert!(
        text.contains("alerts not fetched: riskScore is None"),
        "{text}"
    );
}

#[test]
fn critical_vulnerability_raises_the_level_above_defender_score() {
    let m = machine(Some("Medium"), Some("High"));
    let s = score(
        &m,
        Part::Fetched(Vulnerabilities::from(vec![
            vuln("CVE-1", "High", 7.0, false, false),
            vuln("CVE-2", "Critical", 9.0, false, false),
        ])),
        Part::Fetched(Alerts::default()),
    );
    assert_eq!(s.risk_level, Some(RiskLevel::Critical));
    assert_eq!(s.vulnerability_count, 2);
    assert_eq!(
        s.most_severe_vulnerability.and_then(|v| v.id).as_deref(),
        Some("CVE-2")
    );
    assert_eq!(s.alert_risk_level, Some(RiskLevel::None));
    assert!(
        s.reasons[0].contains("risk level Critical"),
        "{:?}",
        s.reasons
    );
}

#[test]
fn vulnerability_ties_break_on_cvss_then_exploit_then_id() {
    let cvss = [
        vuln("CVE-A", "Critical", 9.1, true, true),
        vuln("CVE-B", "Critical", 9.8, false, false),
    ];
    assert_eq!(most_severe_vulnerability(&cvss), Some((1, TieBreak::Cvss)));
    let exploit = [
        vuln("CVE-A", "High", 8.8, false, false),
        vuln("CVE-B", "High", 8.8, true, true),
        vuln("CVE-C", "High", 8.8, true, false),
    ];
    assert_eq!(
        most_severe_vulnerability(&exploit),
        Some((1, TieBreak::Exploit))
    );
    let id = [
        vuln("CVE-9", "Low", 3.0, false, false),
        vuln("CVE-1", "Low", 3.0, false, false),
    ];
    assert_eq!(most_severe_vulnerability(&id), Some((1, TieBreak::Id)));
    let unique = [vuln("CVE-1", "Low", 3.0, false, false)];
    assert_eq!(
        most_severe_vulnerability(&unique),
        Some((0, TieBreak::Unique))
    );
    assert_eq!(most_severe_vulnerability(&[]), None);
}

#[test]
fn unknown_cvss_ranks_below_any_score() {
    let mut no_score = vuln("CVE-A", "High", 0.0, false, false);
    no_score.cvss_v3 = None;
    let nan = vuln("CVE-B", "High", f64::NAN, true, true);
    let scored = vuln("CVE-C", "High", 0.1, false, false);
    assert_eq!(
        most_severe_vulnerability(&[no_score, nan, scored]).map(|(i, _)| i),
        Some(2)
    );
}

#[test]
fn alert_ties_break_on_newest_and_resolved_alerts_do_not_count() {
    let alerts = vec![
        alert("a1", "High", "New", "2024-01-01T00:00:00Z"),
        alert("a2", "High", "InProgress", "2024-03-01T00:00:00Z"),
        alert("a3", "Medium", "New", "2024-05-01T00:00:00Z"),
        alert("a4", "High", "Resolved", "2024-06-01T00:00:00Z"),
    ];
    assert_eq!(most_severe_alert(&alerts), Some((1, TieBreak::Newest)));
    let m = machine(Some("Low"), Some("Low"));
    let s = score(
        &m,
        Part::Fetched(Vulnerabilities::default()),
        Part::Fetched(alerts.into()),
    );
    assert_eq!(s.active_alert_count, 3);
    assert_eq!(s.alert_risk_level, Some(RiskLevel::High));
    assert_eq!(s.risk_level, Some(RiskLevel::High));
    assert_eq!(
        s.most_severe_alert.and_then(|a| a.id).as_deref(),
        Some("a2")
    );
    assert!(s.reasons.iter().any(|r| r.contains("1 resolved ignored")));
}

#[test]
fn only_resolved_alerts_mean_alert_risk_none() {
    let m = machine(Some("Low"), Some("None"));
    let alerts = vec![alert("a1", "High", "Resolved", "2024-01-01T00:00:00Z")];
    let s = score(
        &m,
        Part::Fetched(Vulnerabilities::default()),
        Part::Fetched(alerts.into()),
    );
    assert_eq!(s.alert_risk_level, Some(RiskLevel::None));
    assert!(s.most_severe_alert.is_none());
    assert_eq!(s.risk_level, Some(RiskLevel::Low));
}

#[test]
fn missing_permissions_leave_parts_out_and_are_named() {
    let m = machine(Some("High"), Some("Medium"));
    let s = score(
        &m,
        Part::MissingPermission(VULNERABILITY_PERMISSION.into()),
        Part::MissingPermission(ALERT_PERMISSION.into()),
    );
    assert_eq!(
        s.missing_permissions,
        vec![
            VULNERABILITY_PERMISSION.to_string(),
            ALERT_PERMISSION.to_string()
        ]
    );
    assert_eq!(s.exposure_risk_level, Some(RiskLevel::Medium));
    assert_eq!(s.alert_risk_level, None);
    assert_eq!(s.risk_level, Some(RiskLevel::High));
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("lacks Vulnerability.Read.All"))
    );
}

#[test]
fn every_input_unknown_gives_unknown_level() {
    let m = machine(None, None);
    let s = score(
        &m,
        Part::Skipped("x".into()),
        Part::MissingPermission(ALERT_PERMISSION.into()),
    );
    assert_eq!(s.risk_level, None);
    assert!(s.reasons[0].contains("unknown"));
}

fn level_strategy() -> impl Strategy<Value = Option<RiskLevel>> {
    prop::option::of(prop::sample::select(RiskLevel::ALL.to_vec()))
}

fn vuln_strategy() -> impl Strategy<Value = Vulnerability> {
    (
        0u32..50,
        prop::sample::select(vec!["None", "Low", "Medium", "High", "Critical", "Weird"]),
        prop::option::of(0u8..=100),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, sev, cvss, public, verified)| Vulnerability {
            id: Some(format!("CVE-{id:04}")),
            severity: Some(VulnerabilitySeverity::parse(sev)),
            cvss_v3: cvss.map(|c| f64::from(c) / 10.0),
            public_exploit: Some(public),
            exploit_verified: Some(verified),
            ..Vulnerability::default()
        })
}

fn alert_strategy() -> impl Strategy<Value = Alert> {
    (
        0u32..50,
        prop::sample::select(vec![
            "UnSpecified",
            "Informational",
            "Low",
            "Medium",
            "High",
        ]),
        prop::sample::select(vec!["New", "InProgress", "Resolved", "Unknown"]),
        0u32..5,
    )
        .prop_map(|(id, sev, status, day)| {
            alert(
                &format!("da{id:04}"),
                sev,
                status,
                &format!("2024-01-0{}T00:00:00Z", day + 1),
            )
        })
}

/// Items with distinct ids (an id names one item), in the order given.
fn distinct<T>(items: Vec<T>, id: impl Fn(&T) -> Option<String>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|i| seen.insert(id(i))).collect()
}

proptest! {
    #[test]
    fn risk_level_is_never_below_an_input_and_equals_one(levels in [level_strategy(), level_strategy(), level_strategy()]) {
        let combined = combine(levels);
        for level in levels.iter().flatten() {
            prop_assert!(combined >= Some(*level));
        }
        match combined {
            Some(c) => prop_assert!(levels.contains(&Some(c))),
            None => prop_assert!(levels.iter().all(Option::is_none)),
        }
    }

    #[test]
    fn scored_risk_level_is_the_highest_of_its_parts(
        risk in prop::option::of(prop::sample::select(vec!["None", "Informational", "Low", "Medium", "High"])),
        exposure in prop::option::of(prop::sample::select(vec!["None", "Low", "Medium", "High"])),
        vulns in prop::collection::vec(vuln_strategy(), 0..8),
        alerts in prop::collection::vec(alert_strategy(), 0..8),
    ) {
        let m = machine(risk, exposure);
        let s = score(&m, Part::Fetched(vulns.into()), Part::Fetched(alerts.into()));
        let parts = [s.defender_risk_score, s.exposure_risk_level, s.alert_risk_level];
        for level in parts.iter().flatten() {
            prop_assert!(s.risk_level >= Some(*level));
        }
        prop_assert!(s.risk_level.is_none() || parts.contains(&s.risk_level));
        prop_assert!(!s.reasons.is_empty());
    }

    #[test]
    fn vulnerability_choice_does_not_depend_on_order(
        vulns in prop::collection::vec(vuln_strategy(), 1..10),
        seed in any::<u64>(),
    ) {
        let vulns = distinct(vulns, |v| v.id.clone());
        let mut shuffled = vulns.clone();
        shuffle(&mut shuffled, seed);
        let pick = |items: &[Vulnerability]| most_severe_vulnerability(items).map(|(i, t)| (items[i].id.clone(), t));
        prop_assert_eq!(pick(&vulns), pick(&shuffled));
        // Nothing outranks the winner on severity.
        let (index, _) = most_severe_vulnerability(&vulns).expect("non-empty");
        let top = RiskLevel::from_vulnerability_severity(vulns[index].severity.as_ref());
        prop_assert!(vulns.iter().all(|v| RiskLevel::from_vulnerability_severity(v.severity.as_ref()) <= top));
    }

    #[test]
    fn alert_choice_does_not_depend_on_order(
        alerts in prop::collection::vec(alert_strategy(), 0..10),
        seed in any::<u64>(),
    ) {
        let alerts = distinct(alerts, |a| a.id.clone());
        let mut shuffled = alerts.clone();
        shuffle(&mut shuffled, seed);
        let pick = |items: &[Alert]| most_severe_alert(items).map(|(i, t)| (items[i].id.clone(), t));
        prop_assert_eq!(pick(&alerts), pick(&shuffled));
        if let Some((i, _)) = most_severe_alert(&alerts) {
            prop_assert!(is_active(&alerts[i]));
        } else {
            prop_assert!(alerts.iter().all(|a| !is_active(a)));
        }
    }
}

/// A deterministic Fisher-Yates shuffle driven by `seed` (proptest shrinks the seed).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}
