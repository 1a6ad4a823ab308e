//! Client tests against real local HTTP servers (axum on 127.0.0.1:0): a fake Entra token
//! endpoint plus per-test fake Defender routes. Each server records what it received, so tests
//! can count token fetches, retries, and requests that must never have been made.

mod actions;
mod auth;
mod paging;
mod reads;
mod retries;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use secrecy::SecretString;
use tokio::sync::oneshot;
use url::Url;

use super::{Cloud, Credential, DefenderClient, DefenderSettings, RetryPolicy};

/// The client secret used in tests; no error or log may contain it.
pub(super) const SECRET: &str = "s3cret-value-never-logged";

/// One request a fake server received.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub method: String,
    /// Raw path and query, as sent.
    pub uri: String,
    pub authorization: Option<String>,
}

/// What a fake server received.
#[derive(Default)]
pub(super) struct Log {
    seen: Mutex<Vec<Seen>>,
}

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().expect("log lock").clone()
    }

    /// Requests other than token requests.
    pub fn api(&self) -> Vec<Seen> {
        self.all()
            .into_iter()
            .filter(|s| !s.uri.contains("/oauth2/"))
            .collect()
    }

    pub fn tokens(&self) -> usize {
        self.all()
            .iter()
            .filter(|s| s.uri.contains("/oauth2/v2.0/token"))
            .count()
    }
}

/// A running fake server; dropping it shuts the server down.
pub(super) struct Server {
    pub base: Url,
    pub log: Arc<Log>,
    _shutdown: oneshot::Sender<()>,
}

/// Serves `router` on 127.0.0.1:0, logging every request.
pub(super) async fn serve(router: Router) -> Server {
    let log = Arc::new(Log::default());
    let recorder = log.clone();
    let router = router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let recorder = recorder.clone();
        async move {
            recorder.seen.lock().expect("log lock").push(Seen {
                method: req.method().to_string(),
                uri: req.uri().to_string(),
                authorization: req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            });
            next.run(req).await
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Server {
        base: Url::parse(&format!("http://{addr}/")).expect("url"),
        log,
        _shutdown: tx,
    }
}

/// A JWT-shaped token whose payload carries `claims` (the signature is junk: nobody checks it).
pub(super) fn fake_jwt(claims: &serde_json::Value) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// The fake Entra token endpoint's state: it numbers the tokens it issues and keeps the forms.
#[derive(Default)]
pub(super) struct Issuer {
    pub issued: AtomicUsize,
    pub forms: Mutex<Vec<HashMap<String, String>>>,
    pub delay: Duration,
    pub expires_in: Option<serde_json::Value>,
}

async fn issue_token(
    State(issuer): State<Arc<Issuer>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    tokio::time::sleep(issuer.delay).await;
    let n = issuer.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let scope = form.get("scope").cloned().unwrap_or_default();
    issuer.forms.lock().expect("forms lock").push(form);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or_default();
    let token = fake_jwt(&serde_json::json!({
        "aud": scope.trim_end_matches("/.default"),
        "tid": "tenant-1",
        "appid": "client-1",
        "exp": exp,
        "n": n,
        "roles": ["Machine.Read.All", "Machine.Isolate"],
    }));
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "expires_in": issuer.expires_in.clone().unwrap_or(serde_json::json!(3599)),
        "access_token": token,
    }))
    .into_response()
}

/// A router with the token endpoint at `/{tenant}/oauth2/v2.0/token`.
pub(super) fn with_token_endpoint(router: Router, issuer: Arc<Issuer>) -> Router {
    router.merge(
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(issue_token))
            .with_state(issuer),
    )
}

/// Settings pointing every host at `base`, with fast retries for tests.
pub(super) fn settings_for(base: &Url) -> DefenderSettings {
    let mut settings = DefenderSettings::new(
        Cloud::Commercial,
        "tenant-1",
        "client-1",
        Credential::Secret(SecretString::from(SECRET)),
    );
    settings.api_url = Some(base.clone());
    settings.login_url = Some(base.clone());
    settings.graph_url = Some(base.clone());
    settings.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    };
    settings.request_timeout = Duration::from_secs(5);
    settings
}

/// Serves `router` plus a token endpoint and returns a client wired to it.
pub(super) async fn client_for(router: Router) -> (DefenderClient, Server, Arc<Issuer>) {
    let issuer = Arc::new(Issuer::default());
    let server = serve(with_token_endpoint(router, issuer.clone())).await;
    let client = DefenderClient::new(settings_for(&server.base)).expect("client");
    (client, server, issuer)
}

/// A Defender error body.
pub(super) fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "message": message, "target": "corr-1"}})
}

/// Asserts that no text derived from `err` carries the client secret or a bearer token.
pub(super) fn assert_no_secrets(err: &super::DefenderError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
        assert!(!text.contains("eyJ"), "token leaked: {text}");
    }
}
