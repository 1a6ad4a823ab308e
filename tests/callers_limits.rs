//! Per-caller fairness over real gRPC: a caller's own rate, its concurrency (a stream holds its
//! slot until it ends), the tighter default for heavy calls, each refused with
//! RESOURCE_EXHAUSTED / `CALLER_RATE_LIMITED`, RetryInfo and a QuotaFailure naming the caller,
//! without reaching Defender and without touching other callers.

mod common;

use std::time::Duration;

use common::actions::{isolate, windows_machines, with_step};
use common::callers::{bearer, key, reason, start, start_on};
use common::risk::{by_id, metadata};
use defender_bridge::proto;
use tonic::Code;
use tonic_types::StatusExt as _;

fn assert_caller_limited(err: &tonic::Status, caller: &str, limit: &str) {
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(err), "CALLER_RATE_LIMITED");
    assert_eq!(
        metadata(err, "quota").as_deref(),
        Some(format!("caller:{limit}").as_str())
    );
    let details = err.get_error_details();
    assert!(
        details.retry_info().and_then(|r| r.retry_delay).is_some(),
        "RetryInfo"
    );
    let quota = details.quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, format!("caller:{caller}"));
}

#[tokio::test]
async fn a_callers_own_rate_is_enforced_without_touching_other_callers() {
    let (slow, slow_entry) = key("slow", &["reader"]);
    let slow_entry = format!("{slow_entry}rate_per_minute = 3\n");
    let (other, other_entry) = key("other", &["reader"]);
    let auth = start(&format!("{slow_entry}{other_entry}"), |_| {}).await;
    let env = &auth.env;
    let m = windows_machines(&env.sim, 1)[0].clone();
    for _ in 0..3 {
        env.risk()
            .get_endpoint_risk(bearer(by_id(&m), &slow))
            .await
            .expect("within the rate");
    }
    let before = env.sim.requests().len();
    let err = env
        .risk()
        .get_endpoint_risk(bearer(by_id(&m), &slow))
        .await
        .expect_err("over the rate");
    assert_caller_limited(&err, "key:slow", "rate_per_minute");
    assert_ne!(reason(&err), "RATE_LIMITED", "not Defender's reason");
    assert_eq!(
        env.sim.requests().len(),
        before,
        "a limited call reached Defender"
    );
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &other))
        .await
        .expect("another caller is not limited");
    auth.env.stop().await;
}

#[tokio::test]
async fn a_stream_holds_its_concurrency_slot_until_it_ends() {
    let (watcher, w_entry) = key("watcher", &["reader"]);
    let w_entry = format!("{w_entry}max_concurrent = 1\n");
    let (responder, r_entry) = key("responder", &["responder"]);
    // Actions stay Pending for a long time, so the watch stays open.
    let auth = start_on(
        with_step(Duration::from_secs(600)),
        &format!("{w_entry}{r_entry}"),
        |_| {},
    )
    .await;
    let env = &auth.env;
    let m = windows_machines(&env.sim, 1)[0].clone();
    let action = env
        .actions()
        .isolate_machine(bearer(isolate(&m, "hold", "r-hold"), &responder))
        .await
        .expect("isolate")
        .into_inner();
    let mut watch = env
        .actions()
        .watch_machine_action(bearer(
            proto::WatchMachineActionRequest {
                action_id: action.id.clone(),
                ..Default::default()
            },
            &watcher,
        ))
        .await
        .expect("watch")
        .into_inner();
    watch
        .message()
        .await
        .expect("first status")
        .expect("a status");
    let err = env
        .risk()
        .get_endpoint_risk(bearer(by_id(&m), &watcher))
        .await
        .expect_err("the open stream holds the only slot");
    assert_caller_limited(&err, "key:watcher", "max_concurrent");
    // Another caller is not held back by it.
    let second = windows_machines(&env.sim, 2)[1].clone();
    env.actions()
        .isolate_machine(bearer(isolate(&second, "other", "r-other"), &responder))
        .await
        .expect("another caller has its own slots");
    drop(watch);
    // The slot comes back once the server has seen the stream end (bounded wait).
    let mut freed = false;
    for _ in 0..100 {
        match env
            .risk()
            .get_endpoint_risk(bearer(by_id(&m), &watcher))
            .await
        {
            Ok(_) => {
                freed = true;
                break;
            }
            Err(err) => {
                assert_eq!(reason(&err), "CALLER_RATE_LIMITED");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(freed, "the slot was not released when the stream ended");
    auth.env.stop().await;
}

#[tokio::test]
async fn heavy_calls_have_a_tighter_default_rate() {
    let (k, entry) = key("batcher", &["reader"]);
    let auth = start(&entry, |a| a.caller_heavy_rate_per_minute = Some(2)).await;
    let env = &auth.env;
    let m = windows_machines(&env.sim, 1)[0].clone();
    let batch = || proto::BatchGetEndpointRisksRequest {
        requests: vec![by_id(&m)],
        ..Default::default()
    };
    for _ in 0..2 {
        env.risk()
            .batch_get_endpoint_risks(bearer(batch(), &k))
            .await
            .expect("within the heavy rate");
    }
    let err = env
        .risk()
        .batch_get_endpoint_risks(bearer(batch(), &k))
        .await
        .expect_err("over the heavy rate");
    assert_caller_limited(&err, "key:batcher", "heavy_rate_per_minute");
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &k))
        .await
        .expect("ordinary calls still pass");
    auth.env.stop().await;
}
