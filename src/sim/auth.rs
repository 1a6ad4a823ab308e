//! The Entra ID token endpoint and bearer-token checks: client-credentials grants validated
//! like Entra does (tenant, app, secret or assertion, scope) with its AADSTS error bodies, and
//! JWT-shaped tokens whose `roles` claim drives Defender's 403s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;
use time::OffsetDateTime;

/// Which API a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Defender for Endpoint (WindowsDefenderATP).
    Defender,
    /// Microsoft Graph.
    Graph,
}

/// Maps a requested scope to (audience class, `aud` claim). Only `/.default` scopes of the
/// Defender and Graph resources of each cloud are accepted.
pub(crate) fn classify_scope(scope: &str) -> Option<(Audience, &'static str)> {
    let s = scope.trim().to_ascii_lowercase();
    let resource = s.strip_suffix("/.default")?;
    Some(match resource {
        "https://api.securitycenter.microsoft.com"
        | "https://securitycenter.onmicrosoft.com/windowsatpservice" => (
            Audience::Defender,
            "https://api.securitycenter.microsoft.com",
        ),
        "https://api-gcc.securitycenter.microsoft.us" => (
            Audience::Defender,
            "https://api-gcc.securitycenter.microsoft.us",
        ),
        "https://api-gov.securitycenter.microsoft.us"
        | "https://securitycenter.onmicrosoft.us/windowsatpservice" => (
            Audience::Defender,
            "https://api-gov.securitycenter.microsoft.us",
        ),
        "https://graph.microsoft.com" => (Audience::Graph, "https://graph.microsoft.com"),
        "https://graph.microsoft.us" => (Audience::Graph, "https://graph.microsoft.us"),
        "https://dod-graph.microsoft.us" => (Audience::Graph, "https://dod-graph.microsoft.us"),
        _ => return None,
    })
}

/// What the simulator remembers about an issued token.
#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    pub audience: Audience,
    pub tenant: String,
    pub app_id: String,
    pub roles: Vec<String>,
    pub expires: Instant,
}

/// Issued tokens by their full text.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    Unknown,
    Expired,
    WrongAudience,
}

impl AuthFailure {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Missing => "Authorization header is missing or is not a Bearer token",
            Self::Unknown => "The access token is invalid",
            Self::Expired => "The access token has expired",
            Self::WrongAudience => "The access token audience is not valid for this resource",
        }
    }
}

impl TokenStore {
    /// Checks `Authorization: Bearer <token>` for audience `want`.
    pub(crate) fn authenticate(
        &self,
        header: Option<&str>,
        want: Audience,
        now: Instant,
    ) -> Result<IssuedToken, AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?.trim();
        let (scheme, token) = header.split_once(' ').ok_or(AuthFailure::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::Missing);
        }
        let issued = self.tokens.get(token.trim()).ok_or(AuthFailure::Unknown)?;
        if now >= issued.expires {
            return Err(AuthFailure::Expired);
        }
        if issued.audience != want {
            return Err(AuthFailure::WrongAudience);
        }
        Ok(issued.clone())
    }

    fn insert(&mut self, token: String, issued: IssuedToken, now: Instant) {
        self.tokens.retain(|_, t| t.expires > now);
        self.tokens.insert(token, issued);
    }
}

/// Everything the token endpoint needs from the simulator.
pub(crate) struct TokenPolicy<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub roles: Vec<String>,
    pub lifetime: Duration,
}

/// Entra's error body for an AADSTS code; `extra` fills the message's blank (a scope, a
/// parameter name, a grant type).
pub(crate) fn entra_error(code: u32, tenant: &str, client: &str, extra: &str) -> Response {
    let (status, error, text) = match code {
        90002 => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into \
                 the correct cloud. Check with your subscription administrator, this may happen if there are no \
                 active subscriptions for the tenant."
            ),
        ),
        700016 => (
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen \
                 if the application has not been installed by the administrator of the tenant or consented to by \
                 any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        ),
        7000215 => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                 value, not the client secret ID, for a secret added to app '{client}'."
            ),
        ),
        7000222 => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!(
                "The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create \
                 new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials \
                 for added security: https://aka.ms/certCreds."
            ),
        ),
        7000218 => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        ),
        700027 => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client assertion failed signature validation.".into(),
        ),
        70011 => (
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input \
                 parameter 'scope' is not valid. The scope {extra} is not valid."
            ),
        ),
        70003 => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("The app requested an unsupported grant type '{extra}'."),
        ),
        900144 => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("The request body must contain the following parameter: '{extra}'."),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The simulator was asked to fail this token request.".into(),
        ),
    };
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let now = OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    json_plain(status, &body)
}

fn json_plain(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Handles a client-credentials token request (`v1` uses `resource=` and string numbers).
pub(crate) fn token_request(
    store: &mut TokenStore,
    policy: &TokenPolicy<'_>,
    tenant: &str,
    form: &[(String, String)],
    v1: bool,
) -> Response {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let client = get("client_id").unwrap_or_default();
    let fail = |code: u32, extra: &str| entra_error(code, tenant, client, extra);
    if !tenant.eq_ignore_ascii_case(policy.tenant_id) {
        return fail(90002, "");
    }
    match get("grant_type") {
        None => return fail(900144, "grant_type"),
        Some("client_credentials") => {}
        Some(other) => return fail(70003, other),
    }
    if get("client_id").is_none() {
        return fail(900144, "client_id");
    }
    if !client.eq_ignore_ascii_case(policy.client_id) {
        return fail(700016, "");
    }
    let scope = if v1 {
        get("resource").map(|r| format!("{}/.default", r.trim_end_matches('/')))
    } else {
        get("scope").map(str::to_string)
    };
    let Some(scope) = scope else {
        return fail(900144, if v1 { "resource" } else { "scope" });
    };
    let Some((audience, aud)) = classify_scope(&scope) else {
        return fail(70011, &scope);
    };
    let appidacr = match (get("client_secret"), get("client_assertion")) {
        (Some(secret), _) => {
            if secret != policy.client_secret {
                return fail(7000215, "");
            }
            "1"
        }
        (None, Some(assertion)) => {
            let parts: Vec<&str> = assertion.split('.').collect();
            if get("client_assertion_type") != Some(ASSERTION_TYPE)
                || parts.len() != 3
                || parts.iter().any(|p| p.is_empty())
            {
                return fail(700027, "");
            }
            "2"
        }
        (None, None) => return fail(7000218, ""),
    };
    let now = OffsetDateTime::now_utc();
    let lifetime = policy.lifetime.as_secs();
    let token = mint(policy, aud, appidacr, now, lifetime);
    store.insert(
        token.clone(),
        IssuedToken {
            audience,
            tenant: policy.tenant_id.to_string(),
            app_id: policy.client_id.to_string(),
            roles: policy.roles.clone(),
            expires: Instant::now() + policy.lifetime,
        },
        Instant::now(),
    );
    let body = if v1 {
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now.unix_timestamp() + lifetime as i64).to_string(),
            "not_before": now.unix_timestamp().to_string(),
            "resource": aud,
            "access_token": token,
        })
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        })
    };
    json_plain(StatusCode::OK, &body)
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Builds `header.payload.signature` with app-only claims; the signature is random bytes.
fn mint(
    policy: &TokenPolicy<'_>,
    aud: &str,
    appidacr: &str,
    now: OffsetDateTime,
    lifetime: u64,
) -> String {
    let mut rng = rand::rng();
    let mut sig = [0u8; 64];
    rng.fill_bytes(&mut sig);
    let mut uti = [0u8; 16];
    rng.fill_bytes(&mut uti);
    let tid = policy.tenant_id;
    let iat = now.unix_timestamp();
    // The service principal's object id: stable per app, as in Entra.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(policy.client_id.as_bytes());
    let oid = uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or_default())
        .into_uuid()
        .to_string();
    let header =
        json!({"typ": "JWT", "alg": "RS256", "x5t": "sim-signing-key", "kid": "sim-signing-key"});
    let payload = json!({
        "aud": aud,
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime as i64,
        "appid": policy.client_id,
        "appidacr": appidacr,
        "idp": format!("https://sts.windows.net/{tid}/"),
        "oid": oid,
        "sub": oid,
        "roles": policy.roles,
        "tid": tid,
        "uti": URL_SAFE_NO_PAD.encode(uti),
        "jti": uuid::Uuid::new_v4().to_string(),
        "ver": "1.0",
    });
    format!(
        "{}.{}.{}",
        b64(&header),
        b64(&payload),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// The 403 message Defender gives when no required role was granted.
pub(crate) fn missing_roles_message(required: &[&str], granted: &[String]) -> String {
    format!(
        "Missing application roles. API required roles: {}, application roles: {}.",
        required.join(","),
        granted.join(",")
    )
}

/// Decodes a token's payload (tests and diagnostics).
#[cfg(test)]
pub(crate) fn decode_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TokenPolicy<'static> {
        TokenPolicy {
            tenant_id: "tid",
            client_id: "cid",
            client_secret: "s3cret",
            roles: vec!["Machine.Read.All".into()],
            lifetime: Duration::from_secs(3599),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn good() -> Vec<(String, String)> {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cid"),
            ("client_secret", "s3cret"),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ])
    }

    async fn body(r: Response) -> (StatusCode, serde_json::Value) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn a_valid_request_gets_a_jwt_with_roles_and_the_defender_audience() {
        let mut store = TokenStore::default();
        let (status, b) = body(token_request(&mut store, &policy(), "tid", &good(), false)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["expires_in"], 3599);
        let token = b["access_token"].as_str().expect("token");
        let claims = decode_claims(token).expect("claims");
        assert_eq!(claims["aud"], "https://api.securitycenter.microsoft.com");
        assert_eq!(claims["roles"][0], "Machine.Read.All");
        assert_eq!(claims["tid"], "tid");
        let header = format!("Bearer {token}");
        assert!(
            store
                .authenticate(Some(&header), Audience::Defender, Instant::now())
                .is_ok()
        );
        assert_eq!(
            store
                .authenticate(Some(&header), Audience::Graph, Instant::now())
                .map(|_| ()),
            Err(AuthFailure::WrongAudience)
        );
        assert_eq!(
            store
                .authenticate(
                    Some(&header),
                    Audience::Defender,
                    Instant::now() + Duration::from_secs(4000)
                )
                .map(|_| ()),
            Err(AuthFailure::Expired)
        );
    }

    #[tokio::test]
    async fn entra_errors_carry_the_aadsts_code_and_status() {
        let mut store = TokenStore::default();
        type Case = (Vec<(String, String)>, &'static str, u16, u32);
        let cases: Vec<Case> = vec![
            (good(), "other-tenant", 400, 90002),
            (
                form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "nope"),
                    ("client_secret", "s3cret"),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]),
                "tid",
                400,
                700016,
            ),
            (
                form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "cid"),
                    ("client_secret", "bad"),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]),
                "tid",
                401,
                7000215,
            ),
            (
                form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "cid"),
                    ("client_secret", "s3cret"),
                    ("scope", "https://api.security.microsoft.com/user.read"),
                ]),
                "tid",
                400,
                70011,
            ),
        ];
        for (f, tenant, status, code) in cases {
            let (s, b) = body(token_request(&mut store, &policy(), tenant, &f, false)).await;
            assert_eq!(s.as_u16(), status, "{b}");
            assert_eq!(b["error_codes"][0], code);
            let desc = b["error_description"].as_str().expect("desc");
            assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
            assert!(desc.contains("Trace ID: ") && desc.contains("Timestamp: "));
        }
    }

    #[test]
    fn every_documented_scope_maps_to_its_audience() {
        for (scope, aud) in [
            (
                "https://api.securitycenter.microsoft.com/.default",
                Audience::Defender,
            ),
            (
                "https://securitycenter.onmicrosoft.com/windowsatpservice/.default",
                Audience::Defender,
            ),
            (
                "https://api-gcc.securitycenter.microsoft.us/.default",
                Audience::Defender,
            ),
            (
                "https://api-gov.securitycenter.microsoft.us/.default",
                Audience::Defender,
            ),
            (
                "https://securitycenter.onmicrosoft.us/windowsatpservice/.default",
                Audience::Defender,
            ),
            ("https://graph.microsoft.com/.default", Audience::Graph),
            ("https://graph.microsoft.us/.default", Audience::Graph),
            ("https://dod-graph.microsoft.us/.default", Audience::Graph),
        ] {
            assert_eq!(classify_scope(scope).map(|x| x.0), Some(aud), "{scope}");
        }
        assert!(classify_scope("https://api.securitycenter.microsoft.com").is_none());
        assert!(classify_scope("https://evil.example/.default").is_none());
    }

    #[test]
    fn forbidden_message_lists_required_and_granted_roles() {
        let m = missing_roles_message(
            &["Machine.Read.All", "Machine.ReadWrite.All"],
            &["Machine.Isolate".to_string()],
        );
        assert_eq!(
            m,
            "Missing application roles. API required roles: Machine.Read.All,Machine.ReadWrite.All, application roles: Machine.Isolate."
        );
    }
}
