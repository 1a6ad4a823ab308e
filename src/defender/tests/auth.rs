//! Tokens: shared fetches, refresh on 401, Entra errors, scopes, claims.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use secrecy::SecretString;

use super::{
    Issuer, assert_no_secrets, client_for, error_body, serve, settings_for, with_token_endpoint,
};
use crate::defender::{CallOptions, Cloud, Credential, DefenderClient, DefenderError, TokenScope};

const MACHINE: &str = include_str!("../testdata/machine_docs_example.json");

fn machine_route() -> Router {
    Router::new().route(
        "/api/machines/{id}",
        get(|| async { ([("content-type", "application/json")], MACHINE) }),
    )
}

#[tokio::test]
async fn token_is_fetched_once_for_20_concurrent_calls() {
    let issuer = Arc::new(Issuer {
        delay: Duration::from_millis(150),
        ..Issuer::default()
    });
    let server = serve(with_token_endpoint(machine_route(), issuer.clone())).await;
    let client = DefenderClient::new(settings_for(&server.base)).expect("client");
    let calls = (0..20).map(|_| {
        let client = client.clone();
        async move { client.get_machine("abc", &CallOptions::default()).await }
    });
    for result in futures::future::join_all(calls).await {
        let machine = result.expect("machine");
        assert_eq!(
            machine.computer_dns_name.as_deref(),
            Some("mymachine1.contoso.com")
        );
    }
    assert_eq!(server.log.tokens(), 1);
    assert_eq!(client.token_requests(), 1);
    let api = server.log.api();
    assert_eq!(api.len(), 20);
    assert!(api.iter().all(|s| {
        s.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer eyJ"))
    }));
}

#[tokio::test]
async fn token_request_uses_the_cloud_scope_despite_url_overrides() {
    let (client, _server, issuer) = client_for(machine_route()).await;
    client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect("machine");
    let forms = issuer.forms.lock().expect("forms").clone();
    let form = &forms[0];
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], super::SECRET);
    assert_eq!(form["scope"], Cloud::Commercial.defender_scope());
}

#[tokio::test]
async fn api_401_refreshes_the_token_once_then_succeeds() {
    let first_bearer = Arc::new(std::sync::Mutex::new(None::<String>));
    let router = Router::new().route(
        "/api/machines/{id}",
        get(move |headers: HeaderMap| {
            let first_bearer = first_bearer.clone();
            async move {
                let bearer = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut first = first_bearer.lock().expect("lock");
                if first.get_or_insert_with(|| bearer.clone()) == &bearer {
                    (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(error_body("Unauthorized", "expired")),
                    )
                        .into_response()
                } else {
                    ([("content-type", "application/json")], MACHINE).into_response()
                }
            }
        }),
    );
    let (client, server, _issuer) = client_for(router).await;
    let machine = client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect("succeeds with the fresh token");
    assert!(machine.id.is_some());
    assert_eq!(server.log.tokens(), 2);
    assert_eq!(server.log.api().len(), 2);
}

#[tokio::test]
async fn persistent_401_is_reported_after_one_refresh() {
    let router = Router::new().route(
        "/api/machines/{id}",
        get(|| async {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(error_body("Unauthorized", "No Tvm license")),
            )
        }),
    );
    let (client, server, _issuer) = client_for(router).await;
    let err = client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect_err("401");
    assert!(
        matches!(err, DefenderError::Unauthorized { ref message, ref target } if message == "No Tvm license" && target.as_deref() == Some("corr-1")),
        "{err:?}"
    );
    assert_eq!(server.log.tokens(), 2);
    assert_eq!(server.log.api().len(), 2);
    assert_no_secrets(&err);
}

#[tokio::test]
async fn entra_error_body_becomes_authentication_with_the_aadsts_code() {
    let router = machine_route().route(
        "/{tenant}/oauth2/v2.0/token",
        post(|| async {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1\r\nCorrelation ID: 2",
                    "error_codes": [7000215],
                })),
            )
        }),
    );
    let server = serve(router).await;
    let client = DefenderClient::new(settings_for(&server.base)).expect("client");
    let err = client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect_err("bad secret");
    match &err {
        DefenderError::Authentication {
            status,
            error,
            aadsts_code,
            ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(error, "invalid_client");
            assert_eq!(aadsts_code.as_deref(), Some("AADSTS7000215"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_no_secrets(&err);
    assert!(server.log.api().is_empty(), "no API call without a token");
}

#[tokio::test]
async fn token_info_reads_roles_and_audience_from_the_jwt() {
    let (client, _server, _issuer) = client_for(Router::new()).await;
    let info = client
        .token_info(TokenScope::Defender, &CallOptions::default())
        .await
        .expect("info");
    assert_eq!(info.roles, ["Machine.Read.All", "Machine.Isolate"]);
    assert_eq!(
        info.audience.as_deref(),
        Some("https://api.securitycenter.microsoft.com")
    );
    assert_eq!(info.tenant_id.as_deref(), Some("tenant-1"));
    assert_eq!(info.app_id.as_deref(), Some("client-1"));
    assert!(info.expires_at > std::time::SystemTime::now());
    let graph = client
        .token_info(TokenScope::Graph, &CallOptions::default())
        .await
        .expect("graph info");
    assert_eq!(
        graph.audience.as_deref(),
        Some("https://graph.microsoft.com")
    );
}

#[tokio::test]
async fn certificate_credential_sends_a_client_assertion() {
    let issuer = Arc::new(Issuer::default());
    let server = serve(with_token_endpoint(machine_route(), issuer.clone())).await;
    let mut settings = settings_for(&server.base);
    settings.credential = Credential::Certificate {
        assertion: SecretString::from("signed.assertion.jwt"),
    };
    let client = DefenderClient::new(settings).expect("client");
    client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect("machine");
    let forms = issuer.forms.lock().expect("forms").clone();
    assert_eq!(forms[0]["client_assertion"], "signed.assertion.jwt");
    assert_eq!(
        forms[0]["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!forms[0].contains_key("client_secret"));
}

#[tokio::test]
async fn short_lived_string_expiry_tokens_are_refreshed_at_half_life() {
    let issuer = Arc::new(Issuer {
        expires_in: Some(serde_json::json!("2")),
        ..Issuer::default()
    });
    let server = serve(with_token_endpoint(machine_route(), issuer.clone())).await;
    let client = DefenderClient::new(settings_for(&server.base)).expect("client");
    let opts = CallOptions::default();
    client.get_machine("a", &opts).await.expect("first");
    client.get_machine("a", &opts).await.expect("cached");
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    client.get_machine("a", &opts).await.expect("refreshed");
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 2);
}
