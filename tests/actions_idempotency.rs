//! Never twice: a repeated `request_id` returns the first result without a second POST, when
//! the requests come one after the other, all at once, or after the service restarted; and a
//! `request_id` reused for something else is refused.

mod common;

use std::time::Duration;

use common::actions::*;
use common::risk::{bad_fields, reason};
use common::{TestEnv, sim_config};
use defender_bridge::proto::{CancelMachineActionRequest, IsolationType, RunAntivirusScanRequest};
use defender_bridge::sim::{Fault, FaultKind};

#[tokio::test]
async fn the_same_request_id_twice_in_a_row_makes_one_post() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let request = isolate(&id, "contain", &rid());
    let first = env.isolated(request.clone()).await;
    let upstream_before = env.sim.requests().len();
    let second = env
        .actions()
        .isolate_machine(request)
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(second.id, first.id);
    assert_eq!(second, first, "the first result, as it was");
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    assert_eq!(
        env.sim.requests().len(),
        upstream_before,
        "answered from memory, without asking Defender"
    );
    env.stop().await;
}

#[tokio::test]
async fn the_same_request_id_twenty_times_at_once_makes_one_post() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    // Defender answers slowly, so the requests really overlap.
    env.sim.inject(Fault {
        kind: FaultKind::Latency { millis: 400 },
        count: 1,
        path_contains: Some("/isolate".into()),
    });
    let request = isolate(&id, "contain", &rid());
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let mut client = env.actions();
            let request = request.clone();
            tokio::spawn(async move { client.isolate_machine(request).await })
        })
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        let action = call.await.expect("joined").expect("every call succeeds");
        ids.push(action.into_inner().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the one action: {ids:?}");
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_request_id_reused_with_other_parameters_is_invalid_argument() {
    let env = TestEnv::start(sim_config()).await;
    let machines = windows_machines(&env.sim, 2);
    let request_id = rid();
    env.actions()
        .isolate_machine(isolate(&machines[0], "contain", &request_id))
        .await
        .expect("isolated");
    let mut selective = isolate(&machines[0], "contain", &request_id);
    selective.isolation_type = IsolationType::Selective as i32;
    let others = [
        isolate(&machines[0], "another comment", &request_id),
        isolate(&machines[1], "contain", &request_id),
        selective,
    ];
    for other in others {
        let err = env
            .actions()
            .isolate_machine(other)
            .await
            .expect_err("reused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(reason(&err), "INVALID_FIELD");
        assert_eq!(bad_fields(&err), ["request_id"]);
    }
    let err = env
        .actions()
        .run_antivirus_scan(RunAntivirusScanRequest {
            machine_id: machines[0].clone(),
            comment: "contain".into(),
            request_id: request_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("another RPC");
    assert_eq!(bad_fields(&err), ["request_id"]);
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    assert!(posts(&env.sim, "runAntiVirusScan").is_empty());
    env.stop().await;
}

#[tokio::test]
async fn after_a_restart_the_request_id_is_found_in_defender_and_not_sent_again() {
    let mut env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let request = isolate(&id, "contain", &rid());
    let first = env.isolated(request.clone()).await;
    restart(&mut env, None).await;
    let again = env
        .actions()
        .isolate_machine(request.clone())
        .await
        .expect("found, not sent")
        .into_inner();
    assert_eq!(again.id, first.id);
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    // The comment must match too: a different request under the same id is refused.
    restart(&mut env, None).await;
    let err = env
        .actions()
        .isolate_machine(isolate(&id, "something else", &request.request_id))
        .await
        .expect_err("other parameters");
    assert_eq!(bad_fields(&err), ["request_id"]);
    assert_eq!(posts(&env.sim, "isolate").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn requests_without_request_id_are_not_deduplicated() {
    let env = TestEnv::start(with_step(Duration::from_millis(20))).await;
    let id = env.sample_machine_id();
    for _ in 0..2 {
        env.actions()
            .isolate_machine(isolate(&id, "contain", ""))
            .await
            .expect("isolated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(posts(&env.sim, "isolate").len(), 2);
    env.stop().await;
}

#[tokio::test]
async fn a_repeated_cancel_request_id_cancels_once() {
    let env = TestEnv::start(with_step(Duration::from_secs(60))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", "")).await;
    let cancel = CancelMachineActionRequest {
        action_id: action.id.clone(),
        comment: "false positive".into(),
        request_id: rid(),
        ..Default::default()
    };
    let first = env
        .actions()
        .cancel_machine_action(cancel.clone())
        .await
        .expect("cancelled")
        .into_inner();
    let second = env
        .actions()
        .cancel_machine_action(cancel)
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(posts(&env.sim, "cancel").len(), 1);
    env.stop().await;
}
