//! Ambiguous failures: the POST may have reached Defender but no answer came back. The service
//! never sends it again; it lists the machine's actions and reports what Defender did (the
//! settle window that follows is tested in `actions_settle.rs`).

mod common;

use std::time::Duration;

use common::actions::*;
use common::risk::metadata;
use common::{TestEnv, sim_config};
use defender_bridge::proto::{CancelMachineActionRequest, MachineActionStatus};
use defender_bridge::sim::{Fault, FaultKind};

fn on_isolate(kind: FaultKind) -> Fault {
    Fault {
        kind,
        count: 1,
        path_contains: Some("/isolate".into()),
    }
}

/// Action-list reads made after the POST (the reconciliation).
fn lists_after_post(env: &TestEnv) -> usize {
    let log = env.sim.requests();
    let post = log
        .iter()
        .position(|r| r.method == "POST")
        .expect("a POST was made");
    log[post..]
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/machineactions")
        .count()
}

#[tokio::test]
async fn an_answer_lost_after_defender_acted_is_reconciled_to_success_without_a_second_post() {
    let env = TestEnv::start(with_step(Duration::from_secs(60))).await;
    let id = env.sample_machine_id();
    // Defender creates the action, but its answer comes after the service gave up waiting.
    env.sim
        .inject(on_isolate(FaultKind::SlowResponse { millis: 8_000 }));
    let request = isolate(&id, "contain", &rid());
    let action = env
        .actions()
        .isolate_machine(with_deadline(request.clone(), Duration::from_secs(6)))
        .await
        .expect("reconciled to the action Defender created")
        .into_inner();
    assert_eq!(action.machine_id, id);
    assert_eq!(action.request_id, request.request_id);
    assert_eq!(status_of(&action), MachineActionStatus::Pending);
    assert_eq!(posts(&env.sim, "isolate").len(), 1, "never sent twice");
    assert!(
        lists_after_post(&env) >= 1,
        "the machine's actions were listed"
    );
    // A retry with the same request id is answered from memory.
    let again = env
        .actions()
        .isolate_machine(request)
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(again.id, action.id);
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_5xx_on_the_post_is_not_retried_and_stays_unknown_until_settled() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        count: 5,
        path_contains: Some("/isolate".into()),
    });
    let err = env
        .actions()
        .isolate_machine(isolate(&id, "contain", &rid()))
        .await
        .expect_err("failed");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    // A gateway may fail after Defender took the request: not "not taken" until settled
    // (tests/actions_settle.rs follows a request to its settled outcome).
    assert_eq!(metadata(&err, "action_taken").as_deref(), Some("unknown"));
    assert!(
        lists_after_post(&env) >= 1,
        "the machine's actions were listed"
    );
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn when_the_list_cannot_be_read_either_the_outcome_is_unknown() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.sim.inject(on_isolate(FaultKind::Hang));
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        count: 100,
        path_contains: Some("/api/machineactions".into()),
    });
    let err = env
        .actions()
        .isolate_machine(with_deadline(
            isolate(&id, "contain", ""),
            Duration::from_secs(8),
        ))
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(metadata(&err, "action_taken").as_deref(), Some("unknown"));
    assert!(
        err.message().contains("may have acted"),
        "{}",
        err.message()
    );
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_cancel_whose_answer_was_lost_is_reconciled_by_reading_the_action() {
    let env = TestEnv::start(with_step(Duration::from_secs(60))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", "")).await;
    env.sim.inject(Fault {
        kind: FaultKind::SlowResponse { millis: 8_000 },
        count: 1,
        path_contains: Some("/cancel".into()),
    });
    let cancelled = env
        .actions()
        .cancel_machine_action(with_deadline(
            CancelMachineActionRequest {
                action_id: action.id.clone(),
                comment: "false positive".into(),
                ..Default::default()
            },
            Duration::from_secs(6),
        ))
        .await
        .expect("reconciled")
        .into_inner();
    assert_eq!(status_of(&cancelled), MachineActionStatus::Cancelled);
    assert_eq!(posts(&env.sim, "cancel").len(), 1);
    env.stop().await;
}
