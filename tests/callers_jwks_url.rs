//! JWTs verified with keys fetched from the issuer (`jwks_url`), over real sockets: a local
//! HTTP issuer publishes a JWKS; the service fetches it in the background, fetches again when a
//! token names a key id it does not know (rotation), keeps the keys in force when the issuer
//! fails and when the callers file is reloaded, and does not let tokens hammer the issuer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::callers::{bearer, key, reason, start};
use common::risk::by_id;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokio::sync::Mutex;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "defender-bridge";
const SUBJECT: &str = "system:serviceaccount:analytics:collector";

/// The local issuer: its JWKS, whether it fails, and how many fetches it saw.
#[derive(Default)]
struct Issuer {
    jwks: Mutex<String>,
    failing: AtomicBool,
    fetches: AtomicUsize,
}

async fn jwks(State(issuer): State<Arc<Issuer>>) -> axum::response::Response {
    issuer.fetches.fetch_add(1, Ordering::SeqCst);
    if issuer.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = issuer.jwks.lock().await.clone();
    // A long max-age: only unknown key ids make the service fetch again during the test.
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

struct EcKey {
    kid: &'static str,
    signing: EncodingKey,
    jwk: serde_json::Value,
}

fn ec_key(kid: &'static str) -> EcKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key");
    let point = pair.public_key_raw();
    EcKey {
        kid,
        signing: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk: json!({ "kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                     "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) }),
    }
}

fn token(key: &EcKey) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT,
                         "iat": now, "nbf": now - 10, "exp": now + 600 });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.into());
    jsonwebtoken::encode(&header, &claims, &key.signing).expect("sign")
}

fn publish(keys: &[&EcKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// Polls `f` until it returns true, failing after 30 s.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn keys_are_fetched_refreshed_on_rotation_and_kept_through_failures_and_reloads() {
    let a = ec_key("key-a");
    let b = ec_key("key-b");
    let issuer = Arc::new(Issuer::default());
    *issuer.jwks.lock().await = publish(&[&a]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route("/keys", axum::routing::get(jwks))
        .with_state(Arc::clone(&issuer));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let file = format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
         jwks_url = \"http://127.0.0.1:{port}/keys\"\n\
         subjects = {{ \"{SUBJECT}\" = [\"reader\"] }}\n"
    );
    let auth = start(&file, |_| {}).await;
    let env = &auth.env;
    let m = common::callers::machine(env);
    let call = async |token: &str| {
        env.risk()
            .get_endpoint_risk(bearer(by_id(&m), token))
            .await
            .map(|_| ())
    };

    // The first fetch happens in the background at start.
    let token_a = token(&a);
    eventually(
        "a token signed with the published key is accepted",
        async || call(&token_a).await.is_ok(),
    )
    .await;

    // Rotation: the issuer now publishes only key B. A token signed with B names an unknown
    // key id, which makes the service fetch again; then B is accepted and A no longer is.
    *issuer.jwks.lock().await = publish(&[&b]);
    let token_b = token(&b);
    let first = call(&token_b)
        .await
        .expect_err("unknown key id before the refetch");
    assert_eq!(reason(&first), "CALLER_NOT_AUTHENTICATED");
    eventually("the rotated key is fetched and accepted", async || {
        call(&token_b).await.is_ok()
    })
    .await;
    let old = call(&token_a).await.expect_err("the removed key");
    assert_eq!(reason(&old), "CALLER_NOT_AUTHENTICATED");

    // Tokens with made-up key ids cannot make the service hammer the issuer: at most one
    // fetch per 5 s (plus one in flight when the burst starts).
    let before = issuer.fetches.load(Ordering::SeqCst);
    let burst = Instant::now();
    let bogus = ec_key("made-up");
    for _ in 0..50 {
        let _ = call(&token(&bogus)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fetched = issuer.fetches.load(Ordering::SeqCst) - before;
    let allowed = 2 + (burst.elapsed().as_secs() / 5) as usize;
    assert!(
        fetched <= allowed,
        "{fetched} fetches for 50 bogus tokens (allowed {allowed})"
    );

    // A failing issuer: the keys in force stay.
    issuer.failing.store(true, Ordering::SeqCst);
    let before = issuer.fetches.load(Ordering::SeqCst);
    eventually("a refetch is attempted and fails", async || {
        let _ = call(&token(&bogus)).await;
        issuer.fetches.load(Ordering::SeqCst) > before
    })
    .await;
    call(&token_b)
        .await
        .expect("key B still accepted while the issuer fails");

    // A reload of the callers file (a new API key added) keeps the fetched keys: with the
    // issuer still failing, B can only work after the reload if its key was kept.
    let (api_key, entry) = key("added", &["reader"]);
    std::fs::write(&auth.callers, format!("{file}{entry}")).expect("rewrite callers");
    eventually("the reloaded file's new API key works", async || {
        call(&api_key).await.is_ok()
    })
    .await;
    call(&token_b)
        .await
        .expect("key B accepted after the reload, the issuer still failing");
}
