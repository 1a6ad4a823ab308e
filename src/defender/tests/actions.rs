//! Action POSTs: documented bodies, never retried, ambiguity of transport failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use tokio::io::AsyncReadExt as _;
use url::Url;

use super::{Issuer, client_for, error_body, serve, settings_for, with_token_endpoint};
use crate::defender::{
    ActionStatus, ActionType, CallOptions, DefenderClient, DefenderError, IsolationType, ScanType,
};

type Bodies = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Routes for the four actions that record (path, body) and answer with `answer`.
fn action_routes(bodies: Bodies, answer: fn(&str) -> axum::response::Response) -> Router {
    let record = move |kind: &'static str| {
        let bodies = bodies.clone();
        post(
            move |Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes| {
                let bodies = bodies.clone();
                async move {
                    assert_eq!(
                        headers.get("content-type").and_then(|v| v.to_str().ok()),
                        Some("application/json")
                    );
                    let json: serde_json::Value = serde_json::from_slice(&body).expect("json body");
                    bodies
                        .lock()
                        .expect("bodies")
                        .push((format!("{kind}:{id}"), json));
                    answer(kind)
                }
            },
        )
    };
    Router::new()
        .route("/api/machines/{id}/isolate", record("isolate"))
        .route("/api/machines/{id}/unisolate", record("unisolate"))
        .route("/api/machines/{id}/runAntiVirusScan", record("scan"))
        .route("/api/machineactions/{id}/cancel", record("cancel"))
}

fn created(kind: &str) -> axum::response::Response {
    let body = match kind {
        "isolate" => include_str!("../testdata/isolate_response.json"),
        "unisolate" => include_str!("../testdata/unisolate_response.json"),
        "scan" => include_str!("../testdata/scan_response.json"),
        _ => include_str!("../testdata/machine_action.json"),
    };
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

#[tokio::test]
async fn actions_send_the_documented_bodies() {
    let bodies: Bodies = Arc::default();
    let (client, _server, _) = client_for(action_routes(bodies.clone(), created)).await;
    let opts = CallOptions::default();
    let isolate = client
        .isolate_machine("m1", "alert 1234", IsolationType::Selective, &opts)
        .await
        .expect("isolate");
    assert_eq!(isolate.r#type, Some(ActionType::Isolate));
    assert_eq!(isolate.status, Some(ActionStatus::Pending));
    client
        .unisolate_machine("m1", "clean", &opts)
        .await
        .expect("unisolate");
    let scan = client
        .run_antivirus_scan("m1", "check", ScanType::Quick, &opts)
        .await
        .expect("scan");
    assert_eq!(scan.r#type, Some(ActionType::RunAntiVirusScan));
    client
        .cancel_machine_action("a1", "mistake", &opts)
        .await
        .expect("cancel");
    let bodies = bodies.lock().expect("bodies").clone();
    assert_eq!(
        bodies,
        vec![
            (
                "isolate:m1".into(),
                serde_json::json!({"Comment": "alert 1234", "IsolationType": "Selective"})
            ),
            (
                "unisolate:m1".into(),
                serde_json::json!({"Comment": "clean"})
            ),
            (
                "scan:m1".into(),
                serde_json::json!({"Comment": "check", "ScanType": "Quick"})
            ),
            (
                "cancel:a1".into(),
                serde_json::json!({"Comment": "mistake"})
            ),
        ]
    );
}

#[tokio::test]
async fn isolate_is_not_retried_on_500() {
    let bodies: Bodies = Arc::default();
    let router = action_routes(bodies.clone(), |_| {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    });
    let (client, server, _) = client_for(router).await;
    let err = client
        .isolate_machine("m1", "c", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("500");
    assert!(
        matches!(err, DefenderError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    let api = server.log.api();
    assert_eq!(api.len(), 1, "an action POST is never retried");
    assert_eq!(api[0].method, "POST");
    assert_eq!(api[0].uri, "/api/machines/m1/isolate");
}

#[tokio::test]
async fn a_created_answer_whose_body_is_cut_is_ambiguous_not_a_decode_failure() {
    let router = action_routes(Arc::default(), |kind| {
        let full = created(kind);
        let cut = &include_str!("../testdata/isolate_response.json")[..40];
        (full.status(), [("content-type", "application/json")], cut).into_response()
    });
    let (client, server, _) = client_for(router).await;
    let err = client
        .isolate_machine("m1", "c", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("unreadable answer");
    assert!(
        matches!(
            err,
            DefenderError::Transport {
                ambiguous: true,
                ..
            }
        ),
        "Defender took the request, so only the outcome is unknown: {err:?}"
    );
    assert_eq!(server.log.api().len(), 1, "not retried");
}

#[tokio::test]
async fn duplicate_action_maps_to_active_request_already_exists() {
    let router = action_routes(Arc::default(), |_| {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            include_str!("../testdata/error_400_active_request_already_exists.json"),
        )
            .into_response()
    });
    let (client, server, _) = client_for(router).await;
    let err = client
        .isolate_machine("m1", "c", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, DefenderError::ActiveRequestAlreadyExists { ref target, .. } if target.is_some()),
        "{err:?}"
    );
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn throttled_action_is_not_retried() {
    let router = action_routes(Arc::default(), |_| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(error_body("TooManyRequests", "slow down")),
        )
            .into_response()
    });
    let (client, server, _) = client_for(router).await;
    let err = client
        .run_antivirus_scan("m1", "c", ScanType::Full, &CallOptions::default())
        .await
        .expect_err("429");
    assert!(matches!(err, DefenderError::Throttled { .. }), "{err:?}");
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn empty_comment_is_refused_without_a_request() {
    let (client, server, _) = client_for(action_routes(Arc::default(), created)).await;
    let err = client
        .isolate_machine("m1", "  ", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("no comment");
    assert!(matches!(err, DefenderError::BadRequest { ref code, .. } if code == "InvalidInput"));
    assert!(server.log.all().is_empty());
}

/// A TCP server that reads a request and closes the connection without answering.
async fn hang_up_server() -> (Url, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    (Url::parse(&format!("http://{addr}/")).expect("url"), hits)
}

#[tokio::test]
async fn dropped_connection_after_sending_an_action_is_ambiguous() {
    let token_server = serve(with_token_endpoint(
        Router::new(),
        Arc::new(Issuer::default()),
    ))
    .await;
    let (api, hits) = hang_up_server().await;
    let mut settings = settings_for(&token_server.base);
    settings.api_url = Some(api);
    let client = DefenderClient::new(settings).expect("client");
    let err = client
        .isolate_machine("m1", "c", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("hung up");
    assert!(
        matches!(
            err,
            DefenderError::Transport {
                ambiguous: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
}

#[tokio::test]
async fn refused_connection_before_sending_is_not_ambiguous() {
    let token_server = serve(with_token_endpoint(
        Router::new(),
        Arc::new(Issuer::default()),
    ))
    .await;
    // Bind then drop a listener to get a port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut settings = settings_for(&token_server.base);
    settings.api_url = Some(Url::parse(&format!("http://{closed}/")).expect("url"));
    let client = DefenderClient::new(settings).expect("client");
    let err = client
        .isolate_machine("m1", "c", IsolationType::Full, &CallOptions::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            DefenderError::Transport {
                ambiguous: false,
                timeout: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains(&closed.to_string()),
        "no URL in messages: {err}"
    );
}
