//! Streamed hunting answers from real local servers: a body sent in small pieces, a body cut
//! short after some rows, a body that stalls, retries before the answer starts, and the
//! caller's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use futures::StreamExt as _;

use super::{Issuer, client_for, serve, settings_for, with_token_endpoint};
use crate::defender::{CallOptions, DefenderClient, DefenderError, HuntingEvent, HuntingStream};

const SAMPLE: &str = include_str!("../testdata/advanced_hunting_response.json");

/// A route at `path` whose body is `pieces`, sent one by one `gap` apart; `Err` pieces abort
/// the body (the connection drops mid-answer).
fn piecewise(path: &str, pieces: Vec<Result<String, String>>, gap: Duration) -> Router {
    Router::new().route(
        path,
        post(move || {
            let pieces = pieces.clone();
            async move {
                let stream = futures::stream::iter(pieces).then(move |piece| async move {
                    tokio::time::sleep(gap).await;
                    piece.map(Bytes::from).map_err(std::io::Error::other)
                });
                (
                    [("content-type", "application/json")],
                    Body::from_stream(stream),
                )
                    .into_response()
            }
        }),
    )
}

async fn drain(stream: &mut HuntingStream) -> (usize, Option<DefenderError>) {
    let mut rows = 0;
    while let Some(event) = stream.next_event().await {
        match event {
            Ok(HuntingEvent::Row(_)) => rows += 1,
            Ok(_) => {}
            Err(err) => return (rows, Some(err)),
        }
    }
    (rows, None)
}

#[tokio::test]
async fn a_body_sent_in_small_pieces_decodes_in_order() {
    let pieces = SAMPLE
        .as_bytes()
        .chunks(5)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let router = piecewise("/api/advancedqueries/run", pieces, Duration::ZERO);
    let (client, server, _) = client_for(router).await;
    let mut stream = client
        .open_advanced_query("DeviceProcessEvents | take 2", &CallOptions::default())
        .await
        .expect("open");
    let first = stream.next_event().await.expect("event").expect("schema");
    assert!(matches!(first, HuntingEvent::Schema(ref c) if c.len() == 4));
    let (rows, err) = drain(&mut stream).await;
    assert_eq!((rows, err.is_none()), (2, true));
    assert_eq!(stream.bytes_read(), SAMPLE.len());
    assert!(stream.next_event().await.is_none(), "fused after the end");
    assert_eq!(server.log.api().len(), 1);
}

#[tokio::test]
async fn a_body_cut_short_after_some_rows_ends_with_an_error_not_a_shorter_result() {
    let pieces = vec![
        Ok(r#"{"Schema":[{"Name":"A","Type":"String"}],"Results":[{"A":"1"},"#.to_owned()),
        Ok(r#"{"A":"2"},{"A":"#.to_owned()),
        Err("connection reset".to_owned()),
    ];
    let router = piecewise("/api/advancedqueries/run", pieces, Duration::ZERO);
    let (client, server, _) = client_for(router).await;
    let mut stream = client
        .open_advanced_query("T", &CallOptions::default())
        .await
        .expect("open");
    let (rows, err) = drain(&mut stream).await;
    assert_eq!(rows, 2);
    assert!(
        matches!(
            err,
            Some(DefenderError::Transport { .. } | DefenderError::Decode { .. })
        ),
        "{err:?}"
    );
    assert_eq!(server.log.api().len(), 1, "a body failure is not retried");
}

#[tokio::test]
async fn a_stalled_body_fails_after_the_idle_timeout() {
    let pieces = vec![
        Ok(r#"{"Schema":[],"Results":["#.to_owned()),
        Ok("]}".to_owned()),
    ];
    let router = piecewise(
        "/api/advancedqueries/run",
        pieces,
        Duration::from_millis(600),
    );
    let issuer = Arc::new(Issuer::default());
    let server = serve(with_token_endpoint(router, issuer)).await;
    let mut settings = settings_for(&server.base);
    settings.request_timeout = Duration::from_millis(200);
    let client = DefenderClient::new(settings).expect("client");
    // The head arrives at once; the first piece only after 600 ms.
    let mut stream = client
        .open_advanced_query("T", &CallOptions::default())
        .await
        .expect("open");
    let (_, err) = drain(&mut stream).await;
    assert!(
        matches!(err, Some(DefenderError::Transport { timeout: true, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_callers_deadline_bounds_the_body_read() {
    let pieces = vec![
        Ok(r#"{"Schema":[],"Results":["#.to_owned()),
        Ok("]}".to_owned()),
    ];
    let router = piecewise(
        "/api/advancedqueries/run",
        pieces,
        Duration::from_millis(400),
    );
    let (client, _server, _) = client_for(router).await;
    let opts = CallOptions {
        deadline: Some(tokio::time::Instant::now() + Duration::from_millis(150)),
    };
    let err = match client.open_advanced_query("T", &opts).await {
        Err(err) => err,
        Ok(mut stream) => drain(&mut stream).await.1.expect("deadline error"),
    };
    assert!(matches!(err, DefenderError::DeadlineExceeded), "{err:?}");
}

#[tokio::test]
async fn a_5xx_before_the_answer_starts_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(
        "/v1.0/security/runHuntingQuery",
        post(move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    (
                        [("content-type", "application/json")],
                        r#"{"schema":[{"name":"A","type":"Int64"}],"results":[{"A":1}]}"#,
                    )
                        .into_response()
                }
            }
        }),
    );
    let (client, server, issuer) = client_for(router).await;
    let mut stream = client
        .open_graph_hunting_query("T", &CallOptions::default())
        .await
        .expect("open after a retry");
    let (rows, err) = drain(&mut stream).await;
    assert_eq!((rows, err.is_none()), (1, true));
    assert_eq!(server.log.api().len(), 2);
    let forms = issuer.forms.lock().expect("forms").clone();
    assert_eq!(
        forms[0]["scope"],
        crate::defender::Cloud::Commercial.graph_scope()
    );
}

#[tokio::test]
async fn an_empty_query_is_refused_without_a_request() {
    let (client, server, _) = client_for(Router::new()).await;
    let err = client
        .open_graph_hunting_query("  ", &CallOptions::default())
        .await
        .expect_err("empty");
    assert!(matches!(err, DefenderError::BadRequest { ref code, .. } if code == "InvalidInput"));
    assert!(server.log.all().is_empty());
}
