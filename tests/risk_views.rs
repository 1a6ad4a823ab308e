//! `RiskView` (partial responses, as in Google's AIP-157). A RISK_VIEW_BASIC answer carries
//! exactly the fields that view lists, on every path an answer takes: a cold call and a cache
//! hit on the encoded fast path, a gzip-compressed request on the generated path, per-request
//! fields appended to kept bytes (other candidates), a stale answer, batches and the fleet
//! stream. RISK_VIEW_FULL and UNSPECIFIED are the answer callers had before views existed. An
//! unknown view is INVALID_FIELD and costs no upstream call. A basic answer is as small as the
//! proto comment says.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::batch_endpoint_risk_result::Result as Item;
use defender_bridge::proto::{
    self, BatchGetEndpointRisksRequest, EndpointRisk, RiskView, StreamFleetRiskRequest,
};
use defender_bridge::sim::{Fault, FaultKind};
use prost::Message;
use tonic::Code;
use tonic::codec::CompressionEncoding::Gzip;

const BASIC: RiskView = RiskView::Basic;
const FULL: RiskView = RiskView::Full;

/// The largest encoded basic answer of the simulator's machines (measured 2026-12-02: 674
/// bytes for the sample machine, at most 704 in the test fleet; the proto comment and
/// docs/benchmarks.md give these sizes). The three portal links are about 410 of them.
const BASIC_MAX_BYTES: usize = 720;

/// A full answer has what the basic view leaves out; otherwise comparing the two proves
/// nothing.
fn assert_is_a_full_record(full: &EndpointRisk) {
    let m = full.machine.as_ref().expect("machine");
    assert!(
        !m.os_platform.is_empty() && m.last_seen.is_some() && !m.health_status.is_empty(),
        "{m:?}"
    );
    assert!(!full.reasons.is_empty());
    let v = full
        .most_severe_vulnerability
        .as_ref()
        .expect("a vulnerability");
    assert!(
        !v.description.is_empty() && !v.portal_url.is_empty(),
        "{v:?}"
    );
    let a = full.most_severe_alert.as_ref().expect("an alert");
    assert!(
        !a.description.is_empty() && a.alert_creation_time.is_some(),
        "{a:?}"
    );
}

/// The fields of the basic view that the sample machine has are all set.
fn assert_basic_fields_are_set(basic: &EndpointRisk) {
    let m = basic.machine.as_ref().expect("machine");
    assert!(
        m.id.len() == 40 && !m.computer_dns_name.is_empty() && !m.last_ip_address.is_empty(),
        "{m:?}"
    );
    let v = basic
        .most_severe_vulnerability
        .as_ref()
        .expect("vulnerability");
    assert!(
        !v.id.is_empty() && !v.name.is_empty() && v.severity != 0,
        "{v:?}"
    );
    let a = basic.most_severe_alert.as_ref().expect("alert");
    assert!(
        !a.id.is_empty() && !a.title.is_empty() && a.severity != 0,
        "{a:?}"
    );
    assert!(basic.risk_level != 0 && basic.vulnerability_count > 0 && basic.active_alert_count > 0);
    assert!(basic.links.is_some() && !basic.tenant.is_empty() && basic.evaluated_at.is_some());
    assert!(basic.reasons.is_empty(), "{:?}", basic.reasons);
}

/// `risk` without what differs between two computations of the same data.
fn same_data(risk: &EndpointRisk) -> EndpointRisk {
    EndpointRisk {
        evaluated_at: None,
        cached: false,
        ..risk.clone()
    }
}

fn assert_invalid_view(status: &tonic::Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(status), "INVALID_FIELD");
    assert_eq!(bad_fields(status), ["view"], "{status:?}");
}

#[tokio::test]
async fn a_basic_answer_carries_only_its_fields_cold_cached_and_gzip_compressed() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    // Cold, on the encoded fast path (an uncompressed request): the basic frame is rendered.
    let cold = env.endpoint_risk(in_view(by_id(&id), BASIC)).await;
    assert!(!cold.cached);
    let before = api_calls(&env.sim);
    // A hit: the kept frame, as is.
    let hit = env.endpoint_risk(in_view(by_id(&id), BASIC)).await;
    // gzip-compressed: the generated path, which converts the message.
    let gzip = env
        .risk()
        .send_compressed(Gzip)
        .accept_compressed(Gzip)
        .get_endpoint_risk(in_view(by_id(&id), BASIC))
        .await
        .expect("a gzip-compressed basic call")
        .into_inner();
    // The same cached assessment, in full.
    let full = env.endpoint_risk(in_view(by_id(&id), FULL)).await;
    assert_eq!(api_calls(&env.sim), before, "cache hits, whatever the view");
    assert_is_a_full_record(&full);
    assert!(hit.cached && gzip.cached && full.cached);
    assert_basic_fields_are_set(&hit);
    assert_eq!(hit, basic_of(&full));
    assert_eq!(gzip, basic_of(&full));
    assert_eq!(cold, basic_of(&with_cached(&full, false)));
    env.stop().await;
}

#[tokio::test]
async fn basic_answers_of_look_ups_keep_their_other_candidates() {
    let env = TestEnv::start(sim_config()).await;
    let short = env
        .sim
        .fleet()
        .ambiguous_short_name()
        .expect("ambiguous name")
        .to_string();
    // Cold and then cached: the per-request fields are appended to the kept basic fields.
    let cold = env.endpoint_risk(in_view(by_host(&short), BASIC)).await;
    let hit = env.endpoint_risk(in_view(by_host(&short), BASIC)).await;
    let full = env.endpoint_risk(by_host(&short)).await;
    assert!(!full.other_candidates.is_empty());
    assert!(!cold.cached && hit.cached && full.cached);
    assert_eq!(cold, basic_of(&with_cached(&full, false)));
    assert_eq!(hit, basic_of(&full));
    env.stop().await;
}

#[tokio::test]
async fn full_and_unspecified_views_are_the_answer_without_a_view() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let unspecified_cold = env.endpoint_risk(by_id(&id)).await;
    assert_is_a_full_record(&unspecified_cold);
    // A basic call in between renders the other view; the full answer must not change.
    env.endpoint_risk(in_view(by_id(&id), BASIC)).await;
    let full_hit = env.endpoint_risk(in_view(by_id(&id), FULL)).await;
    let unspecified_hit = env.endpoint_risk(by_id(&id)).await;
    let full_gzip = env
        .risk()
        .send_compressed(Gzip)
        .get_endpoint_risk(in_view(by_id(&id), FULL))
        .await
        .expect("gzip")
        .into_inner();
    let expected = with_cached(&unspecified_cold, true);
    assert_eq!(full_hit, expected);
    assert_eq!(unspecified_hit, expected);
    assert_eq!(full_gzip, expected);
    // A cold call asking for FULL (another machine), against the same call without a view.
    let other = env.sim.fleet().machines()[3].id.clone();
    let full_cold = env.endpoint_risk(in_view(by_id(&other), FULL)).await;
    let unspecified = env.endpoint_risk(bypassing_cache(by_id(&other))).await;
    assert!(!full_cold.cached);
    assert_eq!(same_data(&full_cold), same_data(&unspecified));
    env.stop().await;
}

#[tokio::test]
async fn a_stale_basic_answer_says_so_without_reasons() {
    let (env, _dir) =
        start_with_cache(sim_config(), "risk_ttl_secs = 1\nstale_max_age_secs = 60").await;
    let id = env.sample_machine_id();
    env.endpoint_risk(in_view(by_id(&id), BASIC)).await;
    wait_past(Duration::from_secs(1)).await;
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        count: 1_000,
        path_contains: Some("/api/".into()),
    });
    let basic = env.endpoint_risk(in_view(by_id(&id), BASIC)).await;
    let full = env.endpoint_risk(by_id(&id)).await;
    assert!(basic.stale && full.stale);
    assert!(full.reasons[0].starts_with("stale:"), "{:?}", full.reasons);
    assert_eq!(basic, basic_of(&full));
    env.stop().await;
}

#[tokio::test]
async fn batches_answer_in_the_batch_view_unless_an_item_asks_for_its_own() {
    let env = TestEnv::start(sim_config()).await;
    let sample = env.sample_machine_id();
    let machines = env.sim.fleet().machines();
    let (m1, m2) = (machines[1].id.clone(), machines[2].id.clone());
    let request = BatchGetEndpointRisksRequest {
        requests: vec![
            by_id(&sample),
            by_id(&m1),
            in_view(by_id(&m2), FULL),
            in_view(by_id(&m1), RiskView::Unspecified),
        ],
        view: BASIC as i32,
        ..Default::default()
    };
    let plain = env
        .risk()
        .batch_get_endpoint_risks(request.clone())
        .await
        .expect("batch")
        .into_inner()
        .results;
    // The same batch, gzip-compressed (cache hits now).
    let gzip = env
        .risk()
        .send_compressed(Gzip)
        .accept_compressed(Gzip)
        .batch_get_endpoint_risks(request)
        .await
        .expect("gzip batch")
        .into_inner()
        .results;
    for results in [plain, gzip] {
        let risks: Vec<EndpointRisk> = results
            .into_iter()
            .map(|r| match r.result {
                Some(Item::Risk(risk)) => risk,
                other => panic!("{other:?}"),
            })
            .collect();
        let sample_full = env.endpoint_risk(by_id(&sample)).await;
        let m1_full = env.endpoint_risk(by_id(&m1)).await;
        let m2_full = env.endpoint_risk(by_id(&m2)).await;
        assert_is_a_full_record(&sample_full);
        assert_basic_fields_are_set(&risks[0]);
        assert_eq!(same_data(&risks[0]), same_data(&basic_of(&sample_full)));
        assert_eq!(same_data(&risks[1]), same_data(&basic_of(&m1_full)));
        assert_eq!(same_data(&risks[2]), same_data(&m2_full), "its own view");
        assert_eq!(same_data(&risks[3]), same_data(&basic_of(&m1_full)));
    }
    env.stop().await;
}

#[tokio::test]
async fn the_fleet_streams_in_the_view_asked_for() {
    let env = TestEnv::start(sim_config()).await;
    let fleet = |view: RiskView| StreamFleetRiskRequest {
        view: view as i32,
        ..Default::default()
    };
    let (basic, basic_summary) = fleet_stream(&env, fleet(BASIC)).await;
    let (full, full_summary) = fleet_stream(&env, fleet(RiskView::Unspecified)).await;
    let (explicit_full, _) = fleet_stream(&env, fleet(FULL)).await;
    assert!(basic_summary.complete && full_summary.complete);
    assert_eq!(basic.len(), env.sim.fleet().machines().len());
    let by_machine = |risks: Vec<EndpointRisk>| -> HashMap<String, EndpointRisk> {
        risks
            .into_iter()
            .map(|r| (r.machine.as_ref().expect("machine").id.clone(), r))
            .collect()
    };
    let (basic, full, explicit_full) = (
        by_machine(basic),
        by_machine(full),
        by_machine(explicit_full),
    );
    assert_eq!(basic.len(), full.len());
    let sample = env.sample_machine_id();
    assert_is_a_full_record(&full[&sample]);
    assert_basic_fields_are_set(&basic[&sample]);
    for (id, b) in &basic {
        assert_eq!(same_data(b), same_data(&basic_of(&full[id])), "{id}");
        assert_eq!(same_data(&explicit_full[id]), same_data(&full[id]), "{id}");
    }
    env.stop().await;
}

#[tokio::test]
async fn an_unknown_view_is_invalid_field_and_costs_no_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let before = api_calls(&env.sim);
    let mut request = by_id(&id);
    request.view = 9;
    // The fast path (uncompressed) and the generated path (gzip).
    let fast = env
        .risk()
        .get_endpoint_risk(request.clone())
        .await
        .expect_err("unknown view");
    assert_invalid_view(&fast);
    let generated = env
        .risk()
        .send_compressed(Gzip)
        .get_endpoint_risk(request.clone())
        .await
        .expect_err("unknown view");
    assert_invalid_view(&generated);
    let batch = env
        .risk()
        .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
            requests: vec![by_id(&id)],
            view: 9,
            ..Default::default()
        })
        .await
        .expect_err("unknown batch view");
    assert_invalid_view(&batch);
    let fleet = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest {
            view: -1,
            ..Default::default()
        })
        .await
        .expect_err("unknown fleet view");
    assert_invalid_view(&fleet);
    assert_eq!(
        api_calls(&env.sim),
        before,
        "no Defender call for bad input"
    );
    // In a batch, an item's unknown view is that item's error.
    let results = env
        .risk()
        .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
            requests: vec![request, by_id(&id)],
            ..Default::default()
        })
        .await
        .expect("batch")
        .into_inner()
        .results;
    let Some(Item::Error(err)) = &results[0].result else {
        panic!("{:?}", results[0]);
    };
    assert_eq!(err.code, Code::InvalidArgument as i32);
    assert_eq!(
        err.metadata.get("field").map(String::as_str),
        Some("requests[0].view")
    );
    assert!(matches!(results[1].result, Some(Item::Risk(_))));
    env.stop().await;
}

#[tokio::test]
async fn a_basic_answer_is_a_few_hundred_bytes() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.endpoint_risk(by_id(&id)).await;
    let basic = env
        .endpoint_risk(in_view(by_id(&id), BASIC))
        .await
        .encoded_len();
    let full = env.endpoint_risk(by_id(&id)).await.encoded_len();
    println!("sample machine, cache hit: basic {basic} bytes, full {full} bytes");
    assert!(basic <= BASIC_MAX_BYTES, "{basic} bytes");
    assert!(basic * 3 < full, "basic {basic} bytes, full {full} bytes");
    // Every machine of the simulated fleet.
    let ids: Vec<String> = env
        .sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let sizes = |view: RiskView| {
        let mut risk = env.risk();
        let requests = ids.iter().map(|id| by_id(id)).collect();
        async move {
            risk.batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
                requests,
                view: view as i32,
                ..Default::default()
            })
            .await
            .expect("batch")
            .into_inner()
            .results
            .iter()
            .map(|r| match &r.result {
                Some(Item::Risk(risk)) => proto::EndpointRisk {
                    cached: true,
                    ..risk.clone()
                }
                .encoded_len(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<usize>>()
        }
    };
    let (mut basic, mut full) = (sizes(BASIC).await, sizes(FULL).await);
    basic.sort_unstable();
    full.sort_unstable();
    let median = |v: &[usize]| v[v.len() / 2];
    println!(
        "{} machines, cache hit: basic median {} max {} bytes; full median {} max {} bytes",
        ids.len(),
        median(&basic),
        basic[basic.len() - 1],
        median(&full),
        full[full.len() - 1]
    );
    assert!(basic[basic.len() - 1] <= BASIC_MAX_BYTES, "{basic:?}");
    env.stop().await;
}
