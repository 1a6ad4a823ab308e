//! Read endpoints: documented paths and `$top` caps, find-by-IP, 403 roles, hunting backends,
//! path safety, the local budget end to end.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::{Issuer, client_for, serve, settings_for, with_token_endpoint};
use crate::defender::{
    ApiFamily, CallOptions, Cloud, DefenderClient, DefenderError, ODataQuery, RateLimitSettings,
    odata::Filter,
};

/// Answers every GET with an empty collection (or a bare entity for single-entity paths).
fn anything() -> Router {
    Router::new().fallback(get(|uri: Uri| async move {
        let path = uri.path().to_owned();
        let body = if (path.starts_with("/api/Software/") && !path.ends_with("machineReferences"))
            || path.starts_with("/api/machineactions/")
        {
            serde_json::json!({"id": "x"})
        } else {
            serde_json::json!({"value": []})
        };
        axum::Json(body)
    }))
}

#[tokio::test]
async fn list_endpoints_use_the_documented_paths_and_top_caps() {
    let (client, server, _) = client_for(anything()).await;
    let opts = CallOptions::default();
    let big = ODataQuery {
        top: Some(50_000),
        ..Default::default()
    };
    client
        .list_vulnerabilities(&big, &opts)
        .await
        .expect("vulns");
    client
        .list_alerts(&ODataQuery::filtered(Filter::eq("status", "New")), &opts)
        .await
        .expect("alerts");
    client
        .list_machine_actions(&big, &opts)
        .await
        .expect("actions");
    client
        .list_software_machines("microsoft-_-edge", &ODataQuery::default(), &opts)
        .await
        .expect("refs");
    client
        .get_software("microsoft-_-edge", &opts)
        .await
        .expect("software");
    client
        .get_machine_action("a-1", &opts)
        .await
        .expect("action");
    client
        .list_machine_alerts("m1", &opts)
        .await
        .expect("machine alerts");
    client
        .list_machine_vulnerabilities("m1", &opts)
        .await
        .expect("machine vulns");
    client
        .list_machines_vulnerabilities(&big, &opts)
        .await
        .expect("rows");
    let uris: Vec<_> = server.log.api().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        [
            "/api/vulnerabilities?$top=8000",
            "/api/alerts?$filter=status+eq+%27New%27&$top=10000",
            "/api/machineactions?$top=10000",
            "/api/Software/microsoft-_-edge/machineReferences?$top=10000",
            "/api/Software/microsoft-_-edge",
            "/api/machineactions/a-1",
            "/api/machines/m1/alerts",
            "/api/machines/m1/vulnerabilities",
            "/api/vulnerabilities/machinesVulnerabilities?$top=10000",
        ]
    );
}

#[tokio::test]
async fn find_by_ip_uses_the_documented_function_path() {
    let router = Router::new().fallback(get(|| async {
        axum::Json(serde_json::json!({"value": [{"id": "m1", "lastIpAddress": "10.1.2.3"}]}))
    }));
    let (client, server, _) = client_for(router).await;
    let ip: IpAddr = "10.1.2.3".parse().expect("ip");
    let at = time::macros::datetime!(2024-01-02 03:04:05.678 UTC);
    let machines = client
        .find_machines_by_ip(ip, at, &CallOptions::default())
        .await
        .expect("found");
    assert_eq!(machines.len(), 1);
    assert_eq!(
        server.log.api()[0].uri,
        "/api/machines/findbyip(ip='10.1.2.3',timestamp=2024-01-02T03:04:05Z)"
    );
}

#[tokio::test]
async fn missing_role_403_names_required_and_granted_roles() {
    let router = Router::new().route(
        "/api/machines/{id}",
        get(|| async {
            (
                StatusCode::FORBIDDEN,
                [("content-type", "application/json")],
                include_str!("../testdata/error_403_missing_role.json"),
            )
                .into_response()
        }),
    );
    let (client, server, _) = client_for(router).await;
    let err = client
        .get_machine("m1", &CallOptions::default())
        .await
        .expect_err("403");
    match &err {
        DefenderError::MissingPermission {
            required,
            granted,
            target,
            ..
        } => {
            assert_eq!(required, &["Machine.Read.All", "Machine.ReadWrite.All"]);
            assert_eq!(granted, &["Machine.Isolate"]);
            assert_eq!(target.as_deref(), Some("<REDACTED>"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.log.api().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn graph_hunting_uses_the_graph_token_and_url() {
    let router = Router::new().route(
        "/v1.0/security/runHuntingQuery",
        post(|axum::Json(body): axum::Json<serde_json::Value>| async move {
            assert_eq!(body, serde_json::json!({"Query": "DeviceInfo | take 1"}));
            axum::Json(serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                "schema": [{"name": "DeviceId", "type": "String"}],
                "results": [{"DeviceId": "m1"}],
            }))
        }),
    );
    let (client, server, issuer) = client_for(router).await;
    let result = client
        .run_graph_hunting_query("DeviceInfo | take 1", &CallOptions::default())
        .await
        .expect("graph");
    assert_eq!(result.schema[0].name, "DeviceId");
    assert_eq!(result.rows[0]["DeviceId"], "m1");
    let forms = issuer.forms.lock().expect("forms").clone();
    assert_eq!(forms[0]["scope"], Cloud::Commercial.graph_scope());
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn ids_cannot_add_path_segments() {
    let (client, server, _) = client_for(anything()).await;
    let opts = CallOptions::default();
    client
        .get_software("a/b?c", &opts)
        .await
        .expect("encoded id");
    assert_eq!(server.log.api()[0].uri, "/api/Software/a%2Fb%3Fc");
    for bad in ["", "..", "a\nb"] {
        let err = client.get_machine(bad, &opts).await.expect_err("refused");
        assert!(
            matches!(err, DefenderError::BadRequest { ref code, .. } if code == "InvalidInput")
        );
    }
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn local_budget_refuses_before_the_deadline_without_a_request() {
    let issuer = Arc::new(Issuer::default());
    let server = serve(with_token_endpoint(anything(), issuer)).await;
    let mut settings = settings_for(&server.base);
    // 1% of 100/min: one call a minute.
    settings.rate_limits = RateLimitSettings {
        enabled: true,
        share: 0.01,
    };
    let client = DefenderClient::new(settings).expect("client");
    let opts = CallOptions::with_timeout(Duration::from_secs(2));
    client
        .list_alerts(&ODataQuery::default(), &opts)
        .await
        .expect("first call fits");
    let err = client
        .list_alerts(&ODataQuery::default(), &opts)
        .await
        .expect_err("budget spent");
    assert!(
        matches!(err, DefenderError::RateBudgetExhausted { family: ApiFamily::Alerts, retry_after } if retry_after > Duration::from_secs(50)),
        "{err:?}"
    );
    assert_eq!(server.log.api().len(), 1);
    let stats = client.stats();
    assert_eq!(stats[ApiFamily::Alerts as usize].budget_refusals, 1);
}
