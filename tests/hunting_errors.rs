//! `RunHuntingQuery` failures over gRPC: bad input refused before any upstream call, a query the
//! backend rejects, the missing permission named per backend (in the RPC and in
//! CheckConnection), and throttling with `Retry-After`, a CPU-quota 429 told apart from a
//! call-count 429.

mod common;

use std::time::Duration;

use common::hunting::{self, messages, request, start};
use common::risk::{all_roles_but, bad_fields, metadata, reason};
use common::{TestEnv, api_requests, sim_config};
use defender_bridge::proto::{self, Capability};
use defender_bridge::sim::{Fault, FaultKind, SimConfig};
use tonic::Code;
use tonic_types::StatusExt;

const GRAPH_PATH: &str = "/v1.0/security/runHuntingQuery";
const DEFENDER_PATH: &str = "/api/advancedqueries/run";

fn hunting_calls(env: &TestEnv) -> usize {
    api_requests(&env.sim, GRAPH_PATH).len() + api_requests(&env.sim, DEFENDER_PATH).len()
}

#[tokio::test]
async fn bad_query_text_or_batch_size_is_refused_before_any_upstream_call() {
    let env = TestEnv::start(sim_config()).await;
    let too_long = format!("DeviceInfo | where DeviceName == '{}'", "x".repeat(65_536));
    for (req, field) in [
        (request("", 0), "query"),
        (request(" \n\t ", 0), "query"),
        (request(&too_long, 0), "query"),
        (request("DeviceInfo", -1), "batch_rows"),
        (request("DeviceInfo", 10_001), "batch_rows"),
    ] {
        let err = messages(&env, req).await.expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(reason(&err), "INVALID_FIELD");
        assert_eq!(bad_fields(&err), [field]);
    }
    // Exactly at the limit is accepted (and reaches the backend).
    let prefix = "DeviceInfo | where DeviceName == '";
    let at_limit = format!("{prefix}{}'", "x".repeat(65_536 - prefix.len() - 1));
    assert_eq!(at_limit.len(), 65_536);
    messages(&env, request(&at_limit, 0))
        .await
        .expect("64 KiB is allowed");
    assert_eq!(hunting_calls(&env), 1, "only the valid query went upstream");
    env.stop().await;
}

#[tokio::test]
async fn a_query_the_backend_rejects_is_an_invalid_query() {
    for backend in ["graph", "defender"] {
        let env = start(sim_config(), backend).await;
        let err = messages(&env, request("NoSuchTable | take 1", 0))
            .await
            .expect_err("400 upstream");
        assert_eq!(err.code(), Code::InvalidArgument, "{backend}: {err:?}");
        assert_eq!(bad_fields(&err), ["query"]);
        assert!(
            err.message().contains("Failed to resolve table"),
            "{backend}: {}",
            err.message()
        );
        env.stop().await;
    }
}

#[tokio::test]
async fn a_missing_permission_names_the_one_each_backend_needs() {
    for (backend, permission, api) in [
        ("graph", "ThreatHunting.Read.All", "Microsoft Graph"),
        ("defender", "AdvancedQuery.Read.All", "WindowsDefenderATP"),
    ] {
        let config = SimConfig {
            roles: all_roles_but(permission)
                .into_iter()
                .map(str::to_string)
                .collect(),
            ..sim_config()
        };
        let env = start(config, backend).await;
        let err = messages(&env, request("DeviceInfo | take 1", 0))
            .await
            .expect_err("403 upstream");
        assert_eq!(err.code(), Code::PermissionDenied, "{backend}: {err:?}");
        assert_eq!(reason(&err), "MISSING_APP_PERMISSION");
        assert_eq!(metadata(&err, "permission").as_deref(), Some(permission));
        assert!(err.message().contains(api), "{backend}: {}", err.message());

        // CheckConnection reports the same permission for the configured backend.
        let report = env
            .risk()
            .check_connection(proto::CheckConnectionRequest::default())
            .await
            .expect("check")
            .into_inner();
        let hunting = report
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Hunting as i32)
            .expect("hunting capability");
        assert!(!hunting.available, "{backend}");
        assert_eq!(hunting.missing_permissions, [permission], "{backend}");
        env.stop().await;
    }
}

#[tokio::test]
async fn check_connection_reports_hunting_available_per_backend() {
    // The other backend's permission is not enough.
    for (backend, other) in [
        ("graph", "AdvancedQuery.Read.All"),
        ("defender", "ThreatHunting.Read.All"),
    ] {
        let config = SimConfig {
            roles: all_roles_but(other)
                .into_iter()
                .map(str::to_string)
                .collect(),
            ..sim_config()
        };
        let env = start(config, backend).await;
        let report = env
            .risk()
            .check_connection(proto::CheckConnectionRequest::default())
            .await
            .expect("check")
            .into_inner();
        let hunting = report
            .capabilities
            .iter()
            .find(|c| c.capability == Capability::Hunting as i32)
            .expect("hunting capability");
        assert!(hunting.available, "{backend}: {hunting:?}");
        assert_eq!(
            report.hunting_backend,
            match backend {
                "graph" => proto::HuntingBackend::Graph as i32,
                _ => proto::HuntingBackend::Defender as i32,
            }
        );
        env.stop().await;
    }
}

/// The QuotaFailure subject of a status.
fn quota_subject(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .quota_failure()
        .and_then(|q| q.violations.first().map(|v| v.subject.clone()))
        .unwrap_or_default()
}

fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
}

#[tokio::test]
async fn a_call_count_429_is_rate_limited_with_retry_after_and_holds_back_later_calls() {
    let env = start(sim_config(), "graph").await;
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some("45".into()),
        },
        count: 1,
        path_contains: Some(GRAPH_PATH.into()),
    });
    let err = messages(&env, request("DeviceInfo | take 1", 0))
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err), "RATE_LIMITED");
    assert_eq!(retry_delay(&err), Some(Duration::from_secs(45)));
    assert_eq!(metadata(&err, "cpu_quota").as_deref(), Some("false"));
    assert_eq!(metadata(&err, "quota").as_deref(), Some("graph_hunting"));
    assert_eq!(quota_subject(&err), "defender:graph_hunting");
    assert_eq!(
        hunting_calls(&env),
        1,
        "a Retry-After past 30 s is not waited out"
    );

    // The Retry-After holds back the next call locally: no second 429 is provoked upstream.
    let mut next = tonic::Request::new(request("DeviceInfo | take 1", 0));
    next.set_timeout(Duration::from_secs(2));
    let err = hunting::client(&env)
        .run_hunting_query(next)
        .await
        .expect_err("held back");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(retry_delay(&err).is_some_and(|d| d > Duration::from_secs(30)));
    assert_eq!(hunting_calls(&env), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_query_succeeds() {
    let env = start(sim_config(), "defender").await;
    env.sim.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some("1".into()),
        },
        count: 1,
        path_contains: Some(DEFENDER_PATH.into()),
    });
    let started = std::time::Instant::now();
    let hunt = hunting::shape(
        messages(&env, request("DeviceInfo | take 3", 0))
            .await
            .expect("retried"),
    );
    assert_eq!(hunt.summary.row_count, 3);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(hunting_calls(&env), 2);
    env.stop().await;
}

#[tokio::test]
async fn a_cpu_quota_429_is_told_apart_from_a_call_count_429() {
    for (backend, path) in [("defender", DEFENDER_PATH), ("graph", GRAPH_PATH)] {
        let env = start(sim_config(), backend).await;
        env.sim.inject(Fault {
            kind: FaultKind::CpuQuota {
                retry_after: Some("600".into()),
            },
            count: 1,
            path_contains: Some(path.into()),
        });
        let err = messages(&env, request("DeviceInfo | take 1", 0))
            .await
            .expect_err("throttled");
        assert_eq!(err.code(), Code::ResourceExhausted, "{backend}: {err:?}");
        assert_eq!(metadata(&err, "cpu_quota").as_deref(), Some("true"));
        assert_eq!(metadata(&err, "quota").as_deref(), Some("cpu"));
        assert_eq!(quota_subject(&err), "defender:advanced-hunting-cpu");
        assert_eq!(retry_delay(&err), Some(Duration::from_secs(600)));
        env.stop().await;
    }
}
