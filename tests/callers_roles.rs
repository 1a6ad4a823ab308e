//! Caller authentication over real gRPC with API keys: the role × RPC matrix (every RPC allowed
//! for its role and denied for the others), no credentials, unknown and expired keys, a key
//! revoked by a reload while other calls keep working, health open, reflection for any
//! authenticated caller, and nothing refused ever reaching the simulator or the audit log.

mod common;

use std::time::Duration;

use common::callers::{AuthEnv, bearer, call, key, methods, reason, refused_by_auth, start};
use common::risk::{by_id, metadata};
use defender_bridge::auth::roles::ALL_ROLES;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// One key per role, plus the callers file holding them.
fn role_keys() -> (Vec<(&'static str, String)>, String) {
    let mut keys = Vec::new();
    let mut file = String::new();
    for role in ALL_ROLES {
        let (k, entry) = key(&format!("only-{role}"), &[role.name()]);
        keys.push((role.name(), k));
        file.push_str(&entry);
    }
    (keys, file)
}

type Started = (
    AuthEnv,
    Vec<(&'static str, String)>,
    tempfile::TempDir,
    std::path::PathBuf,
);

async fn start_roles() -> Started {
    let (keys, file) = role_keys();
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_path = dir.path().join("audit.jsonl");
    let audit_for_args = audit_path.clone();
    let env = start(&file, move |args| {
        args.audit_log = Some(audit_for_args);
        args.caller_heavy_max_concurrent = Some(10);
    })
    .await;
    (env, keys, dir, audit_path)
}

#[tokio::test]
async fn every_rpc_is_denied_to_the_other_roles_without_reaching_defender_or_the_audit_log() {
    let (auth, keys, _dir, audit) = start_roles().await;
    let env = &auth.env;
    let before = env.sim.requests().len();
    let mut denied = 0;
    for (method, needed) in methods() {
        for (role, k) in &keys {
            if *role == needed.name() {
                continue;
            }
            let err = call(env, &method, Some(k))
                .await
                .expect_err(&format!("{method} must be denied to {role}"));
            assert_eq!(
                err.code(),
                Code::PermissionDenied,
                "{method} as {role}: {err:?}"
            );
            assert_eq!(reason(&err), "CALLER_NOT_AUTHORIZED", "{method} as {role}");
            assert_eq!(
                metadata(&err, "required_role").as_deref(),
                Some(needed.name()),
                "{method} as {role}"
            );
            denied += 1;
        }
        let err = call(env, &method, None)
            .await
            .expect_err(&format!("{method} must need credentials"));
        assert_eq!(err.code(), Code::Unauthenticated, "{method}: {err:?}");
        assert_eq!(reason(&err), "CALLER_NOT_AUTHENTICATED", "{method}");
    }
    assert_eq!(denied, methods().len() * 3);
    assert_eq!(
        env.sim.requests().len(),
        before,
        "a refused call reached the simulator"
    );
    let audited = std::fs::read_to_string(&audit).unwrap_or_default();
    assert_eq!(audited, "", "a refused call was audited");
    auth.env.stop().await;
}

#[tokio::test]
async fn every_rpc_is_allowed_to_its_role() {
    let (auth, keys, _dir, _audit) = start_roles().await;
    let env = &auth.env;
    for (method, needed) in methods() {
        let k = &keys
            .iter()
            .find(|(role, _)| *role == needed.name())
            .expect("a key per role")
            .1;
        let before = env.sim.requests().len();
        match call(env, &method, Some(k)).await {
            Ok(()) => {}
            Err(status) => assert!(
                !refused_by_auth(&status),
                "{method} refused to its role {needed}: {status:?}"
            ),
        }
        // CheckConnection with skip_probe may be answered from a cached token, and the batch
        // from the risk GetEndpointRisk just cached; every other allowed call reaches Defender.
        if !["CheckConnection", "BatchGetEndpointRisks"].contains(&method.as_str()) {
            assert!(
                env.sim.requests().len() > before,
                "{method} did not reach the simulator"
            );
        }
    }
    auth.env.stop().await;
}

#[tokio::test]
async fn unknown_malformed_and_expired_keys_are_unauthenticated() {
    let (good, good_entry) = key("good", &["reader"]);
    let (old, old_entry) = key("old", &["reader"]);
    let old_entry = format!("{old_entry}expires = \"2020-01-01T00:00:00Z\"\n");
    let auth = start(&format!("{good_entry}{old_entry}"), |_| {}).await;
    let env = &auth.env;
    let m = common::callers::machine(env);
    let before = env.sim.requests().len();
    let (unknown, _) = key("never-configured", &["reader"]);
    for (token, what) in [
        (unknown.as_str(), "unknown key"),
        (old.as_str(), "expired key"),
        ("a.b.c", "garbage JWT"),
    ] {
        let err = env
            .risk()
            .get_endpoint_risk(bearer(by_id(&m), token))
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::Unauthenticated, "{what}");
        assert_eq!(reason(&err), "CALLER_NOT_AUTHENTICATED", "{what}");
        assert!(
            !err.message().contains(token),
            "{what}: the credential is echoed"
        );
        if what == "expired key" {
            assert!(err.message().contains("expired"), "{err:?}");
        }
    }
    let mut basic = tonic::Request::new(by_id(&m));
    basic.metadata_mut().insert(
        "authorization",
        "Basic dXNlcjpwYXNz".parse().expect("ascii"),
    );
    let err = env
        .risk()
        .get_endpoint_risk(basic)
        .await
        .expect_err("basic");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        env.sim.requests().len(),
        before,
        "refused calls reached Defender"
    );
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &good))
        .await
        .expect("the configured key works");
    auth.env.stop().await;
}

#[tokio::test]
async fn a_key_removed_from_the_file_is_refused_after_the_reload_while_others_keep_working() {
    let (kept, kept_entry) = key("kept", &["reader"]);
    let (revoked, revoked_entry) = key("revoked", &["reader"]);
    let auth = start(&format!("{kept_entry}{revoked_entry}"), |_| {}).await;
    let env = &auth.env;
    let m = common::callers::machine(env);
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &revoked))
        .await
        .expect("works before the reload");
    // A broken file is not applied: the previous one stays in force.
    std::fs::write(&auth.callers, "[[api_key]]\nname = \"x\"\n").expect("write");
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &revoked))
        .await
        .expect("a bad file keeps the previous one");
    std::fs::write(&auth.callers, &kept_entry).expect("write");
    // The watcher looks every 2 s; wait until the revocation shows (bounded).
    let mut refused = None;
    for _ in 0..50 {
        match env
            .risk()
            .get_endpoint_risk(bearer(by_id(&m), &revoked))
            .await
        {
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    let err = refused.expect("the revoked key is refused after the reload");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(reason(&err), "CALLER_NOT_AUTHENTICATED");
    env.risk()
        .get_endpoint_risk(bearer(by_id(&m), &kept))
        .await
        .expect("the other key keeps working");
    auth.env.stop().await;
}

#[tokio::test]
async fn health_is_open_and_reflection_needs_an_authenticated_caller() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    let (k, entry) = key("any", &["admin"]);
    let auth = start(&entry, |_| {}).await;
    let env = &auth.env;
    let status = HealthClient::new(env.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no credentials")
        .into_inner()
        .status;
    assert_eq!(status, tonic_health::ServingStatus::Serving as i32);

    let list = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(env.channel.clone());
    let err = client
        .server_reflection_info(tokio_stream::once(list()))
        .await
        .expect_err("reflection without credentials");
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut stream = client
        .server_reflection_info(bearer(tokio_stream::once(list()), &k))
        .await
        .expect("reflection with a key of any role")
        .into_inner();
    assert!(stream.next().await.expect("answer").is_ok());
    auth.env.stop().await;
}

#[tokio::test]
async fn an_unknown_method_path_is_denied_even_to_a_caller_with_every_role() {
    let (k, entry) = key("all", &["reader", "hunter", "responder", "admin"]);
    let auth = start(&entry, |_| {}).await;
    let env = &auth.env;
    let mut grpc = tonic::client::Grpc::new(env.channel.clone());
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/defenderbridge.v1.RiskService/Nope");
    let codec = tonic_prost::ProstCodec::<
        defender_bridge::proto::GetMachineRequest,
        defender_bridge::proto::Machine,
    >::default();
    let err = grpc
        .unary(
            bearer(defender_bridge::proto::GetMachineRequest::default(), &k),
            path,
            codec,
        )
        .await
        .expect_err("unknown method");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "CALLER_NOT_AUTHORIZED");
    auth.env.stop().await;
}
