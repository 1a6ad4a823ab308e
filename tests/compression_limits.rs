//! gzip and message size limits as clients see them: gzip-compressing clients are served by
//! the generated methods (answers compressed too), and requests over the configured size are
//! refused before any upstream call: OUT_OF_RANGE on the encoded fast path
//! (`GetEndpointRisk`) and on generated methods, RESOURCE_EXHAUSTED when only decompression
//! makes them too big.

mod common;

use common::risk::{by_host, by_id};
use common::{TestEnv, sim_config};
use defender_bridge::proto::{BatchGetEndpointRisksRequest, ListMachinesRequest};
use tonic::Code;
use tonic::codec::CompressionEncoding;

fn api_calls(env: &TestEnv) -> usize {
    env.sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .count()
}

#[tokio::test]
async fn gzip_clients_are_served_by_every_method() {
    let env = TestEnv::start(sim_config()).await;
    let page = env
        .risk()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
        .list_machines(ListMachinesRequest {
            page_size: 50,
            ..Default::default()
        })
        .await
        .expect("a gzip-compressed ListMachines");
    assert_eq!(
        page.metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    assert_eq!(page.into_inner().machines.len(), 50);
    let id = env.sim.fleet().sample_machine_id().to_string();
    let batch = env
        .risk()
        .send_compressed(CompressionEncoding::Gzip)
        .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
            requests: vec![by_id(&id)],
            ..Default::default()
        })
        .await
        .expect("a gzip-compressed batch")
        .into_inner();
    assert_eq!(batch.results.len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn requests_over_the_size_limit_are_out_of_range() {
    let env = TestEnv::start_with(sim_config(), |a| {
        a.max_request_message_bytes = Some(1024);
    })
    .await;
    let before = api_calls(&env);
    let long = "a".repeat(2000);
    let err = env
        .risk()
        .get_endpoint_risk(by_host(&long))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    let batch = BatchGetEndpointRisksRequest {
        requests: (0..100).map(|i| by_host(&format!("host-{i:04}"))).collect(),
        ..Default::default()
    };
    let err = env
        .risk()
        .batch_get_endpoint_risks(batch.clone())
        .await
        .expect_err("too large");
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    // Compresses far below the limit, but is over it once decompressed.
    let err = env
        .risk()
        .send_compressed(CompressionEncoding::Gzip)
        .get_endpoint_risk(by_host(&long))
        .await
        .expect_err("too large once decompressed");
    // tonic's own code for a decompression past the limit.
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("size limit"), "{err:?}");
    assert_eq!(api_calls(&env), before, "no upstream call");
    // Under the limit: served as usual.
    let id = env.sim.fleet().sample_machine_id().to_string();
    env.risk()
        .get_endpoint_risk(by_id(&id))
        .await
        .expect("a small request");
    env.stop().await;
}
