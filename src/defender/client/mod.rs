//! `DefenderClient`: one typed method per Defender endpoint the service uses, on top of the
//! shared executor (budget, tokens, retries) and the paging policy.
//!
//! This file holds the client itself (construction, counters, URLs, the shared `GET`); the
//! methods live in one file per concern: `reads` (entity `GET`s), `pages` (bulk lists folded
//! item by item, next links, whole lists), `actions` (the never-retried action `POST`s),
//! `hunting` (advanced hunting, streamed or whole) and `raw_page` (machine pages read now and decoded
//! item by item later, by `StreamFleetRisk`).

use std::sync::Arc;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::{TokenInfo, TokenProvider, TokenScope};
use super::budget::{ApiFamily, RateBudget};
use super::error::DefenderError;
use super::http::{Call, Executor, RetryClass};
use super::odata::ODataQuery;
use super::paging::{LinkPolicy, Page};
use super::settings::{CallOptions, DefenderSettings};
use super::stats::{FamilyStats, UpstreamStats};

mod actions;
mod hunting;
mod pages;
mod raw_page;
mod reads;

pub use hunting::HuntingStream;
pub use pages::BulkList;
pub use raw_page::RawPage;
pub(crate) use reads::findbyip_function;

/// Most items the per-machine lists (alerts, vulnerabilities) gather across next links.
const PER_MACHINE_MAX_ITEMS: usize = 100_000;

/// Most `$top` of the `machinesVulnerabilities` rows (the CVE list itself allows 8,000).
const MACHINES_VULNERABILITIES_MAX_TOP: u32 = 10_000;

/// The Defender for Endpoint (and Graph hunting) client of one tenant. Cheap to clone.
#[derive(Clone)]
pub struct DefenderClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: DefenderSettings,
    exec: Executor,
    links: LinkPolicy,
    api_base: Url,
    graph_base: Url,
}

impl std::fmt::Debug for DefenderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefenderClient")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl DefenderClient {
    /// A client with its own rate budget.
    pub fn new(settings: DefenderSettings) -> Result<Self, DefenderError> {
        let budget = RateBudget::new(settings.rate_limits.enabled, settings.rate_limits.share);
        Self::with_rate_budget(settings, budget)
    }

    /// A client sharing `budget` with other clients of the same tenant in this process (the
    /// budget's own `enabled`/`share` apply, not the settings').
    pub fn with_rate_budget(
        settings: DefenderSettings,
        budget: Arc<RateBudget>,
    ) -> Result<Self, DefenderError> {
        settings.validate()?;
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            // A redirect could carry the bearer token to another host: treat 3xx as an error.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(
                settings
                    .request_timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .user_agent(concat!("defender-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DefenderError::Config(format!("cannot build the HTTP client: {e}")))?;
        let tokens = TokenProvider::new(&settings, http.clone())?;
        let api_base = settings.api_base();
        let exec = Executor {
            http,
            tokens,
            budget,
            stats: UpstreamStats::default(),
            tenant: settings.tenant_id.clone(),
            retry: settings.retry.clone(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                links: LinkPolicy::new(api_base.clone(), settings.cloud.defender_api_domains()),
                graph_base: settings.graph_base(),
                api_base,
                exec,
                settings,
            }),
        })
    }

    /// A client for background reads (the fleet sweeps) that may use only `fraction` of this
    /// client's rate budget, and whose calls count in this client's budget too. It has its own
    /// token cache and call counters (so the background reads are counted apart).
    pub fn background(&self, fraction: f64) -> Result<Self, DefenderError> {
        let budget = RateBudget::share_of(&self.inner.exec.budget, fraction);
        let mut client = Self::with_rate_budget(self.inner.settings.clone(), budget)?;
        // A reloaded secret (SIGHUP) reaches the background client too.
        if let Some(inner) = Arc::get_mut(&mut client.inner) {
            inner.exec.tokens.share_credential(&self.inner.exec.tokens);
        }
        Ok(client)
    }

    /// Uses `credential` for the next token requests of this client and of the clients
    /// derived from it ([`DefenderClient::background`]): what a reload of the client secret
    /// file does. Cached tokens stay until they expire. Whether it changed.
    pub fn replace_credential(&self, credential: super::Credential) -> bool {
        self.inner.exec.tokens.replace_credential(credential)
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &DefenderSettings {
        &self.inner.settings
    }

    /// Upstream call counters per API family.
    pub fn stats(&self) -> Vec<FamilyStats> {
        self.inner.exec.stats.snapshot()
    }

    /// Token requests sent to Entra so far.
    pub fn token_requests(&self) -> u64 {
        self.inner.exec.tokens.fetch_count()
    }

    /// Token requests that failed so far.
    pub fn token_failures(&self) -> u64 {
        self.inner.exec.tokens.failure_count()
    }

    /// Whether the last token request succeeded; `None` before the first one (readiness).
    pub fn last_token_succeeded(&self) -> Option<bool> {
        self.inner.exec.tokens.last_succeeded()
    }

    /// The `defender_request_duration_seconds` histogram of this client (for `/metrics`).
    pub fn request_durations(&self) -> prometheus::HistogramVec {
        self.inner.exec.stats.durations()
    }

    /// Calls the local rate budget would still admit now for `family`, per window (minute,
    /// hour).
    pub fn budget_remaining(&self, family: super::ApiFamily) -> [usize; 2] {
        self.inner
            .exec
            .budget
            .remaining(&self.inner.exec.tenant, family)
    }

    /// The claims of our token for `scope` (roles, expiry, app, tenant, audience); fetches a
    /// token if none is cached. Contains no secret.
    pub async fn token_info(
        &self,
        scope: TokenScope,
        opts: &CallOptions,
    ) -> Result<TokenInfo, DefenderError> {
        self.inner.exec.tokens.info(scope, opts).await
    }

    /// The shared call machinery (for the streamed hunting calls).
    fn executor(&self) -> &Executor {
        &self.inner.exec
    }

    /// `{api_base}/api/{segments...}`; each segment is percent-encoded, so an id cannot add path.
    fn api_url(&self, segments: &[&str]) -> Result<Url, DefenderError> {
        let mut url = self.inner.api_base.clone();
        url.path_segments_mut()
            .map_err(|()| DefenderError::Config("`api_url` cannot be a base".into()))?
            .pop_if_empty()
            .push("api")
            .extend(segments);
        Ok(url)
    }

    fn list_url(
        &self,
        segments: &[&str],
        q: &ODataQuery,
        max_top: u32,
    ) -> Result<Url, DefenderError> {
        let mut url = self.api_url(segments)?;
        q.apply(&mut url, max_top);
        Ok(url)
    }

    fn get_call(&self, url: Url, family: ApiFamily) -> Call<'static> {
        Call {
            method: Method::GET,
            url,
            family,
            scope: TokenScope::Defender,
            body: None,
            retry: RetryClass::Idempotent,
            timeout: self.inner.settings.request_timeout,
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
    ) -> Result<T, DefenderError> {
        let bytes = self
            .inner
            .exec
            .execute(&self.get_call(url, family), opts)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| DefenderError::decode(what, e))
    }

    async fn get_page<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
    ) -> Result<Page<T>, DefenderError> {
        let call = self.get_call(url, family);
        let bytes = self.inner.exec.execute(&call, opts).await?;
        self.inner.links.page(&call.url, &bytes, what)
    }
}

fn empty_page<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next: None,
    }
}

/// Refuses ids that are empty, `.`/`..` (path tricks) or contain control characters, before any
/// request is made.
fn segment<'a>(what: &str, value: &'a str) -> Result<&'a str, DefenderError> {
    let ok = !value.is_empty()
        && value.len() <= 512
        && value != "."
        && value != ".."
        && !value.chars().any(char::is_control);
    if ok {
        Ok(value)
    } else {
        Err(DefenderError::invalid_input(format!("invalid {what}")))
    }
}

/// Defender requires a comment on every action.
fn non_empty_comment(comment: &str) -> Result<&str, DefenderError> {
    if comment.trim().is_empty() {
        Err(DefenderError::invalid_input(
            "an action comment is required",
        ))
    } else {
        Ok(comment)
    }
}
