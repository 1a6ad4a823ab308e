//! Unit tests of the alert summaries (`alert_index.rs`).

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
fn the_summaries_stay_small() {
    // The sizes docs/memory.md counts on: one summary per machine with alerts, one boxed
    // alert each.
    assert!(std::mem::size_of::<CompactAlert>() <= 96);
    assert!(std::mem::size_of::<AlertSummary>() <= 32);
    assert!(std::mem::size_of::<(MachineKey, AlertSummary)>() <= 56);
}

#[test]
fn tie_breaks_survive_folding_and_freezing() {
    // m1: two High alerts at different times (newest wins); m2: two at the same time (the
    // lower id); m3: the runner-up is less severe (unique); m4: creation times Defender
    // sent as text or with an offset are kept exactly.
    let all = vec![
        alert("a1", "m1", "High", "2024-01-01T00:00:00Z", "New"),
        alert("a2", "m1", "High", "2024-01-02T00:00:00Z", "New"),
        alert("b2", "m2", "High", "2024-01-01T00:00:00Z", "New"),
        alert("b1", "m2", "High", "2024-01-01T00:00:00Z", "New"),
        alert("c1", "m3", "High", "2024-01-01T00:00:00Z", "New"),
        alert("c2", "m3", "Low", "2024-01-09T00:00:00Z", "New"),
        alert("d1", "m4", "Medium", "yesterday", "New"),
        alert("d2", "m4", "Medium", "2024-01-01T02:00:00+02:00", "New"),
        alert("d3", "m4", "Medium", "2024-01-01T00:00:00Z", "New"),
    ];
    for freeze in [false, true] {
        for rotation in 0..all.len() {
            let mut order = all.clone();
            order.rotate_left(rotation);
            let mut index = AlertIndex::default();
            for a in order.iter().cloned() {
                index.add(a, |_| true);
            }
            if freeze {
                index.freeze();
            }
            for m in ["m1", "m2", "m3", "m4"] {
                let machine = Machine {
                    id: Some(m.into()),
                    ..Machine::default()
                };
                let mine: Vec<Alert> = all
                    .iter()
                    .filter(|a| a.machine_id.as_deref() == Some(m))
                    .cloned()
                    .collect();
                let whole = score(
                    &machine,
                    Part::Skipped("x".into()),
                    Part::Fetched(mine.into()),
                );
                let folded = score(
                    &machine,
                    Part::Skipped("x".into()),
                    Part::Fetched(index.for_machine(m)),
                );
                assert_eq!(folded.reasons, whole.reasons, "{m} rotation {rotation}");
                assert_eq!(
                    folded.most_severe_alert.and_then(|a| a.id),
                    whole.most_severe_alert.and_then(|a| a.id),
                    "{m}"
                );
            }
        }
    }
    let mut index = AlertIndex::default();
    for a in all.iter().cloned() {
        index.add(a, |_| true);
    }
    index.freeze();
    // Folding in after a freeze updates the frozen summary.
    index.add(
        alert("c3", "m3", "Critical", "2024-01-01T00:00:00Z", "New"),
        |_| true,
    );
    index.add(
        alert("e1", "m5", "Low", "2024-01-01T00:00:00Z", "New"),
        |_| true,
    );
    assert_eq!(index.len(), 5);
    let m3 = index.for_machine("m3");
    assert_eq!(m3.active, 3);
    assert_eq!(m3.candidates[0].id.as_deref(), Some("c3"));
    assert_eq!(index.for_machine("m5").active, 1);
}

#[test]
fn a_machine_without_alerts_has_none() {
    let mut index = AlertIndex::default();
    index.mark_read("m9");
    assert_eq!(index.for_machine("m9"), Alerts::default());
    assert_eq!(index.for_machine("m8"), Alerts::default());
}
