//! The verified identity everywhere: in the Defender comment stamp and the audit log (with
//! `x-caller-id` only as `on_behalf_of`), as the scope of `request_id`s (one caller cannot
//! squat another's predictable id), and in the audit record of every hunting query.

mod common;

use common::actions::{audit_lines, isolate, windows_machines};
use common::callers::{bearer, key, start};
use common::{TestEnv, sim_config};
use defender_bridge::proto;
use sha2::{Digest as _, Sha256};
use tonic::Code;

#[tokio::test]
async fn the_verified_identity_is_stamped_and_audited_and_x_caller_id_is_only_on_behalf_of() {
    let (k, entry) = key("soar-playbooks", &["responder"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.clone();
    let auth = start(&entry, move |a| a.audit_log = Some(audit_arg)).await;
    let env = &auth.env;
    let m = windows_machines(&env.sim, 1)[0].clone();
    let mut request = bearer(isolate(&m, "contain", "r-1"), &k);
    request
        .metadata_mut()
        .insert("x-caller-id", "alice@corp".parse().expect("ascii"));
    let action = env
        .actions()
        .isolate_machine(request)
        .await
        .expect("isolated")
        .into_inner();
    let comment = &action.requestor_comment;
    assert!(comment.contains("caller=key:soar-playbooks "), "{comment}");
    assert!(comment.contains("on_behalf_of=alice@corp"), "{comment}");
    assert!(!comment.contains("unverified"), "{comment}");
    let lines = audit_lines(&audit);
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["caller"]["principal"], "key:soar-playbooks", "{line}");
        assert_eq!(line["caller"]["authenticated"], true, "{line}");
        assert_eq!(line["caller"]["on_behalf_of"], "alice@corp", "{line}");
    }
    let text = std::fs::read_to_string(&audit).expect("audit");
    assert!(!text.contains(&k), "the key reached the audit log");
    auth.env.stop().await;
}

#[tokio::test]
async fn a_request_id_used_first_by_another_caller_does_not_block_the_real_request() {
    // Two responders of one tenant. The squatter uses the victim's predictable id first (on
    // another machine); before ids were scoped by caller, the victim's isolate then failed
    // INVALID_ARGUMENT ("request_id was already used with other parameters").
    let (squatter, s_entry) = key("squatter", &["responder"]);
    let (victim, v_entry) = key("victim", &["responder"]);
    let auth = start(&format!("{s_entry}{v_entry}"), |_| {}).await;
    let env = &auth.env;
    let machines = windows_machines(&env.sim, 2);
    let squatted = env
        .actions()
        .isolate_machine(bearer(
            isolate(&machines[1], "squat", "ticket-4711"),
            &squatter,
        ))
        .await
        .expect("the squatter's isolate")
        .into_inner();
    let real = env
        .actions()
        .isolate_machine(bearer(
            isolate(&machines[0], "real", "ticket-4711"),
            &victim,
        ))
        .await
        .expect("the real isolate is not blocked by another caller's id")
        .into_inner();
    assert_eq!(real.machine_id, machines[0]);
    assert_ne!(real.id, squatted.id);
    // Each caller's retry still returns its own first result, without acting again.
    let retry = env
        .actions()
        .isolate_machine(bearer(
            isolate(&machines[0], "real", "ticket-4711"),
            &victim,
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry.id, real.id);
    let again = env
        .actions()
        .isolate_machine(bearer(
            isolate(&machines[1], "squat", "ticket-4711"),
            &squatter,
        ))
        .await
        .expect("the squatter's retry")
        .into_inner();
    assert_eq!(again.id, squatted.id);
    assert_eq!(common::actions::posts(&env.sim, "isolate").len(), 2);
    auth.env.stop().await;
}

#[tokio::test]
async fn without_callers_every_caller_shares_one_request_id_scope_as_before() {
    let env = TestEnv::start(sim_config()).await;
    let machines = windows_machines(&env.sim, 2);
    env.actions()
        .isolate_machine(isolate(&machines[1], "first", "shared-id"))
        .await
        .expect("first");
    let err = env
        .actions()
        .isolate_machine(isolate(&machines[0], "second", "shared-id"))
        .await
        .expect_err("same id, other parameters");
    assert_eq!(err.code(), Code::InvalidArgument);
    env.stop().await;
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn every_hunting_query_is_audited_with_caller_hash_text_rows_and_outcome() {
    let (k, entry) = key("hunt-bot", &["hunter"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.clone();
    let auth = start(&entry, move |a| a.audit_log = Some(audit_arg)).await;
    let env = &auth.env;
    let query = "DeviceInfo | take 7";
    let mut stream = env
        .risk()
        .run_hunting_query(bearer(
            proto::RunHuntingQueryRequest {
                query: query.into(),
                ..Default::default()
            },
            &k,
        ))
        .await
        .expect("hunt")
        .into_inner();
    let mut rows = 0;
    while let Some(message) = stream.message().await.expect("message") {
        if let Some(proto::run_hunting_query_response::Payload::Rows(batch)) = message.payload {
            rows += batch.rows.len();
        }
    }
    assert!(rows > 0);
    let bad = "NoSuchTable | take 1";
    let failed = env
        .risk()
        .run_hunting_query(bearer(
            proto::RunHuntingQueryRequest {
                query: bad.into(),
                ..Default::default()
            },
            &k,
        ))
        .await;
    let failed = match failed {
        Err(status) => status,
        Ok(response) => {
            let mut s = response.into_inner();
            loop {
                match s.message().await {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("an unknown table must fail"),
                    Err(status) => break status,
                }
            }
        }
    };
    let lines: Vec<serde_json::Value> = audit_lines(&audit)
        .into_iter()
        .filter(|l| l["action"] == "RunHuntingQuery")
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let (req, out) = (&lines[0], &lines[1]);
    assert_eq!(req["event"], "requested");
    assert_eq!(req["caller"]["principal"], "key:hunt-bot");
    assert_eq!(req["query_sha256"], sha256_hex(query));
    assert_eq!(req["query"], query);
    assert_eq!(out["event"], "outcome");
    assert_eq!(out["audit_id"], req["audit_id"]);
    assert_eq!(out["result"], "succeeded");
    assert_eq!(out["rows"], rows as u64);
    let (req, out) = (&lines[2], &lines[3]);
    assert_eq!(req["query_sha256"], sha256_hex(bad));
    assert_eq!(out["result"], "failed");
    assert_eq!(out["error"]["code"], format!("{:?}", failed.code()));
    auth.env.stop().await;
}

#[tokio::test]
async fn hunting_is_audited_without_callers_too_and_long_queries_are_cut_but_hashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let env = common::actions::start_audited(sim_config(), &audit).await;
    let padding = " ".repeat(5000);
    let query = format!("DeviceInfo{padding}| take 1");
    let mut stream = env
        .risk()
        .run_hunting_query(proto::RunHuntingQueryRequest {
            query: query.clone(),
            ..Default::default()
        })
        .await
        .expect("hunt")
        .into_inner();
    while stream.message().await.expect("message").is_some() {}
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["caller"]["principal"], "anonymous");
    assert_eq!(lines[0]["caller"]["authenticated"], false);
    assert_eq!(lines[0]["query_sha256"], sha256_hex(&query));
    assert_eq!(lines[0]["query_truncated"], true);
    assert_eq!(
        lines[0]["query"].as_str().expect("text").chars().count(),
        defender_bridge::hunting::audit::MAX_AUDITED_QUERY_CHARS
    );
    assert_eq!(lines[1]["result"], "succeeded");
    env.stop().await;
}
