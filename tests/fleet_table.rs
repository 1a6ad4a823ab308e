//! The fleet table (`--fleet-sync`, docs/fleet-table.md) over real sockets against the
//! simulator: answers with no upstream call, the cold path for machines not in it, incremental
//! refresh, failed sweeps, actions, look-ups, generation swaps.

mod common;

use std::time::Duration;

use common::TestEnv;
use common::actions::{isolate, rid};
use common::risk::{api_calls, by_host, by_id, by_ip, bypassing_cache, level, reason};
use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::demo::service_args;
use defender_bridge::proto::{
    self, BatchGetEndpointRisksRequest, CheckConnectionRequest, FleetTableStatus,
};
use defender_bridge::server;
use defender_bridge::sim::{Fault, FaultKind, MachineChange, SimConfig};

/// Bound of every wait for the background task (never a timing assertion: a slow machine
/// only makes the test take longer, up to this).
const PATIENCE: Duration = Duration::from_secs(120);

/// The simulator, with `hidden` machines hidden, then the service with the fleet table on
/// (sweeps every `sweep_secs`, refreshes every `refresh_secs`, 0 = off).
async fn start(sweep_secs: u64, refresh_secs: u64, hidden: &[String]) -> TestEnv {
    start_tweaked(sweep_secs, refresh_secs, hidden, |_| {}).await
}

async fn start_tweaked(
    sweep_secs: u64,
    refresh_secs: u64,
    hidden: &[String],
    tweak: impl FnOnce(&mut ServeArgs),
) -> TestEnv {
    let sim_config = common::sim_config();
    let sim = common::start_sim(sim_config.clone()).await;
    sim.set_hidden_machines(hidden);
    let mut args = service_args(&sim, &sim_config, "127.0.0.1:0".parse().expect("addr"));
    args.fleet.fleet_sync = Some(true);
    args.fleet.fleet_sync_interval = Some(sweep_secs);
    args.fleet.fleet_refresh_interval = Some(refresh_secs);
    tweak(&mut args);
    let config = Config::resolve(&args).expect("valid config");
    let server = server::spawn(config).await.expect("server starts");
    let channel = common::connect(server.addr).await;
    TestEnv {
        sim,
        sim_config: sim_config as SimConfig,
        server,
        channel,
    }
}

async fn status(env: &TestEnv) -> FleetTableStatus {
    env.risk()
        .check_connection(CheckConnectionRequest {
            skip_probe: true,
            ..Default::default()
        })
        .await
        .expect("check connection")
        .into_inner()
        .fleet_table
        .expect("fleet table status")
}

/// Polls the status until `done` holds (bounded by [`PATIENCE`]).
async fn wait_for(
    env: &TestEnv,
    what: &str,
    done: impl Fn(&FleetTableStatus) -> bool,
) -> FleetTableStatus {
    let until = tokio::time::Instant::now() + PATIENCE;
    loop {
        let s = status(env).await;
        if done(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "gave up waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn first_generation(env: &TestEnv) -> FleetTableStatus {
    wait_for(env, "the first generation", |s| s.generation >= 1).await
}

#[tokio::test]
async fn machines_in_the_table_cost_no_upstream_call_by_id_batch_ip_or_name() {
    let env = start(3600, 0, &[]).await;
    let s = first_generation(&env).await;
    assert!(s.enabled);
    assert_eq!(s.machines, env.sim.fleet().machines().len() as u64);
    assert!(s.last_sweep_upstream_calls > 0);
    assert!(!s.last_sweep_failed);
    assert!(s.next_sweep.is_some() && s.last_sweep_duration.is_some());

    env.sim.clear_requests();
    let id = env.sample_machine_id();
    let risk = env.endpoint_risk(by_id(&id)).await;
    assert_eq!(
        risk.machine.as_ref().map(|m| m.id.clone()),
        Some(id.clone())
    );
    assert!(risk.cached);
    // The answer says when its data was read: the sweep's start.
    assert_eq!(risk.evaluated_at, s.data_read_at);

    let ids: Vec<String> = env.sim.fleet().machines()[..50]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let batch = env
        .risk()
        .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
            requests: ids.iter().map(|id| by_id(id)).collect(),
            ..Default::default()
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(batch.results.len(), 50);
    assert!(batch.results.iter().all(|r| matches!(
        r.result,
        Some(proto::batch_endpoint_risk_result::Result::Risk(_))
    )));

    // A machine still reporting: find-by-IP matches it "now".
    let m = env
        .sim
        .fleet()
        .machines()
        .iter()
        .find(|m| m.health_status == "Active")
        .expect("an active machine");
    let by_address = env.endpoint_risk(by_ip(&m.last_ip_address, None)).await;
    let short_name = m.computer_dns_name.split('.').next().expect("label");
    let by_name = env.endpoint_risk(by_host(short_name)).await;
    assert_eq!(
        api_calls(&env.sim),
        0,
        "answered from the table: {:?}",
        env.sim.requests()
    );
    let chosen = |r: &proto::EndpointRisk| r.machine.as_ref().map(|m| m.id.clone());
    assert!(chosen(&by_address).is_some());
    assert!(chosen(&by_name).is_some());

    // An ambiguous name: the table picks and lists candidates as Defender's look-up does.
    let shared = env
        .sim
        .fleet()
        .ambiguous_short_name()
        .expect("an ambiguous name")
        .to_string();
    let from_table = env.endpoint_risk(by_host(&shared)).await;
    assert_eq!(api_calls(&env.sim), 0);
    let from_defender = env.endpoint_risk(bypassing_cache(by_host(&shared))).await;
    assert!(api_calls(&env.sim) > 0, "bypass_cache asks Defender");
    assert_eq!(chosen(&from_table), chosen(&from_defender));
    let candidates = |r: &proto::EndpointRisk| {
        r.other_candidates
            .iter()
            .map(|c| c.machine_id.clone())
            .collect::<Vec<_>>()
    };
    assert!(!candidates(&from_table).is_empty());
    assert_eq!(candidates(&from_table), candidates(&from_defender));
    env.stop().await;
}

#[tokio::test]
async fn a_machine_onboarded_after_the_sweep_takes_the_cold_path() {
    let late = common::sim_config();
    let sim_probe = common::start_sim(late.clone()).await;
    let newcomer = sim_probe.fleet().machines()[3].id.clone();
    sim_probe.shutdown().await;

    let env = start(3600, 0, std::slice::from_ref(&newcomer)).await;
    let s = first_generation(&env).await;
    assert_eq!(s.machines, env.sim.fleet().machines().len() as u64 - 1);
    env.sim.set_hidden_machines(&[]);
    env.sim.clear_requests();
    let risk = env.endpoint_risk(by_id(&newcomer)).await;
    assert_eq!(risk.machine.map(|m| m.id), Some(newcomer.clone()));
    assert!(!risk.cached);
    assert!(
        common::risk::calls_to(&env.sim, &format!("/api/machines/{newcomer}")) >= 1,
        "read from Defender"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_alert_added_upstream_shows_after_the_incremental_refresh() {
    let env = start(3600, 1, &[]).await;
    first_generation(&env).await;
    // A machine with a risk score (so its alerts count) and no High alert.
    let m = env
        .sim
        .fleet()
        .machines()
        .iter()
        .find(|m| matches!(m.risk_score, Some("Low") | Some("Medium")))
        .expect("a machine below High")
        .id
        .clone();
    let before = env.endpoint_risk(by_id(&m)).await;
    assert_ne!(level(before.alert_risk_level), proto::RiskLevel::High);

    env.sim.add_alert(&m, "High").expect("alert added");
    let until = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = env.endpoint_risk(by_id(&m)).await;
        if level(now.alert_risk_level) == proto::RiskLevel::High {
            assert!(now.risk_level >= proto::RiskLevel::High as i32);
            let at = |r: &proto::EndpointRisk| {
                r.evaluated_at
                    .as_ref()
                    .map(|t| (t.seconds, t.nanos))
                    .expect("evaluated_at")
            };
            assert!(at(&now) > at(&before), "a fresher read");
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the refresh never picked the alert up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = status(&env).await;
    assert_eq!(s.generation, 1, "picked up by the refresh, not a sweep");
    assert!(s.refreshed_machines >= 1 && s.refresh_upstream_calls >= 1);
    env.stop().await;
}

/// A machine whose risk score and exposure change with a new device report, with no alert:
/// the refresh's machine poll (`lastSeen gt …`) sees it and re-assesses it, long before the
/// next sweep.
#[tokio::test]
async fn a_machine_whose_risk_changes_without_an_alert_shows_after_the_incremental_refresh() {
    let env = start(3600, 1, &[]).await;
    first_generation(&env).await;
    let m = env
        .sim
        .fleet()
        .machines()
        .iter()
        .find(|m| matches!(m.risk_score, Some("Low") | Some("Informational")))
        .expect("a machine rated Low")
        .id
        .clone();
    let before = env.endpoint_risk(by_id(&m)).await;
    assert_ne!(level(before.defender_risk_score), proto::RiskLevel::High);

    assert!(env.sim.change_machine(&MachineChange {
        machine_id: m.clone(),
        risk_score: Some("High".into()),
        exposure_level: Some("High".into()),
        ..MachineChange::default()
    }));
    let until = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = env.endpoint_risk(by_id(&m)).await;
        if level(now.defender_risk_score) == proto::RiskLevel::High {
            assert_eq!(level(now.exposure_level), proto::RiskLevel::High);
            assert!(now.risk_level >= proto::RiskLevel::High as i32);
            assert!(now.cached, "served from the table");
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the refresh never picked the change up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = status(&env).await;
    assert_eq!(s.generation, 1, "picked up by the refresh, not a sweep");
    assert!(s.refreshed_machines >= 1);
    env.stop().await;
}

#[tokio::test]
async fn a_failed_sweep_keeps_the_previous_generation() {
    let env = start(1, 0, &[]).await;
    let first = first_generation(&env).await;
    // Every machine list read fails from now on (retries included).
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        count: 1_000_000,
        path_contains: Some("/api/machines".into()),
    });
    let failed = wait_for(&env, "a failed sweep", |s| s.failed_sweeps >= 1).await;
    assert!(failed.last_sweep_failed);
    assert!(!failed.last_sweep_error.is_empty());
    assert_eq!(failed.machines, first.machines);
    env.sim.clear_requests();
    let risk = env.endpoint_risk(by_id(&env.sample_machine_id())).await;
    assert!(risk.cached && !risk.stale);
    assert_eq!(
        api_calls(&env.sim),
        0,
        "still served from the previous generation"
    );
    env.sim.clear_faults();
    let recovered = wait_for(&env, "a good sweep", |s| !s.last_sweep_failed).await;
    assert!(recovered.generation > failed.generation);
    env.stop().await;
}

#[tokio::test]
async fn an_action_invalidates_the_machine_in_the_table() {
    let env = start(3600, 0, &[]).await;
    first_generation(&env).await;
    let id = env.sample_machine_id();
    env.sim.clear_requests();
    env.endpoint_risk(by_id(&id)).await;
    assert_eq!(api_calls(&env.sim), 0);

    env.isolated(isolate(&id, "fleet table test", &rid())).await;
    env.sim.clear_requests();
    let after = env.endpoint_risk(by_id(&id)).await;
    assert!(!after.cached, "read again after the action");
    assert!(common::risk::calls_to(&env.sim, &format!("/api/machines/{id}")) >= 1);
    // The fresh read went back into the table.
    env.sim.clear_requests();
    let again = env.endpoint_risk(by_id(&id)).await;
    assert!(again.cached);
    assert_eq!(
        common::risk::calls_to(&env.sim, &format!("/api/machines/{id}")),
        0
    );
    env.stop().await;
}

#[tokio::test]
async fn a_new_generation_drops_machines_gone_upstream() {
    let env = start(1, 0, &[]).await;
    let first = first_generation(&env).await;
    let gone = env.sim.fleet().machines()[5].id.clone();
    env.sim.clear_requests();
    env.endpoint_risk(by_id(&gone)).await;
    assert_eq!(api_calls(&env.sim), 0);

    env.sim.set_hidden_machines(std::slice::from_ref(&gone));
    // Two generations later, one whole sweep ran after the machine left.
    let later = wait_for(&env, "two more generations", |s| {
        s.generation >= first.generation + 2
    })
    .await;
    assert_eq!(later.machines, first.machines - 1);
    env.sim.clear_requests();
    let err = env
        .risk()
        .get_endpoint_risk(by_id(&gone))
        .await
        .expect_err("gone");
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert_eq!(reason(&err), "NOT_FOUND");
    assert!(api_calls(&env.sim) >= 1, "asked Defender");
    env.stop().await;
}

/// The table keeps each machine's two prepared answers, not its assessment: every way of
/// answering (the encoded fast path of `GetEndpointRisk`, the messages of
/// `BatchGetEndpointRisks`) must give the whole record from them, in both views.
#[tokio::test]
async fn answers_from_the_table_carry_every_field_in_both_views() {
    let env = start(3600, 0, &[]).await;
    first_generation(&env).await;
    env.sim.clear_requests();
    let ids: Vec<String> = env.sim.fleet().machines()[..40]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let in_view = |id: &str, view: proto::RiskView| proto::GetEndpointRiskRequest {
        view: view as i32,
        ..by_id(id)
    };
    for view in [proto::RiskView::Full, proto::RiskView::Basic] {
        let batch = env
            .risk()
            .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
                requests: ids.iter().map(|id| in_view(id, view)).collect(),
                ..Default::default()
            })
            .await
            .expect("batch")
            .into_inner();
        for (id, item) in ids.iter().zip(batch.results) {
            let Some(proto::batch_endpoint_risk_result::Result::Risk(from_batch)) = item.result
            else {
                panic!("no risk for {id}: {item:?}");
            };
            let fast = env.endpoint_risk(in_view(id, view)).await;
            assert_eq!(fast, from_batch, "{view:?} answers of {id} differ");
            let links = fast.links.as_ref().expect("links");
            assert!(!links.overview_url.is_empty() && fast.tenant.len() > 1);
            let machine = fast.machine.as_ref().expect("machine");
            assert_eq!(&machine.id, id);
            assert!(fast.risk_level != proto::RiskLevel::Unspecified as i32);
            if view == proto::RiskView::Full {
                assert!(!machine.os_platform.is_empty(), "{fast:?}");
                assert!(!machine.ip_addresses.is_empty(), "{fast:?}");
                assert!(!fast.reasons.is_empty(), "{fast:?}");
            } else {
                assert!(machine.os_platform.is_empty() && fast.reasons.is_empty());
            }
        }
    }
    assert_eq!(api_calls(&env.sim), 0, "{:?}", env.sim.requests());

    // The full record from the table is the one Defender serves for the machine.
    let m = env
        .sim
        .fleet()
        .machines()
        .iter()
        .find(|m| m.risk_score == Some("High"))
        .expect("a machine rated High (alerts and vulnerabilities read)")
        .clone();
    let from_table = env.endpoint_risk(by_id(&m.id)).await;
    let from_defender = env.endpoint_risk(bypassing_cache(by_id(&m.id))).await;
    let record = |r: &proto::EndpointRisk| {
        let mut machine = r.machine.clone().expect("machine");
        // Times the simulator moves on its own.
        machine.last_seen = None;
        let alert = r.most_severe_alert.as_ref().map(|a| (&a.id, &a.portal_url));
        let vulnerability = r
            .most_severe_vulnerability
            .as_ref()
            .map(|v| (&v.id, &v.portal_url));
        (
            machine,
            r.risk_level,
            r.active_alert_count,
            r.vulnerability_count,
            r.links.clone(),
            r.tenant.clone(),
            alert.map(|(i, u)| (i.clone(), u.clone())),
            vulnerability.map(|(i, u)| (i.clone(), u.clone())),
        )
    };
    assert_eq!(record(&from_table), record(&from_defender));
    env.stop().await;
}
