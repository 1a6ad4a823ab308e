//! `RunHuntingQuery` over gRPC against the simulator: schema first, then typed rows in batches,
//! then the summary; on both backends (Graph's `runHuntingQuery` and Defender's
//! `advancedqueries/run`), each with its own token and endpoint.

mod common;

use common::hunting::{self, messages, request, shape, start};
use common::{TestEnv, api_requests, sim_config, token_requests};
use defender_bridge::proto;
use prost_types::value::Kind;

fn string(v: &prost_types::Value) -> &str {
    match &v.kind {
        Some(Kind::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

#[tokio::test]
async fn schema_comes_first_then_typed_rows_then_the_summary() {
    let env = start(sim_config(), "graph").await;
    let hunt = shape(
        messages(&env, request("DeviceInfo | take 5", 0))
            .await
            .expect("hunt"),
    );
    let types: Vec<(&str, &str)> = hunt
        .schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.r#type.as_str()))
        .collect();
    assert_eq!(types[0], ("Timestamp", "DateTime"));
    assert!(types.contains(&("OSBuild", "Int64")), "{types:?}");
    assert!(types.contains(&("IsAzureADJoined", "Boolean")));
    assert!(types.contains(&("LoggedOnUsers", "Object")));
    assert_eq!(hunt.batches.len(), 1);
    assert_eq!(hunt.summary.row_count, 5);
    assert!(!hunt.summary.truncated);
    assert_eq!(hunt.summary.backend, proto::HuntingBackend::Graph as i32);

    let fleet = env.sim.fleet().machines();
    let (ts, id, build, joined, users) = (
        hunt.column("Timestamp"),
        hunt.column("DeviceId"),
        hunt.column("OSBuild"),
        hunt.column("IsAzureADJoined"),
        hunt.column("LoggedOnUsers"),
    );
    for (row, machine) in hunt.rows().zip(fleet) {
        assert_eq!(string(&row.values[id]), machine.id);
        let stamp = string(&row.values[ts]);
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{stamp} is not RFC 3339: {e}"));
        match (&row.values[build].kind, machine.os_build) {
            (Some(Kind::NumberValue(n)), Some(b)) => assert_eq!(*n, f64::from(b)),
            (Some(Kind::NullValue(_)), None) => {}
            other => panic!("OSBuild: {other:?}"),
        }
        assert_eq!(
            row.values[joined].kind,
            Some(Kind::BoolValue(machine.aad_device_id.is_some()))
        );
        // Dynamic: sent as JSON text upstream, a list of structs here.
        let Some(Kind::ListValue(list)) = &row.values[users].kind else {
            panic!("LoggedOnUsers: {:?}", row.values[users]);
        };
        let Some(Kind::StructValue(user)) = &list.values[0].kind else {
            panic!("user: {list:?}");
        };
        assert_eq!(string(&user.fields["DomainName"]), "CONTOSO");
    }
    env.stop().await;
}

#[tokio::test]
async fn a_filter_by_device_id_returns_that_device_on_the_defender_backend() {
    let env = start(sim_config(), "defender").await;
    let machine = env.sim.fleet().machines()[17].clone();
    let hunt = shape(
        messages(
            &env,
            request(
                &format!(
                    "DeviceInfo | where DeviceId == '{}' | project DeviceId, DeviceName",
                    machine.id
                ),
                0,
            ),
        )
        .await
        .expect("hunt"),
    );
    assert_eq!(hunt.schema.columns.len(), 2);
    let rows: Vec<_> = hunt.rows().collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(string(&rows[0].values[1]), machine.computer_dns_name);
    assert_eq!(hunt.summary.backend, proto::HuntingBackend::Defender as i32);
    env.stop().await;
}

#[tokio::test]
async fn batch_rows_sets_the_rows_per_message() {
    let env = start(sim_config(), "graph").await;
    let hunt = shape(
        messages(&env, request("DeviceInfo | take 25", 10))
            .await
            .expect("hunt"),
    );
    let sizes: Vec<usize> = hunt.batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    env.stop().await;
}

#[tokio::test]
async fn an_empty_result_still_has_a_schema_and_a_summary() {
    let env = start(sim_config(), "defender").await;
    let hunt = shape(
        messages(
            &env,
            request("DeviceInfo | where DeviceName == 'no-such-host'", 0),
        )
        .await
        .expect("hunt"),
    );
    assert!(!hunt.schema.columns.is_empty());
    assert!(hunt.batches.is_empty());
    assert_eq!(hunt.summary.row_count, 0);
    env.stop().await;
}

#[tokio::test]
async fn count_is_a_number_in_an_int64_column() {
    let env = start(sim_config(), "graph").await;
    let hunt = shape(
        messages(&env, request("DeviceInfo | count", 0))
            .await
            .expect("hunt"),
    );
    assert_eq!(hunt.schema.columns[0].r#type, "Int64");
    let row = hunt.rows().next().expect("one row");
    assert_eq!(
        row.values[0].kind,
        Some(Kind::NumberValue(env.sim_config.machines as f64))
    );
    env.stop().await;
}

/// Each backend goes to its own endpoint with a token for its own resource, and both give the
/// same rows for the same query (timestamps aside: each simulator anchors its fleet at its own
/// start).
const QUERY: &str =
    "DeviceInfo | take 40 | project DeviceId, DeviceName, OSBuild, IsAzureADJoined, LoggedOnUsers";

#[tokio::test]
async fn both_backends_answer_alike_each_with_its_own_endpoint_and_token() {
    let mut results = Vec::new();
    for (backend, path, scope) in [
        (
            "graph",
            "/v1.0/security/runHuntingQuery",
            "graph.microsoft.com",
        ),
        ("defender", "/api/advancedqueries/run", "securitycenter"),
    ] {
        let env = start(sim_config(), backend).await;
        let hunt = shape(messages(&env, request(QUERY, 16)).await.expect("hunt"));
        let hunting_calls = api_requests(&env.sim, path);
        assert_eq!(hunting_calls.len(), 1, "{backend}: one upstream call");
        assert_eq!(
            hunting_calls[0].body.as_deref(),
            Some(format!(r#"{{"Query":"{QUERY}"}}"#).as_str()),
            "{backend}: body key `Query`"
        );
        assert_eq!(token_requests(&env.sim, scope), 1, "{backend}: token scope");
        results.push((hunt.schema, hunt.batches));
        env.stop().await;
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn the_hunting_budget_is_separate_from_the_other_apis() {
    // Spend the Graph hunting budget (40 a minute: the local budget keeps a 10% margin below
    // the published 45), then: hunting is refused locally without reaching upstream, while
    // reading machines still works.
    let env = TestEnv::start(sim_config()).await;
    for i in 0..40 {
        messages(&env, request("DeviceInfo | take 1", 0))
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e:?}"));
    }
    let mut late = tonic::Request::new(request("DeviceInfo | take 1", 0));
    late.set_timeout(std::time::Duration::from_millis(300));
    let err = hunting::client(&env)
        .run_hunting_query(late)
        .await
        .expect_err("budget spent");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        common::risk::metadata(&err, "quota").as_deref(),
        Some("graph_hunting")
    );
    assert_eq!(
        api_requests(&env.sim, "/v1.0/security/runHuntingQuery").len(),
        40
    );
    env.risk()
        .list_machines(proto::ListMachinesRequest::default())
        .await
        .expect("machines have their own budget");
    env.stop().await;
}
