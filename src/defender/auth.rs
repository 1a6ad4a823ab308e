//! Access tokens: OAuth2 client credentials against the tenant's Entra token endpoint, cached.
//!
//! One moka entry per (tenant, scope), expiring `expires_in` less the refresh margin after it
//! was fetched; `try_get_with` makes concurrent callers share one fetch. A 401 from the API drops
//! the entry (`invalidate`) so the next call fetches a fresh token. The token and the credential
//! never reach a log, an error or a `Debug` output.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use moka::Expiry;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument as _;
use url::Url;

use super::error::{DefenderError, truncate};
use super::http::{parse_retry_after, read_body_capped, transport_error};
use super::settings::{CallOptions, Credential, DefenderSettings};

/// Which resource a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TokenScope {
    /// The Defender for Endpoint API (`WindowsDefenderATP` roles).
    Defender,
    /// Microsoft Graph (`ThreatHunting.Read.All` for hunting).
    Graph,
}

/// What a token says about us: read from its JWT payload, never the token itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// Granted application permissions (`roles` claim).
    pub roles: Vec<String>,
    /// When the token expires (`exp` claim, else `expires_in` from the token response).
    pub expires_at: SystemTime,
    /// `appid` (v1 tokens) or `azp` (v2 tokens).
    pub app_id: Option<String>,
    /// `tid`.
    pub tenant_id: Option<String>,
    /// `aud` (first one if several).
    pub audience: Option<String>,
}

/// A fetched token. `Debug` hides the bearer value.
pub(crate) struct AccessToken {
    pub(crate) bearer: SecretString,
    expires_at: SystemTime,
    /// How long the cache keeps it: `expires_in` less the margin.
    cache_for: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("bearer", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

type TokenKey = (String, TokenScope);

struct TokenExpiry;

impl Expiry<TokenKey, Arc<AccessToken>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        value: &Arc<AccessToken>,
        _created_at: StdInstant,
    ) -> Option<Duration> {
        Some(value.cache_for)
    }
}

/// Fetches and caches tokens for one app.
pub(crate) struct TokenProvider {
    http: reqwest::Client,
    token_url: Url,
    tenant_id: String,
    client_id: String,
    /// Shared with the clients derived from the same one (`DefenderClient::background`), so
    /// a reloaded secret reaches them all.
    credential: Arc<RwLock<Credential>>,
    defender_scope: &'static str,
    graph_scope: &'static str,
    margin: Duration,
    timeout: Duration,
    cache: Cache<TokenKey, Arc<AccessToken>>,
    fetches: AtomicU64,
    failures: AtomicU64,
    /// The last token request's result: [`LAST_NONE`], [`LAST_OK`] or [`LAST_FAILED`].
    last: AtomicU8,
}

const LAST_NONE: u8 = 0;
const LAST_OK: u8 = 1;
const LAST_FAILED: u8 = 2;

/// Entra's token response. `expires_in` is a number (v2) or a string (v1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    #[serde(default, deserialize_with = "super::models::lenient::opt_i64")]
    expires_in: Option<i64>,
}

/// Entra's error body.
#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<i64>>,
}

impl TokenProvider {
    pub(crate) fn new(
        settings: &DefenderSettings,
        http: reqwest::Client,
    ) -> Result<Self, DefenderError> {
        let mut token_url = settings.login_base();
        token_url
            .path_segments_mut()
            .map_err(|()| DefenderError::Config("`login_url` cannot be a base".into()))?
            .pop_if_empty()
            .extend([settings.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
        Ok(Self {
            http,
            token_url,
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.client_id.clone(),
            credential: Arc::new(RwLock::new(settings.credential.clone())),
            // URL overrides never change the scope: regional hosts and the simulator expect the
            // cloud's resource.
            defender_scope: settings.cloud.defender_scope(),
            graph_scope: settings.cloud.graph_scope(),
            margin: settings.token_refresh_margin,
            timeout: settings.request_timeout,
            cache: Cache::builder()
                .max_capacity(64)
                .expire_after(TokenExpiry)
                .build(),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last: AtomicU8::new(LAST_NONE),
        })
    }

    /// Shares `other`'s credential: a later [`TokenProvider::replace_credential`] on either
    /// applies to both.
    pub(crate) fn share_credential(&mut self, other: &TokenProvider) {
        self.credential = Arc::clone(&other.credential);
    }

    /// Uses `credential` for the next token requests (tokens already cached stay until they
    /// expire: they were issued and remain valid). Whether it differs from the one in use.
    pub(crate) fn replace_credential(&self, credential: Credential) -> bool {
        let mut current = self
            .credential
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let same = match (&*current, &credential) {
            (Credential::Secret(a), Credential::Secret(b)) => {
                a.expose_secret() == b.expose_secret()
            }
            (
                Credential::Certificate { assertion: a },
                Credential::Certificate { assertion: b },
            ) => a.expose_secret() == b.expose_secret(),
            _ => false,
        };
        if !same {
            *current = credential;
        }
        !same
    }

    /// Token requests sent so far (for stats and tests).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Token requests that failed so far.
    pub(crate) fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether the last token request succeeded; `None` before the first one.
    pub(crate) fn last_succeeded(&self) -> Option<bool> {
        match self.last.load(Ordering::Relaxed) {
            LAST_OK => Some(true),
            LAST_FAILED => Some(false),
            _ => None,
        }
    }

    fn key(&self, scope: TokenScope) -> TokenKey {
        (self.tenant_id.clone(), scope)
    }

    /// A valid token from the cache, or one fresh fetch shared by every concurrent caller.
    pub(crate) async fn token(
        &self,
        scope: TokenScope,
        opts: &CallOptions,
    ) -> Result<Arc<AccessToken>, DefenderError> {
        let fetch = self.cache.try_get_with(self.key(scope), self.fetch(scope));
        let result = match opts.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, fetch)
                .await
                .map_err(|_| DefenderError::DeadlineExceeded)?,
            None => fetch.await,
        };
        result.map_err(|shared| (*shared).clone())
    }

    /// Drops `used` from the cache if it is still the cached token (a 401 said it is bad); a
    /// token another caller already replaced is left alone.
    pub(crate) async fn invalidate(&self, scope: TokenScope, used: &Arc<AccessToken>) {
        let key = self.key(scope);
        let still_cached = self
            .cache
            .get(&key)
            .await
            .is_some_and(|current| Arc::ptr_eq(&current, used));
        if still_cached {
            self.cache.invalidate(&key).await;
        }
    }

    async fn fetch(&self, scope: TokenScope) -> Result<Arc<AccessToken>, DefenderError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        crate::metrics::CallContext::count_upstream();
        let span = super::http::attempt_span("token", &reqwest::Method::POST, 0);
        let result = self.request_token(scope).instrument(span).await;
        if result.is_ok() {
            self.last.store(LAST_OK, Ordering::Relaxed);
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.last.store(LAST_FAILED, Ordering::Relaxed);
        }
        result
    }

    async fn request_token(&self, scope: TokenScope) -> Result<Arc<AccessToken>, DefenderError> {
        let scope_value = match scope {
            TokenScope::Defender => self.defender_scope,
            TokenScope::Graph => self.graph_scope,
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("scope", scope_value),
        ];
        let credential = self
            .credential
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match &credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.expose_secret())),
            Credential::Certificate { assertion } => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", assertion.expose_secret()));
            }
        }
        tracing::debug!(?scope, "requesting access token");
        let response = tokio::time::timeout(
            self.timeout,
            self.http.post(self.token_url.clone()).form(&form).send(),
        )
        .await;
        let mut response = match response {
            Err(_) => {
                return Err(DefenderError::Transport {
                    message: "token request timed out".into(),
                    timeout: true,
                    ambiguous: false,
                });
            }
            Ok(Err(err)) => return Err(transport_error(&err, false)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        let retry_after = parse_retry_after(response.headers());
        let body = tokio::time::timeout(self.timeout, read_body_capped(&mut response))
            .await
            .map_err(|_| DefenderError::Transport {
                message: "token response timed out".into(),
                timeout: true,
                ambiguous: false,
            })?
            .map_err(|err| transport_error(&err, false))?;
        if !status.is_success() {
            return Err(token_error(status.as_u16(), &body, retry_after));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| DefenderError::decode("token response", e))?;
        let bearer = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| DefenderError::Decode {
                what: "token response".into(),
                message: "no `access_token`".into(),
            })?;
        let lifetime = match parsed.expires_in {
            Some(secs) if secs > 0 => Duration::from_secs(secs as u64),
            // No lifetime given: trust the JWT's `exp`, else keep it only briefly.
            _ => decode_claims(&bearer)
                .ok()
                .and_then(|c| c.exp)
                .and_then(|exp| {
                    let exp = UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).ok()?);
                    exp.duration_since(SystemTime::now()).ok()
                })
                .unwrap_or(Duration::from_secs(60)),
        };
        // Short-lived tokens: refresh at half-life rather than never caching them.
        let margin = self.margin.min(lifetime / 2);
        Ok(Arc::new(AccessToken {
            bearer: SecretString::from(bearer),
            expires_at: SystemTime::now() + lifetime,
            cache_for: lifetime - margin,
        }))
    }

    /// The claims of our own current token for `scope`.
    pub(crate) async fn info(
        &self,
        scope: TokenScope,
        opts: &CallOptions,
    ) -> Result<TokenInfo, DefenderError> {
        let token = self.token(scope, opts).await?;
        let claims = decode_claims(token.bearer.expose_secret())?;
        let expires_at = claims
            .exp
            .and_then(|exp| u64::try_from(exp).ok())
            .map(|exp| UNIX_EPOCH + Duration::from_secs(exp))
            .unwrap_or(token.expires_at);
        let audience = match claims.aud {
            Some(serde_json::Value::String(aud)) => Some(aud),
            Some(serde_json::Value::Array(auds)) => {
                auds.into_iter().find_map(|a| a.as_str().map(str::to_owned))
            }
            _ => None,
        };
        Ok(TokenInfo {
            roles: claims.roles.unwrap_or_default(),
            expires_at,
            app_id: claims.appid.or(claims.azp),
            tenant_id: claims.tid,
            audience,
        })
    }
}

/// The JWT payload claims we read.
#[derive(Deserialize, Default)]
pub(crate) struct Claims {
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::models::lenient::opt_i64")]
    exp: Option<i64>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

/// Reads a JWT's payload. No signature check: this is our own token, just received from Entra
/// over TLS, and we only read it to report our permissions; Defender verifies it, not us.
pub(crate) fn decode_claims(jwt: &str) -> Result<Claims, DefenderError> {
    let not_jwt = |message: &str| DefenderError::Decode {
        what: "access token claims".into(),
        message: message.into(),
    };
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| not_jwt("the token is not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| not_jwt("the token payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| not_jwt("the token payload is not a JSON object"))
}

/// Maps a token endpoint failure: an Entra error body becomes `Authentication` with the AADSTS
/// code; 429 is throttling (with its `Retry-After`) and 5xx upstream trouble, not bad
/// credentials.
fn token_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> DefenderError {
    let parsed: Option<EntraError> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|e| e.error_description.clone())
        .unwrap_or_else(|| truncate(&String::from_utf8_lossy(body)));
    if status == 429 {
        return DefenderError::Throttled {
            retry_after,
            cpu_quota: false,
            message: format!(
                "the token endpoint (Entra ID) throttled the app: {}",
                truncate(&message)
            ),
            target: None,
        };
    }
    if status >= 500 {
        return DefenderError::Upstream {
            status,
            code: parsed.and_then(|e| e.error),
            message: format!("token endpoint: {}", truncate(&message)),
            target: None,
        };
    }
    let entra = parsed.unwrap_or_default();
    let aadsts_code = entra
        .error_codes
        .as_ref()
        .and_then(|codes| codes.first())
        .map(|code| format!("AADSTS{code}"))
        .or_else(|| aadsts_in(&message));
    DefenderError::Authentication {
        status,
        error: entra.error.unwrap_or_else(|| "unknown_error".into()),
        aadsts_code,
        // Entra's description ends with trace and correlation ids on later lines; keep line one.
        description: truncate(message.lines().next().unwrap_or_default()),
    }
}

/// Finds `AADSTS<digits>` in a description.
fn aadsts_in(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let digits: String = text[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_parse_with_numeric_and_string_expiry() {
        let v2: TokenResponse =
            serde_json::from_str(include_str!("testdata/token_response_v2.json")).expect("v2");
        assert_eq!(v2.expires_in, Some(3599));
        let v1: TokenResponse =
            serde_json::from_str(include_str!("testdata/token_response_v1.json")).expect("v1");
        assert_eq!(v1.expires_in, Some(3599));
        assert!(v1.access_token.is_some());
    }

    #[test]
    fn entra_error_keeps_the_aadsts_code() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x\r\nCorrelation ID: y","error_codes":[7000215]}"#;
        match token_error(401, body, None) {
            DefenderError::Authentication {
                status,
                error,
                aadsts_code,
                description,
            } => {
                assert_eq!(status, 401);
                assert_eq!(error, "invalid_client");
                assert_eq!(aadsts_code.as_deref(), Some("AADSTS7000215"));
                assert_eq!(
                    description,
                    "AADSTS7000215: Invalid client secret provided."
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            aadsts_in("AADSTS90002: Tenant 'x' not found").as_deref(),
            Some("AADSTS90002")
        );
    }

    #[test]
    fn a_throttled_token_request_is_throttling_with_its_retry_after() {
        let body = br#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop."}"#;
        match token_error(429, body, Some(Duration::from_secs(7))) {
            DefenderError::Throttled {
                retry_after,
                cpu_quota,
                message,
                ..
            } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
                assert!(!cpu_quota);
                assert!(message.contains("token endpoint"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            token_error(503, b"down", None),
            DefenderError::Upstream { status: 503, .. }
        ));
    }

    #[test]
    fn claims_sample_decodes_from_a_jwt() {
        let payload = include_str!("testdata/token_claims_app_only.json");
        let jwt = format!(
            "e30.{}.sig",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
        );
        let claims = decode_claims(&jwt).expect("claims");
        assert_eq!(claims.roles.as_ref().map(Vec::len), Some(7));
        assert_eq!(claims.exp, Some(1_700_003_899));
        assert_eq!(
            claims.aud,
            Some(serde_json::Value::String(
                "https://api.securitycenter.microsoft.com".into()
            ))
        );
        assert!(decode_claims("opaque-token").is_err());
    }
}
