//! A 100,000-row hunting result (the backends' row limit) over gRPC: it arrives complete, in
//! many messages, none over gRPC's default 4 MiB, on both backends. The simulator serves a
//! 100,000-machine fleet, so `DeviceInfo` has 100,000 rows (about 40 MB of JSON).

mod common;

use std::collections::HashSet;

use common::hunting::{self, FOUR_MIB, messages, request, shape, start};
use common::sim_config;
use defender_bridge::proto;
use defender_bridge::sim::SimConfig;
use prost_types::value::Kind;

const ROWS: usize = 100_000;

fn big_fleet() -> SimConfig {
    SimConfig {
        machines: ROWS,
        ..sim_config()
    }
}

async fn hunt_everything(backend: &str, batch_rows: i32) -> hunting::Hunt {
    let env = start(big_fleet(), backend).await;
    let hunt = shape(
        messages(&env, request("DeviceInfo", batch_rows))
            .await
            .expect("hunt"),
    );
    let id = hunt.column("DeviceId");
    let ids: HashSet<&str> = hunt
        .rows()
        .map(|r| match &r.values[id].kind {
            Some(Kind::StringValue(s)) => s.as_str(),
            other => panic!("DeviceId {other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), ROWS, "every device exactly once");
    let fleet = env.sim.fleet().machines();
    assert!(fleet.iter().all(|m| ids.contains(m.id.as_str())));
    env.stop().await;
    hunt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_row_result_arrives_complete_in_messages_under_4_mib_on_graph() {
    // 10,000 rows of DeviceInfo would be about 3 MB: the 1 MiB byte budget, not the row count,
    // closes these batches.
    let hunt = hunt_everything("graph", 10_000).await;
    assert_eq!(hunt.summary.row_count, ROWS as i64);
    assert!(
        hunt.summary.truncated,
        "at the 100,000-row limit the result may be cut"
    );
    assert_eq!(hunt.summary.backend, proto::HuntingBackend::Graph as i32);
    assert!(hunt.batches.len() > 10, "{} batches", hunt.batches.len());
    assert!(hunt.batches.iter().all(|b| b.len() < 10_000));
    assert!(
        hunt.largest_message <= FOUR_MIB / 2 + 64,
        "{}",
        hunt.largest_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_row_result_arrives_complete_in_messages_under_4_mib_on_defender() {
    let hunt = hunt_everything("defender", 0).await;
    assert_eq!(hunt.summary.row_count, ROWS as i64);
    assert_eq!(hunt.summary.backend, proto::HuntingBackend::Defender as i32);
    assert_eq!(
        hunt.batches.len(),
        ROWS / 1_000,
        "default batches of 1,000 rows"
    );
    assert!(hunt.largest_message < FOUR_MIB);
}
