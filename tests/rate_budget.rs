//! The local rate budget seen from outside: no 429 caused by the service itself across window
//! boundaries (the simulator enforces Defender's limits, counted on arrival), and a call whose
//! budget wait would pass its deadline refused at once with RATE_LIMITED and a RetryInfo.

mod common;

use std::time::Duration;

use common::risk::*;
use common::{TestEnv, defender_settings, sim_config, start_sim};
use defender_bridge::defender::{CallOptions, DefenderClient, RateBudget};
use defender_bridge::sim::{Fault, FaultKind, SimConfig};
use tonic_types::StatusExt;

/// The length of the "minute" on both sides: the simulator and the budget share it, so the
/// test crosses window boundaries in seconds with the production counting rules.
const WINDOW: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_burst_then_a_steady_trickle_causes_no_upstream_429() {
    let sim_config = SimConfig {
        machines: 200,
        rate_limits: true,
        rate_window: WINDOW,
        ..SimConfig::default()
    };
    let sim = start_sim(sim_config.clone()).await;
    let client = DefenderClient::with_rate_budget(
        defender_settings(&sim, &sim_config),
        RateBudget::with_window(true, 1.0, WINDOW),
    )
    .expect("client");
    // The burst reaches Defender a little after it is sent (as through any network): Defender
    // counts it later than the budget saw it go.
    sim.inject(Fault {
        kind: FaultKind::Latency { millis: 300 },
        count: 100,
        path_contains: Some("/api/machines/".into()),
    });
    let ids: Vec<String> = sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let get = |i: usize| {
        let client = client.clone();
        let id = ids[i % ids.len()].clone();
        tokio::spawn(async move {
            client
                .get_machine(&id, &CallOptions::with_timeout(Duration::from_secs(30)))
                .await
        })
    };
    // 100 GetMachine calls at once, then one every 50 ms across two window boundaries.
    let mut calls: Vec<_> = (0..100).map(get).collect();
    for i in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls.push(get(100 + i));
    }
    for call in calls {
        call.await.expect("join").expect("every call succeeds");
    }
    let throttled: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.status == 429)
        .map(|r| r.at)
        .collect();
    assert!(throttled.is_empty(), "upstream 429s at {throttled:?}");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/machines/"))
            .count(),
        200
    );
    sim.shutdown().await;
}

/// A service admitting one call per minute and family (share 1.1% of 100, less the margin).
async fn starved() -> TestEnv {
    TestEnv::start_with(sim_config(), |args| args.rate_share = Some(0.011)).await
}

#[tokio::test]
async fn a_call_that_cannot_get_budget_before_its_deadline_is_refused_at_once() {
    let env = starved().await;
    let ids: Vec<String> = env.sim.fleet().machines()[..3]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    env.risk()
        .get_endpoint_risk(by_id(&ids[0]))
        .await
        .expect("the first call fits");
    let before = api_calls(&env.sim);
    // With a caller deadline, and without one (the service's default deadline applies: the
    // budget frees a slot only in about a minute, so the call is refused instead of queued).
    let mut with_deadline = tonic::Request::new(by_id(&ids[1]));
    with_deadline.set_timeout(Duration::from_secs(5));
    for request in [with_deadline, tonic::Request::new(by_id(&ids[2]))] {
        let err = env
            .risk()
            .get_endpoint_risk(request)
            .await
            .expect_err("budget spent");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        assert_eq!(reason(&err), "RATE_LIMITED");
        assert_eq!(metadata(&err, "quota").as_deref(), Some("machines"));
        let delay = err
            .get_error_details()
            .retry_info()
            .and_then(|r| r.retry_delay)
            .expect("RetryInfo");
        assert!(delay > Duration::from_secs(30), "{delay:?}");
    }
    assert_eq!(api_calls(&env.sim), before, "no request was sent");
    env.stop().await;
}
