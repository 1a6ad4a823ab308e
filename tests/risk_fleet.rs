//! `StreamFleetRisk`: the fleet from the bulk list APIs, never one call per machine, ending
//! with a summary that says whether the stream is the whole fleet.

mod common;

use std::time::Duration;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::{self, EndpointRisk, StreamFleetRiskRequest};
use defender_bridge::sim::SimConfig;

fn per_machine_calls(env: &TestEnv) -> usize {
    env.sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/machines/"))
        .count()
}

#[tokio::test]
async fn the_whole_fleet_streams_from_bulk_reads_and_agrees_with_single_calls() {
    let env = TestEnv::start(sim_config()).await;
    let (risks, summary) = fleet_stream(&env, StreamFleetRiskRequest::default()).await;
    let fleet_size = env.sim.fleet().machines().len();
    assert_eq!(risks.len(), fleet_size);
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.machine_count as usize, fleet_size);
    assert_eq!(per_machine_calls(&env), 0, "no per-machine calls");
    let upstream = api_calls(&env.sim);
    assert_eq!(summary.upstream_call_count as usize, upstream);
    assert!(upstream <= 6, "{upstream} calls for {fleet_size} machines");
    for r in risks.iter().step_by(10) {
        let id = r.machine.as_ref().expect("machine").id.clone();
        let alone = env.endpoint_risk(by_id(&id)).await;
        assert_eq!(r.risk_level, alone.risk_level, "{id}");
        assert_eq!(r.vulnerability_count, alone.vulnerability_count, "{id}");
        assert_eq!(r.active_alert_count, alone.active_alert_count, "{id}");
        assert_eq!(
            r.most_severe_vulnerability.as_ref().map(|v| &v.id),
            alone.most_severe_vulnerability.as_ref().map(|v| &v.id),
            "{id}"
        );
        assert_eq!(r.links, alone.links);
    }
    env.stop().await;
}

#[tokio::test]
async fn max_machines_ends_the_stream_incomplete() {
    let env = TestEnv::start(sim_config()).await;
    let (risks, summary) = fleet_stream(
        &env,
        StreamFleetRiskRequest {
            max_machines: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(risks.len(), 10);
    assert!(!summary.complete);
    assert!(
        summary.reason_incomplete.contains("max_machines"),
        "{summary:?}"
    );
    let all = env.sim.fleet().machines().len() as i32;
    let (_, exact) = fleet_stream(
        &env,
        StreamFleetRiskRequest {
            max_machines: all,
            ..Default::default()
        },
    )
    .await;
    assert!(exact.complete, "exactly the fleet is complete: {exact:?}");
    env.stop().await;
}

#[tokio::test]
async fn filters_apply_and_skip_bulk_reads_they_make_useless() {
    let env = TestEnv::start(sim_config()).await;
    let want = env
        .sim
        .fleet()
        .machines()
        .iter()
        .filter(|m| m.risk_score == Some("None") && m.exposure_level == Some("None"))
        .count();
    let (risks, summary) = fleet_stream(
        &env,
        StreamFleetRiskRequest {
            risk_score: proto::RiskLevel::None as i32,
            exposure_level: proto::RiskLevel::None as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(risks.len(), want);
    assert!(summary.complete);
    assert_eq!(vulnerability_calls(&env.sim), 0);
    assert_eq!(calls(&env.sim, "/alerts"), 0);
    assert!(
        risks
            .iter()
            .all(|r| r.risk_level == proto::RiskLevel::None as i32)
    );
    env.stop().await;
}

#[tokio::test]
async fn a_missing_optional_permission_is_named_in_the_summary() {
    let env = TestEnv::start(with_roles(&all_roles_but("Vulnerability.Read"))).await;
    let (risks, summary) = fleet_stream(&env, StreamFleetRiskRequest::default()).await;
    assert!(summary.complete);
    assert_eq!(summary.missing_permissions, ["Vulnerability.Read.All"]);
    assert!(risks.iter().all(|r| r.most_severe_vulnerability.is_none()));
    env.stop().await;
}

#[tokio::test]
async fn without_machine_permission_the_stream_fails() {
    let env = TestEnv::start(with_roles(&all_roles_but("Machine.Read"))).await;
    let mut s = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect("stream")
        .into_inner();
    let err = s.message().await.expect_err("no machine permission");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    env.stop().await;
}

/// Requests of the tenant-wide alert and vulnerability reads (the fleet sweep).
fn sweep_reads(env: &TestEnv) -> (usize, usize) {
    let requests = env.sim.requests();
    let alerts = requests.iter().filter(|r| r.path == "/api/alerts").count();
    let vulnerabilities = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/vulnerabilities"))
        .count();
    (alerts, vulnerabilities)
}

#[tokio::test]
async fn concurrent_streams_share_one_bulk_read() {
    // Upstream latency makes the three streams overlap for certain.
    let config = SimConfig {
        latency: Duration::from_millis(150),
        ..sim_config()
    };
    let alone = TestEnv::start(config.clone()).await;
    let (solo, solo_summary) = fleet_stream(&alone, StreamFleetRiskRequest::default()).await;
    let one_sweep = sweep_reads(&alone);
    alone.stop().await;
    assert!(one_sweep.0 >= 1 && one_sweep.1 >= 2, "{one_sweep:?}");

    let env = TestEnv::start(config).await;
    let (a, b, c) = tokio::join!(
        fleet_stream(&env, StreamFleetRiskRequest::default()),
        fleet_stream(&env, StreamFleetRiskRequest::default()),
        fleet_stream(&env, StreamFleetRiskRequest::default()),
    );
    assert_eq!(sweep_reads(&env), one_sweep, "three streams, one sweep");
    let machine_pages = calls_to(&env.sim, "/api/machines");
    assert_eq!(machine_pages, 3, "each stream reads the machine list");
    let timeless = |r: &[EndpointRisk]| -> Vec<EndpointRisk> {
        r.iter()
            .map(|r| EndpointRisk {
                evaluated_at: None,
                ..r.clone()
            })
            .collect()
    };
    let first = timeless(&a.0);
    assert_eq!(first.len(), solo.len());
    for (risks, summary) in [a, b, c] {
        assert!(summary.complete, "{summary:?}");
        assert_eq!(
            summary.upstream_call_count,
            solo_summary.upstream_call_count
        );
        assert_eq!(timeless(&risks), first, "the three streams agree");
    }
    env.stop().await;
}
