//! Deadlines on the read path: the service answers before the caller's deadline, with a stale
//! value when it has one and Defender hangs, throttles past the deadline or sends a cut answer;
//! a retry is never scheduled to end after the caller gave up; and a DEADLINE_EXCEEDED it
//! produces carries an ErrorInfo.

mod common;

use std::time::Duration;

use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::EndpointRisk;
use defender_bridge::sim::{Fault, FaultKind};
use tonic::metadata::MetadataValue;
use tonic_types::StatusExt;

fn fault(kind: FaultKind, count: u32, path: &str) -> Fault {
    Fault {
        kind,
        count,
        path_contains: Some(path.to_string()),
    }
}

/// A service whose risk entries expire after 1 s and are served stale for a minute, with one
/// machine's risk cached and then expired.
async fn with_expired_entry() -> (TestEnv, tempfile::TempDir, String) {
    let (env, dir) =
        start_with_cache(sim_config(), "risk_ttl_secs = 1\nstale_max_age_secs = 60").await;
    let id = env.sample_machine_id();
    env.risk().get_endpoint_risk(by_id(&id)).await.expect("ok");
    wait_past(Duration::from_secs(1)).await;
    (env, dir, id)
}

fn with_timeout(
    id: &str,
    timeout: Duration,
) -> tonic::Request<defender_bridge::proto::GetEndpointRiskRequest> {
    let mut request = tonic::Request::new(by_id(id));
    request.set_timeout(timeout);
    request
}

fn assert_stale(risk: &EndpointRisk) {
    assert!(risk.stale && risk.cached, "{risk:?}");
    assert!(risk.reasons[0].starts_with("stale:"), "{:?}", risk.reasons);
}

#[tokio::test]
async fn a_hanging_defender_gives_the_stale_answer_before_the_deadline() {
    let (env, _dir, id) = with_expired_entry().await;
    env.sim
        .inject(fault(FaultKind::Hang, 1, &format!("/api/machines/{id}")));
    let risk = env
        .risk()
        .get_endpoint_risk(with_timeout(&id, Duration::from_secs(5)))
        .await
        .expect("the stale answer, not DEADLINE_EXCEEDED")
        .into_inner();
    assert_stale(&risk);
    env.stop().await;
}

#[tokio::test]
async fn a_deadline_exceeded_carries_error_info() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.sim
        .inject(fault(FaultKind::Hang, 1, &format!("/api/machines/{id}")));
    let err = env
        .risk()
        .get_endpoint_risk(with_timeout(&id, Duration::from_secs(2)))
        .await
        .expect_err("no answer and nothing cached");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    assert_eq!(reason(&err), "DEADLINE_EXCEEDED");
    env.stop().await;
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_gives_stale_or_rate_limited_never_deadline_exceeded() {
    let (env, _dir, id) = with_expired_entry().await;
    let never_read = env.sim.fleet().machines()[10].id.clone();
    env.sim.inject(fault(
        FaultKind::Status {
            status: 429,
            retry_after: Some("5".into()),
        },
        1_000,
        "/api/machines/",
    ));
    // The caller gives up after 10 s; its header says a little more, as a client that rounds
    // the timeout up (or started its clock before sending) does.
    let call = |id: String| {
        let mut client = env.risk();
        tokio::spawn(async move {
            let mut request = tonic::Request::new(by_id(&id));
            request
                .metadata_mut()
                .insert("grpc-timeout", MetadataValue::from_static("10100m"));
            tokio::time::timeout(Duration::from_secs(10), client.get_endpoint_risk(request))
                .await
                .expect("answered before the caller's deadline")
        })
    };
    let (stale, refused) = (call(id), call(never_read));
    let risk = stale.await.expect("join").expect("stale").into_inner();
    assert_stale(&risk);
    let err = refused.await.expect("join").expect_err("nothing cached");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err), "RATE_LIMITED");
    assert!(err.get_error_details().retry_info().is_some());
    env.stop().await;
}

#[tokio::test]
async fn a_cut_answer_is_a_reason_to_serve_stale_not_an_internal_error() {
    let (env, _dir, id) = with_expired_entry().await;
    env.sim
        .inject(fault(FaultKind::CutBody, 1, &format!("/api/machines/{id}")));
    let risk = env
        .risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("stale")
        .into_inner();
    assert_stale(&risk);
    assert!(
        risk.reasons[0].contains("UPSTREAM_UNAVAILABLE"),
        "the reason says why: {:?}",
        risk.reasons
    );
    // Without a cached value the caller is told Defender failed, not that the service did.
    let never_read = env.sim.fleet().machines()[10].id.clone();
    env.sim.inject(fault(
        FaultKind::CutBody,
        1,
        &format!("/api/machines/{never_read}"),
    ));
    let err = env
        .risk()
        .get_endpoint_risk(by_id(&never_read))
        .await
        .expect_err("nothing cached");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err), "UPSTREAM_UNAVAILABLE");
    env.stop().await;
}

#[tokio::test]
async fn a_call_waiting_on_another_callers_load_keeps_its_own_deadline() {
    let (env, _dir, id) = with_expired_entry().await;
    env.sim
        .inject(fault(FaultKind::Hang, 1, &format!("/api/machines/{id}")));
    // A caller without a deadline starts the load (it waits up to the default deadline)...
    let mut patient = env.risk();
    let first = {
        let id = id.clone();
        tokio::spawn(async move { patient.get_endpoint_risk(by_id(&id)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...and a caller with 3 s joins it: it gets the stale answer within its own deadline.
    let risk = env
        .risk()
        .get_endpoint_risk(with_timeout(&id, Duration::from_secs(3)))
        .await
        .expect("stale within its own deadline")
        .into_inner();
    assert_stale(&risk);
    first.abort();
    env.stop().await;
}
