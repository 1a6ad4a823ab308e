//! Retries: Retry-After, deadlines, 5xx, timeouts, and the read-only hunting POST.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::time::Instant;

use super::{Issuer, client_for, error_body, serve, settings_for, with_token_endpoint};
use crate::defender::{ApiFamily, CallOptions, DefenderClient, DefenderError};

const MACHINE: &str = include_str!("../testdata/machine_docs_example.json");
const QUOTA_429: &str = include_str!("../testdata/error_429_quota.json");

/// A route answering with `first` for the first `failures` calls, then the machine.
fn failing_then_ok(
    failures: usize,
    first: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> Router {
    let calls = Arc::new(AtomicUsize::new(0));
    Router::new().route(
        "/api/machines/{id}",
        get(move || {
            let calls = calls.clone();
            let first = first.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) < failures {
                    first()
                } else {
                    ([("content-type", "application/json")], MACHINE).into_response()
                }
            }
        }),
    )
}

fn throttled(retry_after: &'static str) -> axum::response::Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            ("retry-after", retry_after),
            ("content-type", "application/json"),
        ],
        QUOTA_429,
    )
        .into_response()
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_retry_succeeds() {
    let (client, server, _) = client_for(failing_then_ok(1, || throttled("1"))).await;
    let started = Instant::now();
    let machine = client
        .get_machine("abc", &CallOptions::with_timeout(Duration::from_secs(10)))
        .await
        .expect("second attempt succeeds");
    assert!(machine.id.is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(server.log.api().len(), 2);
    let stats = client.stats();
    let machines = &stats[ApiFamily::Machines as usize];
    assert_eq!(
        (machines.throttled, machines.success, machines.retries),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn retry_after_past_the_deadline_returns_throttled_promptly() {
    // Retry-After 3 s is within max_delay (5 s in tests) but past the 2 s deadline.
    let (client, server, _) = client_for(failing_then_ok(usize::MAX, || throttled("3"))).await;
    let started = Instant::now();
    let opts = CallOptions::with_timeout(Duration::from_secs(2));
    let err = client
        .get_machine("abc", &opts)
        .await
        .expect_err("throttled");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    match &err {
        DefenderError::Throttled {
            retry_after,
            cpu_quota,
            target,
            ..
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3)));
            assert!(!cpu_quota);
            assert!(target.is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(server.log.api().len(), 1);
    // The 429 holds the whole family back: the next call is refused locally, without a request.
    let err = client.get_machine("abc", &opts).await.expect_err("blocked");
    assert!(matches!(
        err,
        DefenderError::RateBudgetExhausted {
            family: ApiFamily::Machines,
            ..
        }
    ));
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn long_retry_after_is_not_slept_even_without_a_deadline() {
    let (client, server, _) = client_for(failing_then_ok(usize::MAX, || throttled("600"))).await;
    let started = Instant::now();
    let opts = CallOptions::default();
    let err = client
        .get_machine("abc", &opts)
        .await
        .expect_err("throttled");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(600)));
    // The family is blocked for 10 minutes; without a deadline the budget still refuses
    // rather than stalling the caller.
    let err = client.get_machine("abc", &opts).await.expect_err("blocked");
    assert!(
        err.retry_after()
            .is_some_and(|d| d > Duration::from_secs(590))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let router = failing_then_ok(usize::MAX, || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(error_body("InternalServerError", "try later")),
        )
            .into_response()
    });
    let (client, server, _) = client_for(router).await;
    let err = client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect_err("503");
    assert!(
        matches!(err, DefenderError::Upstream { status: 503, ref code, .. } if code.as_deref() == Some("InternalServerError")),
        "{err:?}"
    );
    // One attempt plus max_retries (3).
    assert_eq!(server.log.api().len(), 4);
    assert_eq!(server.log.tokens(), 1);
}

#[tokio::test]
async fn a_5xx_then_success_is_invisible_to_the_caller() {
    let router = failing_then_ok(2, || StatusCode::BAD_GATEWAY.into_response());
    let (client, server, _) = client_for(router).await;
    client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect("third attempt succeeds");
    assert_eq!(server.log.api().len(), 3);
}

#[tokio::test]
async fn slow_upstream_ends_at_the_callers_deadline() {
    let router = Router::new().route(
        "/api/machines/{id}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            MACHINE
        }),
    );
    let (client, _server, _) = client_for(router).await;
    let started = Instant::now();
    let err = client
        .get_machine(
            "abc",
            &CallOptions::with_timeout(Duration::from_millis(400)),
        )
        .await
        .expect_err("deadline");
    assert!(matches!(err, DefenderError::DeadlineExceeded), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn attempt_timeout_is_retried_for_gets() {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/api/machines/{id}",
        get(move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                ([("content-type", "application/json")], MACHINE)
            }
        }),
    );
    let issuer = Arc::new(Issuer::default());
    let server = serve(with_token_endpoint(router, issuer)).await;
    let mut settings = settings_for(&server.base);
    settings.request_timeout = Duration::from_millis(300);
    let client = DefenderClient::new(settings).expect("client");
    client
        .get_machine("abc", &CallOptions::default())
        .await
        .expect("retry after the timeout succeeds");
    assert_eq!(server.log.api().len(), 2);
}

#[tokio::test]
async fn hunting_post_is_read_only_so_5xx_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/api/advancedqueries/run",
        post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let calls = calls.clone();
            async move {
                assert!(body.get("Query").is_some(), "capital-Q body: {body}");
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    (
                        [("content-type", "application/json")],
                        include_str!("../testdata/advanced_hunting_response.json"),
                    )
                        .into_response()
                }
            }
        }),
    );
    let (client, server, _) = client_for(router).await;
    let result = client
        .run_advanced_query("DeviceInfo | take 2", &CallOptions::default())
        .await
        .expect("hunting");
    assert_eq!(result.schema.len(), 4);
    assert_eq!(result.rows.len(), 2);
    assert_eq!(server.log.api().len(), 2);
}
