//! `BatchGetEndpointRisks` (per-item results, bulk reads) and input validation (bad input makes
//! no upstream call at all).

mod common;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::batch_endpoint_risk_result::Result as Item;
use defender_bridge::proto::{
    self, BatchEndpointRiskResult, BatchGetEndpointRisksRequest, EndpointRisk,
};

fn batch(requests: Vec<proto::GetEndpointRiskRequest>) -> BatchGetEndpointRisksRequest {
    BatchGetEndpointRisksRequest {
        requests,
        ..Default::default()
    }
}

/// `BatchGetEndpointRisks` of `requests`, which must succeed: its per-item results.
async fn batch_results(
    env: &TestEnv,
    requests: Vec<proto::GetEndpointRiskRequest>,
) -> Vec<BatchEndpointRiskResult> {
    env.risk()
        .batch_get_endpoint_risks(batch(requests))
        .await
        .expect("ok")
        .into_inner()
        .results
}

/// Result `i` of a batch (a risk, for machine `id`) and a single, uncached `GetEndpointRisk`
/// of that machine, to compare.
async fn batch_and_single(
    env: &TestEnv,
    results: &[BatchEndpointRiskResult],
    i: usize,
    id: &str,
) -> (EndpointRisk, EndpointRisk) {
    let Some(Item::Risk(from_batch)) = &results[i].result else {
        panic!("item {i}: {:?}", results[i].result);
    };
    let single = bypassing_cache(by_id(id));
    (from_batch.clone(), env.endpoint_risk(single).await)
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(status), "INVALID_FIELD");
    assert_eq!(bad_fields(status), [field], "{status:?}");
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let mut risk = env.risk();
    let long = format!("{}.example", "a".repeat(250));
    let old = time::OffsetDateTime::now_utc() - time::Duration::days(31);
    let cases = [
        (by_id("1234"), "machine_id"),
        (by_id(&"z".repeat(40)), "machine_id"),
        (by_ip("10.0.0.300", None), "ip_address"),
        (by_ip("fe80::1%eth0", None), "ip_address"),
        (by_ip("10.0.0.1", Some(old)), "observed_at"),
        (by_host("bad host"), "hostname"),
        (by_host(&long), "hostname"),
        (proto::GetEndpointRiskRequest::default(), "endpoint"),
    ];
    for (req, field) in cases {
        let err = risk.get_endpoint_risk(req).await.expect_err(field);
        assert_invalid(&err, field);
    }
    let err = risk
        .get_machine(proto::GetMachineRequest {
            machine_id: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad id");
    assert_invalid(&err, "machine_id");
    for size in [-1, 1001] {
        let err = risk
            .list_machines(proto::ListMachinesRequest {
                page_size: size,
                ..Default::default()
            })
            .await
            .expect_err("bad size");
        assert_invalid(&err, "page_size");
    }
    let err = risk
        .list_alerts(proto::ListAlertsRequest {
            machine_id: "nope".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad id");
    assert_invalid(&err, "machine_id");
    let err = risk
        .stream_fleet_risk(proto::StreamFleetRiskRequest {
            risk_score: proto::RiskLevel::Critical as i32,
            ..Default::default()
        })
        .await
        .expect_err("no critical risk score");
    assert_invalid(&err, "risk_score");
    let err = risk
        .get_endpoint_risk(proto::GetEndpointRiskRequest {
            tenant: "other".into(),
            ..by_id(&"a".repeat(40))
        })
        .await
        .expect_err("other tenant");
    assert_invalid(&err, "tenant");
    assert!(
        env.sim.requests().is_empty(),
        "no upstream call, not even a token"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_batch_answers_each_item_and_one_bad_item_never_fails_it() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let id = fleet.sample_machine_id().to_string();
    let host = fleet.machines()[5].computer_dns_name.clone();
    let requests = vec![
        by_id(&id),
        by_id("not-an-id"),
        by_id(&"f".repeat(40)),
        by_host(&host),
        proto::GetEndpointRiskRequest {
            tenant: "other".into(),
            ..by_id(&id)
        },
    ];
    let results = batch_results(&env, requests).await;
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.index as usize, i);
    }
    let risk = |i: usize| match &results[i].result {
        Some(Item::Risk(r)) => r.clone(),
        other => panic!("item {i}: {other:?}"),
    };
    let error = |i: usize| match &results[i].result {
        Some(Item::Error(e)) => e.clone(),
        other => panic!("item {i}: {other:?}"),
    };
    assert_eq!(risk(0).machine.expect("m").id, id);
    assert_eq!(risk(3).machine.expect("m").computer_dns_name, host);
    let bad = error(1);
    assert_eq!(
        (bad.code, bad.reason.as_str()),
        (tonic::Code::InvalidArgument as i32, "INVALID_FIELD")
    );
    assert_eq!(
        bad.metadata.get("field").map(String::as_str),
        Some("requests[1].machine_id")
    );
    assert_eq!(error(2).code, tonic::Code::NotFound as i32);
    assert_eq!(
        error(4).metadata.get("field").map(String::as_str),
        Some("requests[4].tenant")
    );
    env.stop().await;
}

#[tokio::test]
async fn a_batch_over_the_limit_fails_as_a_whole_before_any_call() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let err = env
        .risk()
        .batch_get_endpoint_risks(batch(vec![by_id(&id); 1001]))
        .await
        .expect_err("too many");
    assert_invalid(&err, "requests");
    let empty = env
        .risk()
        .batch_get_endpoint_risks(batch(vec![]))
        .await
        .expect("ok")
        .into_inner();
    assert!(empty.results.is_empty());
    assert!(env.sim.requests().is_empty());
    env.stop().await;
}

/// What must agree between the bulk path and the per-machine path (as text, for a readable
/// assertion message).
fn essentials(r: &EndpointRisk) -> String {
    format!(
        "level {} exposure {} alerts {} vulns {} active {} top vuln {:?} top alert {:?} missing {:?}",
        r.risk_level,
        r.exposure_risk_level,
        r.alert_risk_level,
        r.vulnerability_count,
        r.active_alert_count,
        r.most_severe_vulnerability.as_ref().map(|v| &v.id),
        r.most_severe_alert.as_ref().map(|a| &a.id),
        r.missing_permissions,
    )
}

#[tokio::test]
async fn a_cold_batch_uses_the_bulk_apis_and_agrees_with_single_calls() {
    let env = TestEnv::start(sim_config()).await;
    let ids: Vec<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let mut requests: Vec<_> = ids.iter().map(|id| by_id(id)).collect();
    requests.push(by_id(&ids[0])); // a duplicate is assessed once
    let results = batch_results(&env, requests).await;
    let per_machine = env
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.path.starts_with("/api/machines/")
                && (r.path.ends_with("/vulnerabilities") || r.path.ends_with("/alerts"))
        })
        .count();
    assert_eq!(per_machine, 0, "no per-machine calls for a large batch");
    let bulk_calls = api_calls(&env.sim);
    eprintln!("{} cold machines: {bulk_calls} upstream calls", ids.len());
    assert!(
        bulk_calls <= 20,
        "{} machines took {bulk_calls} calls",
        ids.len()
    );
    assert_eq!(calls(&env.sim, "/api/machines"), ids.len().div_ceil(40));
    // Every 5th machine alone (the local rate budget makes 200 single reads slow).
    for (i, id) in ids.iter().enumerate().step_by(5) {
        let (from_batch, alone) = batch_and_single(&env, &results, i, id).await;
        assert_eq!(essentials(&from_batch), essentials(&alone), "machine {id}");
    }
    // The batch filled the cache.
    let before = api_calls(&env.sim);
    let again = batch_results(&env, ids.iter().map(|id| by_id(id)).collect()).await;
    assert_eq!(api_calls(&env.sim), before);
    assert!(
        again
            .iter()
            .all(|r| matches!(&r.result, Some(Item::Risk(r)) if r.cached))
    );
    env.stop().await;
}

#[tokio::test]
async fn a_small_batch_goes_through_the_single_path() {
    let env = TestEnv::start(sim_config()).await;
    let id = env
        .sim
        .fleet()
        .clean_machine_id()
        .expect("clean")
        .to_string();
    let results = batch_results(&env, vec![by_id(&id), by_id(&id)]).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r.result, Some(Item::Risk(_))))
    );
    assert_eq!(
        api_calls(&env.sim),
        1,
        "one GET for the None/None machine, nothing else"
    );
    env.stop().await;
}

#[tokio::test]
async fn hostnames_in_a_batch_are_looked_up_together_and_match_single_look_ups() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = env.sim.fleet();
    let short = fleet.ambiguous_short_name().expect("ambiguous").to_string();
    let mut names: Vec<String> = fleet
        .machines()
        .iter()
        .take(60)
        .map(|m| m.computer_dns_name.clone())
        .collect();
    names.push(short.clone());
    names.push("no-such-host".into());
    let requests: Vec<_> = names.iter().map(|n| by_host(n)).collect();
    let results = batch_results(&env, requests).await;
    let look_ups = env
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api/machines"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("computerDnsName"))
        })
        .count();
    assert_eq!(look_ups, names.len().div_ceil(25));
    assert_eq!(
        calls(&env.sim, "/api/machines/"),
        0,
        "no per-machine calls: look-ups return the machines"
    );
    // Every 4th name and the two odd ones alone (the local rate budget makes 62 slow).
    let checked = names
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 == 0 || *i >= names.len() - 2);
    for (i, name) in checked {
        // A fresh single look-up, not the batch's cached one.
        let req = bypassing_cache(by_host(name));
        let single = env.risk().get_endpoint_risk(req).await;
        match (&results[i].result, single) {
            (Some(Item::Risk(r)), Ok(alone)) => {
                let alone = alone.into_inner();
                assert_eq!(r.machine, alone.machine, "{name}");
                assert_eq!(r.other_candidates, alone.other_candidates, "{name}");
                assert_eq!(essentials(r), essentials(&alone), "{name}");
            }
            (Some(Item::Error(e)), Err(status)) => {
                assert_eq!(e.code, status.code() as i32, "{name}");
                assert_eq!(e.reason, "NOT_FOUND");
            }
            (batch, single) => panic!("{name}: batch {batch:?} vs single {single:?}"),
        }
    }
    env.stop().await;
}

/// Requests of the tenant-wide alert list and of one machine's alerts.
fn alert_reads(env: &TestEnv) -> (usize, usize) {
    let requests = env.sim.requests();
    let tenant_wide = requests.iter().filter(|r| r.path == "/api/alerts").count();
    let per_machine = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/machines/") && r.path.ends_with("/alerts"))
        .count();
    (tenant_wide, per_machine)
}

/// The reproduction: 5 cold ids read every active alert of the tenant. A batch now
/// reads alerts the cheaper way by upstream calls: per machine for a few machines, the
/// tenant-wide list for many (and, once a tenant-wide read has counted the list, by that
/// count).
#[tokio::test]
async fn a_small_cold_batch_reads_alerts_per_machine_and_a_large_one_tenant_wide() {
    let env = TestEnv::start(sim_config()).await;
    let with_alerts: Vec<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .filter(|m| m.risk_score != Some("None"))
        .map(|m| m.id.clone())
        .collect();
    assert!(with_alerts.len() > 60, "{}", with_alerts.len());

    let small = &with_alerts[..5];
    let results = batch_results(&env, small.iter().map(|id| by_id(id)).collect()).await;
    assert_eq!(alert_reads(&env), (0, 5), "no tenant-wide alert page");
    assert_eq!(calls(&env.sim, "/api/machines?"), 0);
    assert_eq!(
        calls_to(&env.sim, "/api/machines"),
        1,
        "the machines still in one bulk read"
    );
    for (i, id) in small.iter().enumerate() {
        let (from_batch, alone) = batch_and_single(&env, &results, i, id).await;
        assert_eq!(essentials(&from_batch), essentials(&alone), "machine {id}");
        assert_eq!(from_batch.reasons, alone.reasons, "machine {id}");
    }

    // 40 cold machines: more than the tenant-wide pages assumed for an unknown tenant.
    env.sim.clear_requests();
    let large = &with_alerts[5..45];
    batch_results(&env, large.iter().map(|id| by_id(id)).collect()).await;
    assert_eq!(
        alert_reads(&env),
        (1, 0),
        "one tenant-wide page, no per-machine read"
    );

    // That read counted the list (one page): now 5 cold machines read it too (1 call < 5).
    env.sim.clear_requests();
    let next = &with_alerts[45..50];
    batch_results(&env, next.iter().map(|id| by_id(id)).collect()).await;
    assert_eq!(alert_reads(&env), (1, 0));
    env.stop().await;
}
