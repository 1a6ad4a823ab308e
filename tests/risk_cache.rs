//! The read side's caches (src/cache.rs) seen from a caller: hits cost no upstream call, concurrent
//! cold calls share one read, `bypass_cache` reads now, stale answers stand in for a failing
//! Defender up to the maximum age, and unknown endpoints are remembered briefly.

mod common;

use std::time::Duration;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::sim::{Fault, FaultKind};

fn failing(status: u16, retry_after: Option<&str>) -> Fault {
    Fault {
        kind: FaultKind::Status {
            status,
            retry_after: retry_after.map(str::to_string),
        },
        count: 1_000,
        path_contains: Some("/api/".into()),
    }
}

#[tokio::test]
async fn a_second_call_within_the_ttl_makes_no_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let first = env.endpoint_risk(by_id(&id)).await;
    assert!(!first.cached);
    let before = api_calls(&env.sim);
    let second = env.endpoint_risk(by_id(&id)).await;
    assert!(second.cached && !second.stale);
    assert_eq!(api_calls(&env.sim), before);
    assert_eq!(second.evaluated_at, first.evaluated_at);
    // A look-up by hostname lands on the same cached risk after one look-up call.
    let name = env
        .sim
        .fleet()
        .find(&id)
        .expect("m")
        .computer_dns_name
        .clone();
    let third = env.endpoint_risk(by_host(&name)).await;
    assert!(third.cached);
    assert_eq!(api_calls(&env.sim), before + 1);
    env.risk()
        .get_endpoint_risk(by_host(&name))
        .await
        .expect("ok");
    assert_eq!(api_calls(&env.sim), before + 1, "the look-up is cached too");
    env.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_calls_for_one_cold_machine_make_exactly_one_machine_get() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    // The simulator answers slowly, so the calls really overlap.
    env.sim.inject(Fault {
        kind: FaultKind::Latency { millis: 300 },
        count: 1,
        path_contains: Some(format!("/api/machines/{id}")),
    });
    let calls_made: Vec<_> = (0..50)
        .map(|_| {
            let mut client = env.risk();
            let req = by_id(&id);
            tokio::spawn(async move { client.get_endpoint_risk(req).await })
        })
        .collect();
    let mut computed = 0;
    for call in calls_made {
        let risk = call.await.expect("join").expect("ok").into_inner();
        computed += usize::from(!risk.cached);
    }
    let gets = calls_to(&env.sim, &format!("/api/machines/{id}"));
    assert_eq!(gets, 1);
    assert_eq!(
        calls(&env.sim, &format!("/api/machines/{id}/vulnerabilities")),
        1
    );
    assert_eq!(computed, 1);
    env.stop().await;
}

#[tokio::test]
async fn bypass_cache_reads_defender_now_and_replaces_the_entry() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let first = env.endpoint_risk(by_id(&id)).await;
    let before = calls(&env.sim, "/api/machines/");
    let req = bypassing_cache(by_id(&id));
    let fresh = env.endpoint_risk(req).await;
    assert!(!fresh.cached);
    assert_eq!(calls(&env.sim, "/api/machines/"), before + 3);
    let after = env.endpoint_risk(by_id(&id)).await;
    assert!(after.cached);
    assert_eq!(after.evaluated_at, fresh.evaluated_at);
    assert_ne!(after.evaluated_at, first.evaluated_at);
    env.stop().await;
}

#[tokio::test]
async fn stale_is_served_while_defender_fails_but_not_past_the_maximum_age() {
    let (env, _dir) =
        start_with_cache(sim_config(), "risk_ttl_secs = 1\nstale_max_age_secs = 3").await;
    let id = env.sample_machine_id();
    let first = env.endpoint_risk(by_id(&id)).await;
    wait_past(Duration::from_secs(1)).await;
    // Throttled with a Retry-After beyond the retry policy: RESOURCE_EXHAUSTED at once.
    env.sim.inject(failing(429, Some("120")));
    let stale = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("stale served")
        .into_inner();
    assert!(stale.stale && stale.cached);
    assert_eq!(stale.evaluated_at, first.evaluated_at);
    assert!(
        stale.reasons[0].starts_with("stale:"),
        "{:?}",
        stale.reasons
    );
    wait_past(Duration::from_secs(2)).await;
    // The 429 also closed the local budget for 120 s; a deadline makes that an immediate
    // RESOURCE_EXHAUSTED instead of a wait.
    let mut req = tonic::Request::new(by_id(&id));
    req.set_timeout(Duration::from_secs(5));
    let err = env
        .risk()
        .get_endpoint_risk(req)
        .await
        .expect_err("too old to serve");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    env.stop().await;
}

#[tokio::test]
async fn stale_is_served_when_defender_is_unavailable() {
    let (env, _dir) =
        start_with_cache(sim_config(), "risk_ttl_secs = 1\nstale_max_age_secs = 60").await;
    let id = env.sample_machine_id();
    env.risk().get_endpoint_risk(by_id(&id)).await.expect("ok");
    wait_past(Duration::from_secs(1)).await;
    env.sim.inject(failing(503, None));
    let stale = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("stale served")
        .into_inner();
    assert!(stale.stale);
    // A machine never read before has nothing to fall back on.
    let other = env.sim.fleet().machines()[10].id.clone();
    let err = env
        .risk()
        .get_endpoint_risk(by_id(&other))
        .await
        .expect_err("no stale entry");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(reason(&err), "UPSTREAM_UNAVAILABLE");
    env.stop().await;
}

#[tokio::test]
async fn not_found_is_remembered_for_the_negative_ttl() {
    let (env, _dir) = start_with_cache(sim_config(), "negative_ttl_secs = 1").await;
    for req in [by_id(&"e".repeat(40)), by_host("ghost")] {
        for _ in 0..3 {
            let err = env
                .risk()
                .get_endpoint_risk(req.clone())
                .await
                .expect_err("unknown");
            assert_eq!(err.code(), tonic::Code::NotFound);
        }
    }
    assert_eq!(api_calls(&env.sim), 2, "one call per unknown endpoint");
    wait_past(Duration::from_secs(1)).await;
    env.risk()
        .get_endpoint_risk(by_host("ghost"))
        .await
        .expect_err("unknown");
    assert_eq!(api_calls(&env.sim), 3, "asked again after the negative TTL");
    env.stop().await;
}
