//! `GetMachine`, `ListMachines`, `ListAlerts`, `ListVulnerabilities`: filters, AIP paging with
//! verified page tokens, and NOT_FOUND.

mod common;

use std::collections::HashSet;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::{
    self, ListAlertsRequest, ListMachinesRequest, ListVulnerabilitiesRequest,
};

#[tokio::test]
async fn get_machine_returns_the_entity_or_not_found() {
    let env = TestEnv::start(sim_config()).await;
    let sim_machine = env.sim.fleet().machines()[3].clone();
    let m = env
        .risk()
        .get_machine(proto::GetMachineRequest {
            machine_id: sim_machine.id.clone(),
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(m.id, sim_machine.id);
    assert_eq!(m.computer_dns_name, sim_machine.computer_dns_name);
    assert_eq!(m.os_platform, sim_machine.os_platform);
    assert_eq!(m.last_ip_address, sim_machine.last_ip_address);
    assert!(m.last_seen.is_some() && !m.ip_addresses.is_empty());
    let err = env
        .risk()
        .get_machine(proto::GetMachineRequest {
            machine_id: "0".repeat(40),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(metadata(&err, "resource_type").as_deref(), Some("machine"));
    env.stop().await;
}

#[tokio::test]
async fn list_machines_pages_through_the_whole_fleet() {
    let env = TestEnv::start(sim_config()).await;
    let mut seen = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = env
            .risk()
            .list_machines(ListMachinesRequest {
                page_size: 64,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("ok")
            .into_inner();
        pages += 1;
        assert!(page.machines.len() <= 64);
        seen.extend(page.machines.into_iter().map(|m| m.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let fleet: HashSet<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(seen, fleet);
    assert_eq!(pages, fleet.len().div_ceil(64));
    // The default page size is 100.
    let first = env
        .risk()
        .list_machines(ListMachinesRequest::default())
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(first.machines.len(), 100);
    env.stop().await;
}

#[tokio::test]
async fn list_machines_filters_combine() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let expected: HashSet<String> = fleet
        .machines()
        .iter()
        .filter(|m| {
            m.risk_score == Some("High")
                && m.health_status == "Active"
                && m.os_platform.starts_with("Windows")
        })
        .filter(|m| m.computer_dns_name.starts_with("ws-"))
        .map(|m| m.id.clone())
        .collect();
    assert!(!expected.is_empty());
    let page = env
        .risk()
        .list_machines(ListMachinesRequest {
            page_size: 1000,
            hostname_prefix: "WS-".into(),
            risk_score: proto::RiskLevel::High as i32,
            health_status: "Active".into(),
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    let got: HashSet<String> = page.machines.into_iter().map(|m| m.id).collect();
    assert_eq!(got, expected);
    let linux = env
        .risk()
        .list_machines(ListMachinesRequest {
            page_size: 1000,
            os_platform: "Linux".into(),
            exposure_level: proto::RiskLevel::Medium as i32,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    let want = fleet
        .machines()
        .iter()
        .filter(|m| m.os_platform == "Linux" && m.exposure_level == Some("Medium"))
        .count();
    assert_eq!(linux.machines.len(), want);
    env.stop().await;
}

#[tokio::test]
async fn page_tokens_are_refused_when_tampered_or_reused_with_other_filters() {
    let env = TestEnv::start(sim_config()).await;
    let first = env
        .risk()
        .list_machines(ListMachinesRequest {
            page_size: 10,
            os_platform: "Windows11".into(),
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    let token = first.next_page_token;
    assert!(
        !token.is_empty() && !token.contains("http"),
        "opaque: {token}"
    );
    let calls_before = api_calls(&env.sim);
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for (req, what) in [
        (
            ListMachinesRequest {
                page_size: 10,
                os_platform: "Windows11".into(),
                page_token: tampered,
                ..Default::default()
            },
            "tampered",
        ),
        (
            ListMachinesRequest {
                page_size: 10,
                os_platform: "Linux".into(),
                page_token: token.clone(),
                ..Default::default()
            },
            "other filter",
        ),
        (
            ListMachinesRequest {
                page_size: 10,
                page_token: "garbage".into(),
                ..Default::default()
            },
            "garbage",
        ),
    ] {
        let err = env.risk().list_machines(req).await.expect_err(what);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{what}");
        assert_eq!(bad_fields(&err), ["page_token"], "{what}");
    }
    // Another RPC does not accept it either.
    let err = env
        .risk()
        .list_alerts(ListAlertsRequest {
            page_token: token.clone(),
            ..Default::default()
        })
        .await
        .expect_err("other rpc");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        api_calls(&env.sim),
        calls_before,
        "refused before any upstream call"
    );
    // The genuine token still works, with any page size.
    let second = env
        .risk()
        .list_machines(ListMachinesRequest {
            page_size: 5,
            os_platform: "Windows11".into(),
            page_token: token,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(second.machines.len(), 5);
    assert!(second.machines.iter().all(|m| m.os_platform == "Windows11"));
    env.stop().await;
}

#[tokio::test]
async fn list_alerts_filters_one_machine_or_the_tenant() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let m = fleet
        .machines()
        .iter()
        .max_by_key(|m| m.alert_count)
        .expect("machines")
        .clone();
    let sim_alerts = fleet.alerts_of(&m);
    let rank = defender_bridge::sim::alert_severity_rank;
    let want = sim_alerts
        .iter()
        .filter(|a| rank(a.severity) >= rank("Medium"))
        .count();
    let page = env
        .risk()
        .list_alerts(ListAlertsRequest {
            machine_id: m.id.clone(),
            min_severity: proto::AlertSeverity::Medium as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(page.alerts.len(), want);
    assert!(
        page.alerts
            .iter()
            .all(|a| a.machine_id == m.id && a.severity >= proto::AlertSeverity::Medium as i32)
    );
    // Tenant-wide, by status, paged.
    let mut token = String::new();
    let mut total = 0;
    loop {
        let page = env
            .risk()
            .list_alerts(ListAlertsRequest {
                status: proto::AlertStatus::New as i32,
                page_size: 50,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("ok")
            .into_inner();
        assert!(
            page.alerts
                .iter()
                .all(|a| a.status == proto::AlertStatus::New as i32)
        );
        total += page.alerts.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        total,
        fleet.all_alerts().filter(|a| a.status == "New").count()
    );
    env.stop().await;
}

#[tokio::test]
async fn list_vulnerabilities_of_a_machine_and_of_the_tenant() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let id = fleet.sample_machine_id().to_string();
    let m = fleet.find(&id).expect("machine");
    let all = env
        .risk()
        .list_vulnerabilities(ListVulnerabilitiesRequest {
            machine_id: id.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(all.vulnerabilities.len(), m.vulnerabilities.len());
    assert!(
        all.vulnerabilities
            .iter()
            .all(|v| v.portal_url.contains("/vulnerabilities/vulnerability/"))
    );
    let high = env
        .risk()
        .list_vulnerabilities(ListVulnerabilitiesRequest {
            machine_id: id,
            min_severity: proto::VulnerabilitySeverity::High as i32,
            page_size: 3,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert!(high.vulnerabilities.len() <= 3);
    assert!(
        high.vulnerabilities
            .iter()
            .all(|v| v.severity >= proto::VulnerabilitySeverity::High as i32)
    );
    let tenant = env
        .risk()
        .list_vulnerabilities(ListVulnerabilitiesRequest {
            page_size: 20,
            ..Default::default()
        })
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(tenant.vulnerabilities.len(), 20);
    assert!(!tenant.next_page_token.is_empty());
    env.stop().await;
}
