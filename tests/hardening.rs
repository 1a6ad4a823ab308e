//! Hardening against hostile input and a faulty upstream, over the real gRPC stack: echoes of
//! caller input are cut, and a Defender whose next link repeats a page cannot make
//! `StreamFleetRisk` send a machine twice and still claim the whole fleet.

mod common;

use std::collections::HashSet;

use common::risk::reason;
use common::{TestEnv, sim_config};
use defender_bridge::proto::stream_fleet_risk_response::Item;
use defender_bridge::proto::{GetMachineRequest, StreamFleetRiskRequest};
use defender_bridge::sim::{Fault, FaultKind, SimConfig};
use tonic::Code;

#[tokio::test]
async fn a_four_megabyte_tenant_is_not_echoed_back() {
    let env = TestEnv::start(sim_config()).await;
    let tenant = "t".repeat(4_000_000);
    let err = env
        .risk()
        .get_machine(GetMachineRequest {
            machine_id: env.sim.fleet().sample_machine_id().to_string(),
            tenant,
        })
        .await
        .expect_err("unknown tenant");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "INVALID_FIELD");
    assert!(err.message().len() < 400, "{} bytes", err.message().len());
    assert!(err.message().contains("..."), "{}", err.message());
    assert!(err.details().len() < 2_000, "{} bytes", err.details().len());
    env.stop().await;
}

/// The security review's case: a 1,000-machine fleet whose first machines page links back to
/// `$skip=1` streamed 1,999 machines and said `complete = true`.
#[tokio::test]
async fn a_next_link_that_repeats_a_page_ends_the_fleet_stream_incomplete() {
    let env = TestEnv::start(SimConfig {
        machines: 1_000,
        ..sim_config()
    })
    .await;
    env.sim.inject(Fault {
        kind: FaultKind::RepeatPage { skip: 1 },
        count: 1,
        path_contains: Some("/api/machines".into()),
    });
    let mut stream = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect("stream")
        .into_inner();
    let mut ids = HashSet::new();
    let mut sent = 0usize;
    let mut summary = None;
    while let Some(msg) = stream.message().await.expect("message") {
        match msg.item.expect("item") {
            Item::Risk(r) => {
                sent += 1;
                let id = r.machine.expect("machine").id;
                assert!(ids.insert(id.clone()), "machine {id} sent twice");
            }
            Item::Summary(s) => summary = Some(s),
        }
    }
    let summary = summary.expect("a summary");
    assert!(sent <= 1_000, "{sent} machines from a 1,000-machine fleet");
    assert!(!summary.complete, "{summary:?}");
    assert!(
        summary.reason_incomplete.contains("repeat"),
        "{}",
        summary.reason_incomplete
    );
    assert_eq!(summary.machine_count as usize, sent);
    env.stop().await;
}

/// The same fault on a bulk read (the alerts list) fails that read instead of double-counting.
#[tokio::test]
async fn a_repeated_page_in_a_bulk_read_is_not_taken_as_complete() {
    let env = TestEnv::start(SimConfig {
        machines: 1_000,
        ..sim_config()
    })
    .await;
    env.sim.inject(Fault {
        kind: FaultKind::RepeatPage { skip: 1 },
        count: 1,
        path_contains: Some("/api/alerts".into()),
    });
    let mut stream = env
        .risk()
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await
        .expect("stream")
        .into_inner();
    let mut summary = None;
    while let Some(msg) = stream.message().await.expect("message") {
        if let Some(Item::Summary(s)) = msg.item {
            summary = Some(s);
        }
    }
    let summary = summary.expect("a summary");
    assert!(!summary.complete, "{summary:?}");
    assert!(
        summary.reason_incomplete.contains("repeat"),
        "{}",
        summary.reason_incomplete
    );
    env.stop().await;
}
