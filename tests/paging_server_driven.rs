//! Server-driven paging: Defender may answer fewer items than `$top` asked for, with an
//! `@odata.nextLink` to the rest. Every list RPC must still return full pages and walk the whole
//! list with no item lost or repeated. Each test walks a list twice on the same simulator, plain
//! and with the simulator's `server_page_size` knob, and compares the two walks page by page.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use common::actions::with_step;
use common::{TestEnv, api_requests, sim_config};
use defender_bridge::proto::{
    AlertSeverity, ListAlertsRequest, ListMachineActionsRequest, ListMachinesRequest,
    ListSoftwareMachinesRequest, ListVulnerabilitiesRequest, RunAntivirusScanRequest,
    VulnerabilitySeverity,
};
use defender_bridge::sim::{SimConfig, SimHandle};

/// Items per Defender response while the knob is on: far below the `$top` of every page.
const SERVER_PAGE: usize = 3;

/// Reads every page, following `next_page_token`: the ids of each page.
async fn walk<F, Fut>(mut fetch: F) -> Vec<Vec<String>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (Vec<String>, String)>,
{
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let (ids, next) = fetch(token).await;
        pages.push(ids);
        if next.is_empty() {
            return pages;
        }
        assert!(pages.len() < 10_000, "the walk does not end");
        token = next;
    }
}

/// Walks the list plainly, then with short server pages, and checks both walks are the same
/// full pages with no id twice; `upstream` is the path prefix of the Defender calls the list
/// makes. Returns every id in order.
async fn same_walk_with_short_server_pages<F, Fut>(
    sim: &SimHandle,
    upstream: &str,
    page_size: usize,
    mut fetch: F,
) -> Vec<String>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (Vec<String>, String)>,
{
    sim.set_server_page_size(None);
    let plain = walk(&mut fetch).await;
    sim.set_server_page_size(Some(SERVER_PAGE));
    sim.clear_requests();
    let short = walk(&mut fetch).await;
    let calls = api_requests(sim, upstream).len();
    sim.set_server_page_size(None);

    let sizes = |pages: &[Vec<String>]| pages.iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(
        sizes(&short),
        sizes(&plain),
        "page sizes with server-driven paging"
    );
    assert_eq!(short, plain, "the same items in the same pages");
    let (last, full) = plain.split_last().expect("at least one page");
    assert!(
        full.iter().all(|p| p.len() == page_size),
        "{:?}",
        sizes(&plain)
    );
    assert!(!last.is_empty() || plain.len() == 1, "no empty last page");
    let all = plain.concat();
    assert!(
        all.len() > page_size,
        "the list spans several pages ({} items)",
        all.len()
    );
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no item twice");
    assert!(
        calls > short.len(),
        "the knob made Defender answer in short pages ({calls} calls for {} pages)",
        short.len()
    );
    all
}

/// One `ListMachines` page: its ids and its next page token.
async fn machine_ids(env: &TestEnv, request: ListMachinesRequest) -> (Vec<String>, String) {
    let page = env
        .risk()
        .list_machines(request)
        .await
        .expect("page")
        .into_inner();
    let ids = page.machines.into_iter().map(|item| item.id).collect();
    (ids, page.next_page_token)
}

/// One `ListAlerts` page: its ids and its next page token.
async fn alert_ids(env: &TestEnv, request: ListAlertsRequest) -> (Vec<String>, String) {
    let page = env
        .risk()
        .list_alerts(request)
        .await
        .expect("page")
        .into_inner();
    let ids = page.alerts.into_iter().map(|item| item.id).collect();
    (ids, page.next_page_token)
}

/// One `ListVulnerabilities` page: its ids and its next page token.
async fn vulnerability_ids(
    env: &TestEnv,
    request: ListVulnerabilitiesRequest,
) -> (Vec<String>, String) {
    let page = env
        .risk()
        .list_vulnerabilities(request)
        .await
        .expect("page")
        .into_inner();
    let ids = page
        .vulnerabilities
        .into_iter()
        .map(|item| item.id)
        .collect();
    (ids, page.next_page_token)
}

/// One `ListSoftwareMachines` page: its ids and its next page token.
async fn software_machine_ids(
    env: &TestEnv,
    request: ListSoftwareMachinesRequest,
) -> (Vec<String>, String) {
    let page = env
        .risk()
        .list_software_machines(request)
        .await
        .expect("page")
        .into_inner();
    let ids = page.machines.into_iter().map(|item| item.id).collect();
    (ids, page.next_page_token)
}

/// One `ListMachineActions` page: its ids and its next page token.
async fn machine_action_ids(
    env: &TestEnv,
    request: ListMachineActionsRequest,
) -> (Vec<String>, String) {
    let page = env
        .actions()
        .list_machine_actions(request)
        .await
        .expect("page")
        .into_inner();
    let ids = page
        .machine_actions
        .into_iter()
        .map(|item| item.id)
        .collect();
    (ids, page.next_page_token)
}

fn page_size(n: usize) -> i32 {
    i32::try_from(n).expect("small")
}

#[tokio::test]
async fn list_machines_fills_pages_across_short_server_pages() {
    // 100 machines: both walks (about 50 Defender calls) stay within the service's own
    // per-minute budget for the machines API (90% of Defender's 100).
    let env = TestEnv::start(SimConfig {
        machines: 100,
        ..sim_config()
    })
    .await;
    let ids = same_walk_with_short_server_pages(&env.sim, "/api/machines", 10, |token| {
        machine_ids(
            &env,
            ListMachinesRequest {
                page_size: page_size(10),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    let fleet: Vec<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(ids, fleet);
    env.stop().await;
}

#[tokio::test]
async fn list_alerts_fills_pages_across_short_server_pages() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    // High alerts only: fewer Defender calls, and the filter is carried across the links.
    let ids = same_walk_with_short_server_pages(&env.sim, "/api/alerts", 10, |token| {
        alert_ids(
            &env,
            ListAlertsRequest {
                min_severity: AlertSeverity::High as i32,
                page_size: page_size(10),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    let high = fleet.all_alerts().filter(|a| a.severity == "High").count();
    assert_eq!(ids.len(), high);

    // One machine's alerts are read whole (following the links) and sliced.
    let m = fleet
        .machines()
        .iter()
        .max_by_key(|m| m.alert_count)
        .expect("machines")
        .clone();
    let upstream = format!("/api/machines/{}/alerts", m.id);
    let ids = same_walk_with_short_server_pages(&env.sim, &upstream, 2, |token| {
        alert_ids(
            &env,
            ListAlertsRequest {
                machine_id: m.id.clone(),
                page_size: page_size(2),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    assert_eq!(ids.len(), fleet.alerts_of(&m).len());
    env.stop().await;
}

#[tokio::test]
async fn list_vulnerabilities_fills_pages_across_short_server_pages() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    // Critical ones only: fewer Defender calls.
    let ids = same_walk_with_short_server_pages(&env.sim, "/api/vulnerabilities", 10, |token| {
        vulnerability_ids(
            &env,
            ListVulnerabilitiesRequest {
                min_severity: VulnerabilitySeverity::Critical as i32,
                page_size: page_size(10),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    let catalog: HashSet<String> = fleet
        .vulnerabilities()
        .iter()
        .filter(|v| v.severity == "Critical")
        .map(|v| v.id.clone())
        .collect();
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), catalog);

    let m = fleet
        .machines()
        .iter()
        .max_by_key(|m| m.vulnerabilities.len())
        .expect("machines")
        .clone();
    let upstream = format!("/api/machines/{}/vulnerabilities", m.id);
    let ids = same_walk_with_short_server_pages(&env.sim, &upstream, 4, |token| {
        vulnerability_ids(
            &env,
            ListVulnerabilitiesRequest {
                machine_id: m.id.clone(),
                page_size: page_size(4),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    assert_eq!(ids.len(), m.vulnerabilities.len());
    env.stop().await;
}

#[tokio::test]
async fn list_software_machines_fills_pages_across_short_server_pages() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let (index, software) = fleet
        .software()
        .iter()
        .enumerate()
        .find(|(i, _)| (25..=150).contains(&fleet.installed_on(*i).len()))
        .expect("a product on 25 to 150 machines");
    let expected: HashSet<String> = fleet
        .installed_on(index)
        .iter()
        .map(|m| fleet.machines()[*m as usize].id.clone())
        .collect();
    let id = software.id.clone();
    let upstream = format!("/api/Software/{id}/machineReferences");
    let ids = same_walk_with_short_server_pages(&env.sim, &upstream, 10, |token| {
        software_machine_ids(
            &env,
            ListSoftwareMachinesRequest {
                software_id: id.clone(),
                page_size: page_size(10),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), expected);
    env.stop().await;
}

#[tokio::test]
async fn list_machine_actions_fills_pages_across_short_server_pages() {
    // Actions stay Pending for the whole test, so both walks see the same list.
    let env = TestEnv::start(with_step(Duration::from_secs(600))).await;
    let mut created = HashSet::new();
    for m in env.sim.fleet().machines().iter().take(23) {
        let action = env
            .actions()
            .run_antivirus_scan(RunAntivirusScanRequest {
                machine_id: m.id.clone(),
                comment: "paging test".into(),
                ..Default::default()
            })
            .await
            .expect("scan")
            .into_inner();
        created.insert(action.id);
    }
    let ids = same_walk_with_short_server_pages(&env.sim, "/api/machineactions", 10, |token| {
        machine_action_ids(
            &env,
            ListMachineActionsRequest {
                page_size: page_size(10),
                page_token: token,
                ..Default::default()
            },
        )
    })
    .await;
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), created);
    env.stop().await;
}

#[tokio::test]
async fn a_hostname_look_up_sees_every_candidate_across_short_server_pages() {
    let env = TestEnv::start(sim_config()).await;
    let short = env
        .sim
        .fleet()
        .ambiguous_short_name()
        .expect("ambiguous name")
        .to_string();
    let fleet = env.sim.fleet();
    let matching: Vec<_> = fleet
        .machines()
        .iter()
        .filter(|m| m.computer_dns_name.split('.').next() == Some(short.as_str()))
        .collect();
    assert!(matching.len() >= 2, "the fleet has an ambiguous short name");
    let newest = matching
        .iter()
        .max_by_key(|m| m.last_seen)
        .expect("some")
        .id
        .clone();
    // One machine per answer: every candidate but the first is behind a next link.
    env.sim.set_server_page_size(Some(1));
    let risk = env.endpoint_risk(common::risk::by_host(&short)).await;
    assert_eq!(risk.other_candidates.len(), matching.len() - 1);
    assert_eq!(risk.machine.map(|m| m.id), Some(newest));
    env.stop().await;
}
