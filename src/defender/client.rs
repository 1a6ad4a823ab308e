//! `DefenderClient`: one typed method per Defender endpoint the service uses, on top of the
//! shared executor (budget, tokens, retries) and the paging policy.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::HuntingEvent;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::{TokenInfo, TokenProvider, TokenScope};
use super::budget::{ApiFamily, RateBudget};
use super::error::DefenderError;
use super::http::{Call, Executor, RetryClass};
use super::models::{
    Alert, HuntingResult, Machine, MachineAction, MachineReference, MachineVulnerability, Software,
    Vulnerability,
};
use super::odata::{ODataQuery, format_utc_seconds};
use super::paging::{Collection, LinkPolicy, Page, PageCursor};
use super::settings::{CallOptions, DefenderSettings};
use super::stats::{FamilyStats, UpstreamStats};

mod actions;

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

    /// The claims of our token for `scope` (roles, expiry, app, tenant, audience); fetches a
    /// token if none is cached. Contains no secret.
    pub async fn token_info(
        &self,
        scope: TokenScope,
        opts: &CallOptions,
    ) -> Result<TokenInfo, DefenderError> {
        self.inner.exec.tokens.info(scope, opts).await
    }

    /// `GET /api/machines/{id}`.
    pub async fn get_machine(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<Machine, DefenderError> {
        let url = self.api_url(&["machines", segment("machine id", id)?])?;
        self.get_json(url, ApiFamily::Machines, "machine", opts)
            .await
    }

    /// `GET /api/machines` (one page). Defender answers 404 when it has no recent machines;
    /// that is returned as an empty page.
    pub async fn list_machines(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Machine>, DefenderError> {
        let url = self.list_url(&["machines"], q, ApiFamily::Machines.max_page_size())?;
        match self
            .get_page(url, ApiFamily::Machines, "machines", opts)
            .await
        {
            Err(DefenderError::NotFound { .. }) => Ok(empty_page()),
            other => other,
        }
    }

    /// `GET /api/machines/findbyip(ip='{ip}',timestamp={at})`: machines seen with `ip` within
    /// 15 minutes of `at` (which must be within the last 30 days). No match is an empty list.
    pub async fn find_machines_by_ip(
        &self,
        ip: IpAddr,
        at: time::OffsetDateTime,
        opts: &CallOptions,
    ) -> Result<Vec<Machine>, DefenderError> {
        let function = findbyip_function(ip, at);
        let url = self.api_url(&["machines", &function])?;
        match self
            .collect_links(url, ApiFamily::Machines, "machines", opts)
            .await
        {
            Err(DefenderError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// `GET /api/machines/{id}/alerts`, following next links (up to 100,000 alerts).
    pub async fn list_machine_alerts(
        &self,
        machine_id: &str,
        opts: &CallOptions,
    ) -> Result<Vec<Alert>, DefenderError> {
        let url = self.api_url(&["machines", segment("machine id", machine_id)?, "alerts"])?;
        self.collect_links(url, ApiFamily::Alerts, "alerts", opts)
            .await
    }

    /// `GET /api/alerts` (one page).
    pub async fn list_alerts(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Alert>, DefenderError> {
        let url = self.list_url(&["alerts"], q, ApiFamily::Alerts.max_page_size())?;
        self.get_page(url, ApiFamily::Alerts, "alerts", opts).await
    }

    /// `GET /api/machines/{id}/vulnerabilities`, following next links (up to 100,000).
    pub async fn list_machine_vulnerabilities(
        &self,
        machine_id: &str,
        opts: &CallOptions,
    ) -> Result<Vec<Vulnerability>, DefenderError> {
        let url = self.api_url(&[
            "machines",
            segment("machine id", machine_id)?,
            "vulnerabilities",
        ])?;
        self.collect_links(
            url,
            ApiFamily::MachineVulnerabilities,
            "vulnerabilities",
            opts,
        )
        .await
    }

    /// `GET /api/vulnerabilities` (one page; `$top` at most 8,000).
    pub async fn list_vulnerabilities(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Vulnerability>, DefenderError> {
        let url = self.list_url(
            &["vulnerabilities"],
            q,
            ApiFamily::Vulnerabilities.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::Vulnerabilities, "vulnerabilities", opts)
            .await
    }

    /// `GET /api/vulnerabilities/machinesVulnerabilities` (one page): (machine, CVE, software)
    /// rows for bulk risk computation.
    pub async fn list_machines_vulnerabilities(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineVulnerability>, DefenderError> {
        let url = self.list_url(
            &["vulnerabilities", "machinesVulnerabilities"],
            q,
            MACHINES_VULNERABILITIES_MAX_TOP,
        )?;
        self.get_page(
            url,
            ApiFamily::Vulnerabilities,
            "machinesVulnerabilities",
            opts,
        )
        .await
    }

    /// `GET /api/Software/{id}`.
    pub async fn get_software(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<Software, DefenderError> {
        let url = self.api_url(&["Software", segment("software id", id)?])?;
        self.get_json(url, ApiFamily::Software, "software", opts)
            .await
    }

    /// `GET /api/Software` (one page).
    pub async fn list_software(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Software>, DefenderError> {
        let url = self.list_url(&["Software"], q, ApiFamily::Software.max_page_size())?;
        self.get_page(url, ApiFamily::Software, "software", opts)
            .await
    }

    /// `GET /api/Software/{id}/machineReferences` (one page): devices with that software.
    pub async fn list_software_machines(
        &self,
        software_id: &str,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineReference>, DefenderError> {
        let id = segment("software id", software_id)?;
        let url = self.list_url(
            &["Software", id, "machineReferences"],
            q,
            ApiFamily::Software.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::Software, "machineReferences", opts)
            .await
    }

    /// `GET /api/machineactions/{id}`.
    pub async fn get_machine_action(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let url = self.api_url(&["machineactions", segment("action id", id)?])?;
        self.get_json(url, ApiFamily::MachineActions, "machine action", opts)
            .await
    }

    /// `GET /api/machineactions` (one page).
    pub async fn list_machine_actions(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineAction>, DefenderError> {
        let url = self.list_url(
            &["machineactions"],
            q,
            ApiFamily::MachineActions.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::MachineActions, "machine actions", opts)
            .await
    }

    /// The first page of a bulk `list`, each item handed to `each` as it is decoded (the
    /// page's items are never held together); returns where the next page is. Continue with
    /// [`DefenderClient::fold_next_page`].
    pub async fn fold_list<T: DeserializeOwned>(
        &self,
        list: BulkList,
        q: &ODataQuery,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let (segments, max_top, what): (&[&str], u32, &str) = match list {
            BulkList::Alerts => (&["alerts"], ApiFamily::Alerts.max_page_size(), "alerts"),
            BulkList::MachinesVulnerabilities => (
                &["vulnerabilities", "machinesVulnerabilities"],
                MACHINES_VULNERABILITIES_MAX_TOP,
                "machinesVulnerabilities",
            ),
            BulkList::Vulnerabilities => (
                &["vulnerabilities"],
                ApiFamily::Vulnerabilities.max_page_size(),
                "vulnerabilities",
            ),
        };
        let url = self.list_url(segments, q, max_top)?;
        self.fold_get_page(url, list.family(), what, opts, each)
            .await
    }

    /// The page `next` points at, folded like [`DefenderClient::fold_list`]; the cursor is
    /// checked against the link policy first.
    pub async fn fold_next_page<T: DeserializeOwned>(
        &self,
        next: &PageCursor,
        family: ApiFamily,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let url = next.url().clone();
        self.inner.links.check(&url)?;
        self.fold_get_page(url, family, "next page", opts, each)
            .await
    }

    async fn fold_get_page<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
        each: &mut (dyn FnMut(T) + Send),
    ) -> Result<Option<PageCursor>, DefenderError> {
        let call = self.get_call(url, family);
        let bytes = self.inner.exec.execute(&call, opts).await?;
        self.inner.links.fold_page(&call.url, &bytes, what, each)
    }

    /// Reads the page `next` points at. The cursor's URL is checked against the link policy
    /// first: a foreign host is refused with no request. `family` picks the rate budget.
    pub async fn next_page<T: DeserializeOwned>(
        &self,
        next: &PageCursor,
        family: ApiFamily,
        opts: &CallOptions,
    ) -> Result<Page<T>, DefenderError> {
        let url = next.url().clone();
        self.inner.links.check(&url)?;
        self.get_page(url, family, "next page", opts).await
    }

    /// Follows `first.next` until the end or `max_items`; `complete` says whether the whole list
    /// was read. An error on any page fails the whole read.
    pub async fn collect_all<T: DeserializeOwned>(
        &self,
        first: Page<T>,
        family: ApiFamily,
        max_items: usize,
        opts: &CallOptions,
    ) -> Result<Collection<T>, DefenderError> {
        let mut items = first.items;
        let mut next = first.next;
        let mut visited = HashSet::new();
        loop {
            if items.len() >= max_items {
                let complete = items.len() == max_items && next.is_none();
                items.truncate(max_items);
                return Ok(Collection { items, complete });
            }
            let Some(cursor) = next else {
                return Ok(Collection {
                    items,
                    complete: true,
                });
            };
            if !visited.insert(cursor.url().clone()) {
                return Err(DefenderError::Decode {
                    what: "@odata.nextLink".into(),
                    message: "paging links form a loop".into(),
                });
            }
            let page = self.next_page::<T>(&cursor, family, opts).await?;
            items.extend(page.items);
            next = page.next;
        }
    }

    /// Defender `POST /api/advancedqueries/run` `{"Query"}`, the whole answer in memory (the
    /// service streams with [`DefenderClient::open_advanced_query`] instead). Read-only, so
    /// transient failures are retried (not timeouts: see the `http` module).
    pub async fn run_advanced_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingResult, DefenderError> {
        collect_hunt(self.open_advanced_query(query, opts).await?).await
    }

    /// Graph `POST {graph}/v1.0/security/runHuntingQuery` `{"Query"}` with a Graph token, the
    /// whole answer in memory (see [`DefenderClient::open_graph_hunting_query`]).
    pub async fn run_graph_hunting_query(
        &self,
        query: &str,
        opts: &CallOptions,
    ) -> Result<HuntingResult, DefenderError> {
        collect_hunt(self.open_graph_hunting_query(query, opts).await?).await
    }

    /// `{graph_base}/v1.0/security/runHuntingQuery`.
    pub(super) fn graph_hunting_url(&self) -> Result<Url, DefenderError> {
        let mut url = self.inner.graph_base.clone();
        url.path_segments_mut()
            .map_err(|()| DefenderError::Config("`graph_url` cannot be a base".into()))?
            .pop_if_empty()
            .extend(["v1.0", "security", "runHuntingQuery"]);
        Ok(url)
    }

    /// The shared call machinery (for the streamed hunting calls).
    pub(super) fn executor(&self) -> &Executor {
        &self.inner.exec
    }

    /// `{api_base}/api/{segments...}`; each segment is percent-encoded, so an id cannot add path.
    pub(super) fn api_url(&self, segments: &[&str]) -> Result<Url, DefenderError> {
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

    /// One page, then its next links (APIs without documented `$top`/`$skip`).
    async fn collect_links<T: DeserializeOwned>(
        &self,
        url: Url,
        family: ApiFamily,
        what: &str,
        opts: &CallOptions,
    ) -> Result<Vec<T>, DefenderError> {
        let first = self.get_page(url, family, what, opts).await?;
        let all = self
            .collect_all(first, family, PER_MACHINE_MAX_ITEMS, opts)
            .await?;
        if !all.complete {
            tracing::warn!(%family, max = PER_MACHINE_MAX_ITEMS, "per-machine list truncated");
        }
        Ok(all.items)
    }
}

/// The bulk lists that can be read item by item with [`DefenderClient::fold_list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkList {
    /// `GET /api/alerts`.
    Alerts,
    /// `GET /api/vulnerabilities/machinesVulnerabilities`.
    MachinesVulnerabilities,
    /// `GET /api/vulnerabilities`.
    Vulnerabilities,
}

impl BulkList {
    /// The rate budget its pages count against.
    pub fn family(self) -> ApiFamily {
        match self {
            BulkList::Alerts => ApiFamily::Alerts,
            BulkList::MachinesVulnerabilities | BulkList::Vulnerabilities => {
                ApiFamily::Vulnerabilities
            }
        }
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

/// Drains a hunting stream into one in-memory result: one request path for both forms.
async fn collect_hunt(
    mut stream: super::hunting_stream::HuntingStream,
) -> Result<HuntingResult, DefenderError> {
    let mut result = HuntingResult::default();
    while let Some(event) = stream.next_event().await {
        match event? {
            HuntingEvent::Schema(columns) => result.schema = columns,
            HuntingEvent::Row(row) => result.rows.push(row),
            HuntingEvent::Stats(stats) => result.stats = Some(stats),
        }
    }
    Ok(result)
}

/// The `findbyip(ip='…',timestamp=…)` path segment (also checked by the fuzz properties).
pub(crate) fn findbyip_function(ip: IpAddr, at: time::OffsetDateTime) -> String {
    format!("findbyip(ip='{ip}',timestamp={})", format_utc_seconds(at))
}
