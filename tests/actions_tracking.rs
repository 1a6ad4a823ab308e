//! Following actions: GetMachineAction, ListMachineActions (filters, paging), WatchMachineAction
//! (every transition, then the end; one upstream poll for many watchers) and
//! CancelMachineAction.

mod common;

use std::time::Duration;

use common::actions::*;
use common::risk::{bad_fields, metadata, reason};
use common::{TestEnv, sim_config};
use defender_bridge::proto::{
    CancelMachineActionRequest, GetMachineActionRequest, ListMachineActionsRequest, MachineAction,
    MachineActionStatus, MachineActionType, RunAntivirusScanRequest, WatchMachineActionRequest,
};
use defender_bridge::sim::{ActionOutcome, ActionPlan};
use tokio_stream::StreamExt;

fn watch(action_id: &str, poll_secs: i64) -> WatchMachineActionRequest {
    WatchMachineActionRequest {
        action_id: action_id.to_string(),
        poll_interval: Some(prost_types::Duration {
            seconds: poll_secs,
            nanos: 0,
        }),
        ..Default::default()
    }
}

/// Every message of a watch, and how it ended.
async fn follow(
    env: &TestEnv,
    request: tonic::Request<WatchMachineActionRequest>,
) -> (Vec<MachineAction>, Option<tonic::Status>) {
    let mut stream = env
        .actions()
        .watch_machine_action(request)
        .await
        .expect("watch starts")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(action) => seen.push(action),
            Err(status) => return (seen, Some(status)),
        }
    }
    (seen, None)
}

/// A watcher on its own task: the statuses it saw, every item a success, until the stream ends.
fn spawn_watcher(
    env: &TestEnv,
    action_id: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<Vec<MachineActionStatus>> {
    let mut client = env.actions();
    let request = with_deadline(watch(action_id, 2), timeout);
    tokio::spawn(async move {
        let mut stream = client
            .watch_machine_action(request)
            .await
            .expect("watch starts")
            .into_inner();
        let mut seen = Vec::new();
        while let Some(item) = stream.next().await {
            seen.push(status_of(&item.expect("no error")));
        }
        seen
    })
}

fn statuses(seen: &[MachineAction]) -> Vec<MachineActionStatus> {
    seen.iter().map(status_of).collect()
}

fn gets_of(env: &TestEnv, action_id: &str) -> usize {
    let path = format!("/api/machineactions/{action_id}");
    env.sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

#[tokio::test]
async fn watch_streams_every_transition_and_ends_at_the_terminal_status() {
    let env = TestEnv::start(with_step(Duration::from_secs(4))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", &rid())).await;
    let (seen, end) = follow(
        &env,
        with_deadline(watch(&action.id, 2), Duration::from_secs(40)),
    )
    .await;
    assert!(end.is_none(), "ended cleanly: {end:?}");
    assert_eq!(
        statuses(&seen),
        [
            MachineActionStatus::Pending,
            MachineActionStatus::InProgress,
            MachineActionStatus::Succeeded
        ]
    );
    assert!(seen.iter().all(|a| a.id == action.id));
    assert_eq!(seen[2].request_id, action.request_id);
    env.stop().await;
}

#[tokio::test]
async fn watch_of_a_failing_action_ends_failed_with_its_hresult() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.sim.plan_action(ActionPlan {
        action_type: Some("RunAntiVirusScan".into()),
        step: Some(Duration::from_millis(500)),
        outcome: ActionOutcome::Failed,
        ..ActionPlan::default()
    });
    let action = env
        .actions()
        .run_antivirus_scan(RunAntivirusScanRequest {
            machine_id: id,
            comment: "scan".into(),
            ..Default::default()
        })
        .await
        .expect("scan started")
        .into_inner();
    let (seen, end) = follow(
        &env,
        with_deadline(watch(&action.id, 2), Duration::from_secs(30)),
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    let last = seen.last().expect("messages");
    assert_eq!(status_of(last), MachineActionStatus::Failed);
    assert_ne!(last.error_h_result, 0);
    assert_eq!(seen.len(), 2, "Pending, then Failed: {:?}", statuses(&seen));
    env.stop().await;
}

#[tokio::test]
async fn concurrent_watchers_of_one_action_share_one_upstream_poll() {
    let env = TestEnv::start(with_step(Duration::from_secs(4))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", "")).await;
    let watchers: Vec<_> = (0..5)
        .map(|_| spawn_watcher(&env, &action.id, Duration::from_secs(40)))
        .collect();
    for watcher in watchers {
        let seen = watcher.await.expect("joined");
        assert_eq!(
            seen.last(),
            Some(&MachineActionStatus::Succeeded),
            "{seen:?}"
        );
    }
    // One poller over ~8 s at 2 s, backing off while unchanged: a handful of GETs. Five
    // independent pollers would make five times as many.
    let gets = gets_of(&env, &action.id);
    assert!((3..=7).contains(&gets), "{gets} GETs for 5 watchers");
    env.stop().await;
}

#[tokio::test]
async fn watch_ends_at_the_callers_deadline() {
    let env = TestEnv::start(with_step(Duration::from_secs(600))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", "")).await;
    let started = std::time::Instant::now();
    let (seen, end) = follow(
        &env,
        with_deadline(watch(&action.id, 2), Duration::from_secs(3)),
    )
    .await;
    assert_eq!(statuses(&seen), [MachineActionStatus::Pending]);
    assert_eq!(
        end.expect("ended by the deadline").code(),
        tonic::Code::DeadlineExceeded
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    env.stop().await;
}

#[tokio::test]
async fn watch_of_an_unknown_action_is_not_found_and_bad_input_is_refused() {
    let env = TestEnv::start(sim_config()).await;
    let (seen, end) = follow(
        &env,
        with_deadline(watch(&rid(), 2), Duration::from_secs(10)),
    )
    .await;
    assert!(seen.is_empty());
    let end = end.expect("error");
    assert_eq!(end.code(), tonic::Code::NotFound);
    assert_eq!(
        metadata(&end, "resource_type").as_deref(),
        Some("machine_action")
    );
    let err = env
        .actions()
        .watch_machine_action(watch(&rid(), -1))
        .await
        .expect_err("negative interval");
    assert_eq!(bad_fields(&err), ["poll_interval"]);
    let err = env
        .actions()
        .watch_machine_action(watch("nope", 2))
        .await
        .expect_err("bad id");
    assert_eq!(bad_fields(&err), ["action_id"]);
    env.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_pending_action_and_a_finished_one_comes_back_unchanged() {
    let env = TestEnv::start(with_step(Duration::from_secs(600))).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", "")).await;
    let watcher = spawn_watcher(&env, &action.id, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancel = |comment: &str| CancelMachineActionRequest {
        action_id: action.id.clone(),
        comment: comment.into(),
        ..Default::default()
    };
    let cancelled = env
        .actions()
        .cancel_machine_action(cancel("false positive"))
        .await
        .expect("cancelled")
        .into_inner();
    assert_eq!(status_of(&cancelled), MachineActionStatus::Cancelled);
    assert!(
        cancelled
            .cancellation_comment
            .starts_with("false positive [defender-bridge ")
    );
    assert!(cancelled.cancellation_date_time_utc.is_some());
    let body = body(&posts(&env.sim, "cancel")[0]);
    assert_eq!(body.keys().collect::<Vec<_>>(), ["Comment"]);
    // The watcher sees the cancellation and ends.
    let seen = watcher.await.expect("joined");
    assert_eq!(
        seen,
        [MachineActionStatus::Pending, MachineActionStatus::Cancelled]
    );
    // Cancelling a finished action returns it as it is.
    let again = env
        .actions()
        .cancel_machine_action(cancel("again"))
        .await
        .expect("unchanged")
        .into_inner();
    assert_eq!(status_of(&again), MachineActionStatus::Cancelled);
    assert!(again.cancellation_comment.starts_with("false positive"));
    // Unknown and malformed ids.
    let err = env
        .actions()
        .cancel_machine_action(CancelMachineActionRequest {
            action_id: rid(),
            ..cancel("x")
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = env
        .actions()
        .cancel_machine_action(cancel(""))
        .await
        .expect_err("no comment");
    assert_eq!(reason(&err), "INVALID_FIELD");
    env.stop().await;
}

#[tokio::test]
async fn get_returns_the_action_and_unknown_ids_are_not_found() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "contain", &rid())).await;
    let got = env
        .actions()
        .get_machine_action(GetMachineActionRequest {
            action_id: action.id.to_uppercase(),
            ..Default::default()
        })
        .await
        .expect("found")
        .into_inner();
    assert_eq!(got.id, action.id);
    assert_eq!(got.request_id, action.request_id);
    assert_eq!(got.requestor_comment, action.requestor_comment);
    let err = env
        .actions()
        .get_machine_action(GetMachineActionRequest {
            action_id: rid(),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(
        metadata(&err, "resource_type").as_deref(),
        Some("machine_action")
    );
    let err = env
        .actions()
        .get_machine_action(GetMachineActionRequest {
            action_id: "../machines".into(),
            ..Default::default()
        })
        .await
        .expect_err("malformed");
    assert_eq!(bad_fields(&err), ["action_id"]);
    env.stop().await;
}

#[tokio::test]
async fn list_filters_by_machine_type_and_status_and_pages_with_verified_tokens() {
    let env = TestEnv::start(with_step(Duration::from_secs(600))).await;
    let machines = windows_machines(&env.sim, 3);
    for m in &machines {
        env.actions()
            .isolate_machine(isolate(m, "contain", ""))
            .await
            .expect("isolated");
        env.actions()
            .run_antivirus_scan(RunAntivirusScanRequest {
                machine_id: m.clone(),
                comment: "scan".into(),
                ..Default::default()
            })
            .await
            .expect("scan");
    }
    let list = |request: ListMachineActionsRequest| {
        let mut client = env.actions();
        async move { client.list_machine_actions(request).await }
    };
    let one_machine = list(ListMachineActionsRequest {
        machine_id: machines[1].clone(),
        ..Default::default()
    })
    .await
    .expect("listed")
    .into_inner();
    assert_eq!(one_machine.machine_actions.len(), 2);
    assert!(
        one_machine
            .machine_actions
            .iter()
            .all(|a| a.machine_id == machines[1])
    );
    let isolations = ListMachineActionsRequest {
        r#type: MachineActionType::Isolate as i32,
        status: MachineActionStatus::Pending as i32,
        page_size: 2,
        ..Default::default()
    };
    let first = list(isolations.clone()).await.expect("listed").into_inner();
    assert_eq!(first.machine_actions.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = list(ListMachineActionsRequest {
        page_token: first.next_page_token.clone(),
        ..isolations.clone()
    })
    .await
    .expect("page two")
    .into_inner();
    assert_eq!(second.machine_actions.len(), 1);
    assert!(second.next_page_token.is_empty());
    let mut all: Vec<_> = first
        .machine_actions
        .iter()
        .chain(&second.machine_actions)
        .map(|a| a.machine_id.clone())
        .collect();
    all.sort();
    let mut expected = machines.clone();
    expected.sort();
    assert_eq!(all, expected);
    // A token only works with the filters it was issued for.
    let err = list(ListMachineActionsRequest {
        page_token: first.next_page_token,
        r#type: MachineActionType::RunAntivirusScan as i32,
        ..isolations
    })
    .await
    .expect_err("token of another listing");
    assert_eq!(bad_fields(&err), ["page_token"]);
    let none = list(ListMachineActionsRequest {
        status: MachineActionStatus::Succeeded as i32,
        ..Default::default()
    })
    .await
    .expect("listed")
    .into_inner();
    assert!(none.machine_actions.is_empty());
    let err = list(ListMachineActionsRequest {
        r#type: MachineActionType::Other as i32,
        ..Default::default()
    })
    .await
    .expect_err("OTHER");
    assert_eq!(bad_fields(&err), ["type"]);
    env.stop().await;
}
