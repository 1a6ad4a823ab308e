//! Hardening against hostile input and a faulty upstream, over the real gRPC stack: echoes of
//! caller input are cut, and a Defender whose next link repeats a page cannot make
//! `StreamFleetRisk` send a machine twice and still claim the whole fleet.

mod common;

use std::collections::HashSet;

use common::risk::{fleet_stream, reason};
use common::{TestEnv, sim_config};
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
            machine_id: env.sample_machine_id(),
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

/// A 1,000-machine fleet whose list at `path` once links back to `$skip=1`, a page already
/// read.
async fn fleet_with_a_repeated_page(path: &str) -> TestEnv {
    let env = TestEnv::start(SimConfig {
        machines: 1_000,
        ..sim_config()
    })
    .await;
    env.sim.inject(Fault {
        kind: FaultKind::RepeatPage { skip: 1 },
        count: 1,
        path_contains: Some(path.into()),
    });
    env
}

/// The security review's case: a 1,000-machine fleet whose first machines page links back to
/// `$skip=1` streamed 1,999 machines and said `complete = true`.
#[tokio::test]
async fn a_next_link_that_repeats_a_page_ends_the_fleet_stream_incomplete() {
    let env = fleet_with_a_repeated_page("/api/machines").await;
    let (risks, summary) = fleet_stream(&env, StreamFleetRiskRequest::default()).await;
    let mut ids = HashSet::new();
    for risk in &risks {
        let id = &risk.machine.as_ref().expect("machine").id;
        assert!(ids.insert(id.clone()), "machine {id} sent twice");
    }
    let sent = risks.len();
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
    let env = fleet_with_a_repeated_page("/api/alerts").await;
    let (_, summary) = fleet_stream(&env, StreamFleetRiskRequest::default()).await;
    assert!(!summary.complete, "{summary:?}");
    assert!(
        summary.reason_incomplete.contains("repeat"),
        "{}",
        summary.reason_incomplete
    );
    env.stop().await;
}
