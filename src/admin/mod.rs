//! The admin HTTP listener (`--admin-listen`, default `127.0.0.1:9464`): plain HTTP/1.1, apart
//! from the gRPC port and never behind caller authentication, for Prometheus and for
//! orchestrators' probes.
//!
//! - `GET /metrics`: every series in the Prometheus text format ([`crate::metrics`]).
//! - `GET /healthz`: 200 while the process serves HTTP at all (liveness).
//! - `GET /readyz`: 200 when the service should get traffic: the configuration was valid (it
//!   started), the integration is enabled, the last token request succeeded or none has been
//!   made yet (a token is fetched with the first call), and shutdown has not begun; else 503
//!   with the reason in the body.
//!
//! SIGHUP handling lives here too ([`reload`]): it is the other half of operating the service.
//!
//! It exposes no secret and no caller data, but it does show call volumes: bind it to loopback
//! or a pod network that only the scraper reaches (the Helm chart's NetworkPolicy does).

pub mod reload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// A running admin listener.
#[derive(Debug)]
pub struct AdminServer {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Serves the admin endpoints for `state` on `listener` in the background.
    pub fn spawn(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                tracing::warn!(error = %err, "admin listener stopped");
            }
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops the listener and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        // A server dropped without `shutdown` (a test that ends early) stops listening too.
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    // Rendering reads every cache's counters and the budget under its lock: off the async
    // workers, so a scrape never stalls calls on the same thread.
    let rendered = tokio::task::spawn_blocking(move || state.metrics.render(&state)).await;
    match rendered {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics rendering failed\n",
        )
            .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match not_ready(&state) {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

/// Why the service should not get traffic now, if it should not.
pub fn not_ready(state: &AppState) -> Option<&'static str> {
    if *state.shutdown.borrow() {
        return Some("shutting down");
    }
    if !state.config.enabled {
        return Some("the Defender integration is disabled");
    }
    match &state.defender {
        None => Some("no Defender client"),
        Some(client) if client.last_token_succeeded() == Some(false) => {
            Some("the last token request failed (see the logs for the AADSTS code)")
        }
        Some(_) => None,
    }
}
