//! Smaller reliability rules: concurrent `bypass_cache` calls share one fresh read, a throttled
//! token request is RATE_LIMITED, and server streams cut by shutdown end with a status.

mod common;

use std::time::Duration;

use common::actions::*;
use common::risk::*;
use common::{TestEnv, sim_config};
use defender_bridge::proto::WatchMachineActionRequest;
use defender_bridge::sim::{Fault, FaultKind};
use tokio_stream::StreamExt;
use tonic_types::StatusExt;

#[tokio::test]
async fn concurrent_bypass_calls_for_one_machine_share_one_fresh_read() {
    let env = TestEnv::start(sim_config()).await;
    let id = env.sample_machine_id();
    env.sim.inject(Fault {
        kind: FaultKind::Latency { millis: 300 },
        count: 1,
        path_contains: Some(format!("/api/machines/{id}")),
    });
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let mut client = env.risk();
            let request = bypassing_cache(by_id(&id));
            tokio::spawn(async move { client.get_endpoint_risk(request).await })
        })
        .collect();
    for call in calls {
        call.await.expect("join").expect("ok");
    }
    let gets = calls_to(&env.sim, &format!("/api/machines/{id}"));
    assert!(
        (1..=2).contains(&gets),
        "{gets} machine reads for 50 bypassing calls"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_throttled_token_request_is_rate_limited_with_retry_info() {
    let env = TestEnv::start(sim_config()).await;
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some("30".into()),
        },
        count: 1_000,
        path_contains: Some("/oauth2/v2.0/token".into()),
    });
    let id = env.sample_machine_id();
    let err = env
        .risk()
        .get_endpoint_risk(with_deadline(by_id(&id), Duration::from_secs(5)))
        .await
        .expect_err("no token");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err), "RATE_LIMITED");
    let delay = err
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    assert_eq!(delay, Duration::from_secs(30));
    assert_eq!(api_calls(&env.sim), 0);
    env.stop().await;
}

#[tokio::test]
async fn a_stream_cut_by_shutdown_ends_with_a_status_saying_so() {
    // Actions that stay pending long enough for the watch to outlive the server.
    let env = TestEnv::start_with(with_step(Duration::from_secs(60)), |args| {
        args.shutdown_grace_secs = Some(2)
    })
    .await;
    let id = env.sample_machine_id();
    let action = env.isolated(isolate(&id, "shutdown test", &rid())).await;
    let mut stream = env
        .actions()
        .watch_machine_action(WatchMachineActionRequest {
            action_id: action.id.clone(),
            ..Default::default()
        })
        .await
        .expect("watch starts")
        .into_inner();
    let first = stream.next().await.expect("a first message").expect("ok");
    assert_eq!(first.id, action.id);
    let TestEnv { sim, server, .. } = env;
    let stopping = tokio::spawn(server.shutdown());
    let end = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the stream ended without a status"),
        }
    };
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    assert_eq!(reason(&end), "SERVER_SHUTTING_DOWN");
    assert_eq!(metadata(&end, "resumable").as_deref(), Some("true"));
    stopping.await.expect("join").expect("clean shutdown");
    sim.shutdown().await;
}
