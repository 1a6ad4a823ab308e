//! The risk model (docs/risk-model.md) rule by rule, through gRPC against the simulator,
//! counting the calls it saw.

mod common;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::RiskLevel;
use defender_bridge::sim::SimMachine;

fn machine<'a>(env: &'a TestEnv, id: &str) -> &'a SimMachine {
    env.sim.fleet().find(id).expect("machine in the fleet")
}

#[tokio::test]
async fn rule_1_lookup_by_id_reads_the_machine_once_and_links_the_portal() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let risk = env.endpoint_risk(by_id(&id.to_uppercase())).await;
    let m = risk.machine.expect("machine");
    assert_eq!(m.id, id);
    assert_eq!(
        calls(&env.sim, &format!("/api/machines/{id}")),
        3,
        "machine, alerts, vulnerabilities"
    );
    assert_eq!(calls_to(&env.sim, &format!("/api/machines/{id}")), 1);
    // Rule 8: links on the cloud's portal host, tenant pinned.
    let links = risk.links.expect("links");
    let tid = &env.sim_config.tenant_id;
    assert_eq!(
        links.overview_url,
        format!("https://security.microsoft.com/machines/v2/{id}/overview?tid={tid}")
    );
    assert!(
        links
            .vulnerabilities_url
            .ends_with(&format!("/machines/v2/{id}/vulnerabilities?tid={tid}"))
    );
    assert!(
        links
            .alerts_url
            .ends_with(&format!("/machines/v2/{id}/alerts?tid={tid}"))
    );
    assert!(risk.other_candidates.is_empty());
    assert_eq!(risk.tenant, *tid);
    env.stop().await;
}

#[tokio::test]
async fn rule_1_lookup_by_short_hostname_matches_the_first_label_and_returns_candidates() {
    let env = TestEnv::start(sim_config()).await;
    let short = env
        .sim
        .fleet()
        .ambiguous_short_name()
        .expect("ambiguous name")
        .to_string();
    let matching: Vec<&SimMachine> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .filter(|m| m.computer_dns_name.split('.').next() == Some(short.as_str()))
        .collect();
    assert!(matching.len() >= 2, "the fleet has an ambiguous short name");
    let newest = matching.iter().max_by_key(|m| m.last_seen).expect("some");
    let risk = env.endpoint_risk(by_host(&short.to_uppercase())).await;
    assert_eq!(risk.machine.expect("machine").id, newest.id);
    assert_eq!(risk.other_candidates.len(), matching.len() - 1);
    assert!(
        risk.other_candidates
            .iter()
            .all(|c| c.machine_id != newest.id && c.last_seen.is_some())
    );
    // The FQDN of the other one matches exactly, with no candidates.
    let other = &risk.other_candidates[0];
    let exact = env.endpoint_risk(by_host(&other.computer_dns_name)).await;
    assert_eq!(exact.machine.expect("machine").id, other.machine_id);
    assert!(exact.other_candidates.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn rule_1_ambiguous_ip_returns_the_most_recent_machine_and_candidates() {
    let env = TestEnv::start(sim_config()).await;
    let ip = env.sim.fleet().shared_ip().expect("shared ip").to_string();
    let sharing: Vec<&SimMachine> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .filter(|m| m.last_ip_address == ip)
        .collect();
    assert_eq!(sharing.len(), 2);
    let newest = sharing.iter().max_by_key(|m| m.last_seen).expect("some");
    let older = sharing.iter().min_by_key(|m| m.last_seen).expect("some");
    // Three days ago both machines used the address (find-by-IP's window is around that time).
    let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    let risk = env.endpoint_risk(by_ip(&ip, Some(three_days_ago))).await;
    assert_eq!(risk.machine.expect("machine").id, newest.id);
    assert_eq!(risk.other_candidates.len(), 1);
    assert_eq!(risk.other_candidates[0].machine_id, older.id);
    let find = env
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path.contains("findbyip"))
        .expect("find-by-IP call");
    assert!(find.path.contains(&format!("ip='{ip}'")), "{}", find.path);
    // Now only the machine still using it matches.
    let now = env.endpoint_risk(by_ip(&ip, None)).await;
    assert_eq!(now.machine.expect("machine").id, newest.id);
    assert!(now.other_candidates.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn rule_1_unknown_endpoints_are_not_found() {
    let env = TestEnv::start(sim_config()).await;
    for req in [
        by_id(&"f".repeat(40)),
        by_host("no-such-host"),
        by_ip("192.0.2.1", None),
    ] {
        let err = env
            .risk()
            .get_endpoint_risk(req)
            .await
            .expect_err("unknown");
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert_eq!(reason(&err), "NOT_FOUND");
    }
    env.stop().await;
}

#[tokio::test]
async fn rule_2_without_machine_permission_the_call_fails_and_no_vulnerability_call_is_made() {
    let env = TestEnv::start(with_roles(&all_roles_but("Machine.Read"))).await;
    let id = env.sample_machine_id();
    for req in [by_id(&id), by_host("ws-00000")] {
        let err = env
            .risk()
            .get_endpoint_risk(req)
            .await
            .expect_err("no permission");
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert_eq!(reason(&err), "MISSING_APP_PERMISSION");
        assert_eq!(
            metadata(&err, "permission").as_deref(),
            Some("Machine.Read.All")
        );
    }
    assert_eq!(vulnerability_calls(&env.sim), 0);
    assert_eq!(calls(&env.sim, "/alerts"), 0);
    env.stop().await;
}

#[tokio::test]
async fn rule_3_and_4_the_none_none_machine_makes_no_vulnerability_or_alert_call() {
    let env = TestEnv::start(sim_config()).await;
    let id = env
        .sim
        .fleet()
        .clean_machine_id()
        .expect("clean machine")
        .to_string();
    let risk = env.endpoint_risk(by_id(&id)).await;
    assert_eq!(vulnerability_calls(&env.sim), 0);
    assert_eq!(calls(&env.sim, "/alerts"), 0);
    assert_eq!(api_calls(&env.sim), 1, "only the machine");
    assert_eq!(level(risk.risk_level), RiskLevel::None);
    assert_eq!(level(risk.exposure_risk_level), RiskLevel::None);
    assert_eq!(level(risk.alert_risk_level), RiskLevel::Unspecified);
    assert_eq!(risk.vulnerability_count, 0);
    let reasons = risk.reasons.join("\n");
    assert!(
        reasons.contains("vulnerabilities not fetched: riskScore and exposureLevel are None"),
        "{reasons}"
    );
    assert!(
        reasons.contains("alerts not fetched: riskScore is None"),
        "{reasons}"
    );
    env.stop().await;
}

#[tokio::test]
async fn rule_3_vulnerabilities_are_fetched_and_counted_when_risk_is_meaningful() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let risk = env.endpoint_risk(by_id(&id)).await;
    let m = machine(&env, &id);
    assert_eq!(
        calls(&env.sim, &format!("/api/machines/{id}/vulnerabilities")),
        1
    );
    assert_eq!(risk.vulnerability_count as usize, m.vulnerabilities.len());
    assert!(risk.most_severe_vulnerability.is_some());
    env.stop().await;
}

#[tokio::test]
async fn rule_4_only_unresolved_alerts_count() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let m = fleet
        .machines()
        .iter()
        .find(|m| {
            m.risk_score.is_some_and(|r| r != "None")
                && m.alert_count > m.active_alerts
                && m.active_alerts > 0
        })
        .expect("a machine with active and resolved alerts");
    let risk = env.endpoint_risk(by_id(&m.id)).await;
    assert_eq!(risk.active_alert_count, i32::from(m.active_alerts));
    let alert = risk.most_severe_alert.expect("active alert");
    assert_ne!(
        alert.status,
        defender_bridge::proto::AlertStatus::Resolved as i32
    );
    assert!(alert.portal_url.contains("/alerts/"));
    env.stop().await;
}

#[tokio::test]
async fn rule_5_vulnerability_ties_break_on_cvss_then_exploit() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let catalog = fleet.vulnerabilities();
    for (id, winner) in [
        (
            fleet.tie_break_cvss_machine_id().expect("cvss tie"),
            &catalog[0].id,
        ),
        (
            fleet.tie_break_exploit_machine_id().expect("exploit tie"),
            &catalog[2].id,
        ),
    ] {
        let risk = env.endpoint_risk(by_id(id)).await;
        let v = risk.most_severe_vulnerability.expect("vulnerability");
        assert_eq!(&v.id, winner, "machine {id}: {:?}", risk.reasons);
        assert!(
            risk.reasons
                .iter()
                .any(|r| r.contains("chosen among equally severe")),
            "{:?}",
            risk.reasons
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn rule_5_alert_ties_break_on_the_newest() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let id = fleet.tie_break_alert_machine_id().expect("alert tie");
    let expected = fleet
        .alerts_of(fleet.find(id).expect("machine"))
        .into_iter()
        .filter(|a| a.status != "Resolved" && a.severity == "High")
        .max_by_key(|a| a.alert_creation_time)
        .expect("active High alerts");
    let risk = env.endpoint_risk(by_id(id)).await;
    assert_eq!(risk.most_severe_alert.expect("alert").id, expected.id);
    assert_eq!(level(risk.alert_risk_level), RiskLevel::High);
    env.stop().await;
}

#[tokio::test]
async fn rule_6_risk_level_is_the_highest_of_its_parts_across_the_fleet() {
    let env = TestEnv::start(sim_config()).await;
    let ids: Vec<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .take(40)
        .map(|m| m.id.clone())
        .collect();
    for id in ids {
        let r = env.endpoint_risk(by_id(&id)).await;
        let parts = [
            r.defender_risk_score,
            r.exposure_risk_level,
            r.alert_risk_level,
        ];
        let max = parts.iter().copied().filter(|p| *p != 0).max().unwrap_or(0);
        assert_eq!(r.risk_level, max, "{id}: {:?}", r.reasons);
        assert!(!r.reasons.is_empty());
    }
    env.stop().await;
}

#[tokio::test]
async fn rule_7_without_vulnerability_permission_the_call_succeeds_and_names_it() {
    let env = TestEnv::start(with_roles(&all_roles_but("Vulnerability.Read"))).await;
    let id = env.sample_machine_id();
    let risk = env.endpoint_risk(by_id(&id)).await;
    assert_eq!(risk.missing_permissions, ["Vulnerability.Read.All"]);
    assert!(risk.most_severe_vulnerability.is_none());
    assert_eq!(risk.vulnerability_count, 0);
    // Exposure falls back to Defender's exposureLevel.
    assert_eq!(risk.exposure_risk_level, risk.exposure_level);
    assert!(risk.most_severe_alert.is_some(), "alerts still counted");
    env.stop().await;
}

#[tokio::test]
async fn rule_7_without_alert_permission_the_call_succeeds_and_names_it() {
    let env = TestEnv::start(with_roles(&all_roles_but("Alert.Read"))).await;
    let id = env.sample_machine_id();
    let risk = env.endpoint_risk(by_id(&id)).await;
    assert_eq!(risk.missing_permissions, ["Alert.Read.All"]);
    assert_eq!(level(risk.alert_risk_level), RiskLevel::Unspecified);
    assert!(risk.most_severe_vulnerability.is_some());
    env.stop().await;
}
