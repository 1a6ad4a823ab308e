//! The Defender simulator: a local stand-in for Microsoft Defender for Endpoint, the Entra ID token
//! endpoint and Microsoft Graph's hunting API, on one port. It follows Defender's documented wire
//! format (JSON casing, status codes, error bodies, `@odata` paging, rate limits, the
//! machine-action state machine) over a deterministic generated fleet, and records every request so
//! tests can count upstream calls. `defender-bridge sim`, `demo` and the integration tests all run
//! it.
//!
//! Layout: [`fleet`] (the data set) built by `generate` from the `catalog` (software,
//! vulnerabilities) with `alerts` rebuilt on demand and `rng` for stable randomness; `paths`
//! (route table, roles, rate families) and `routes` (request log, faults, auth gate, dispatch);
//! handlers in `api_machines`, `api_alerts`, `api_tvm`, `actions` and `hunting`; `odata`,
//! `odata_lex` and `query` (`$filter` and paging options); `auth` (Entra tokens); `faults`;
//! `ratelimit`; `control` (the `/_sim` control plane); `wire` (envelopes and error bodies).
//!
//! Modelling choices worth knowing: string comparisons in `$filter` are case-insensitive;
//! rate limits follow the rows of Defender's table (get/list/findbyip machines share one
//! budget, as do the three action POSTs); `findbyip` treats `Active` machines as online up to
//! the present; alerts live on machines with a risk score other than None, vulnerabilities on
//! machines with an exposure level other than None.

mod actions;
mod alerts;
mod api_alerts;
mod api_machines;
mod api_tvm;
mod auth;
mod catalog;
mod changes;
mod control;
mod faults;
pub mod fleet;
mod generate;
mod hunting;
mod odata;
mod odata_lex;
mod paths;
mod query;
mod ratelimit;
mod rng;
mod routes;
mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use actions::{ActionOutcome, ActionPlan};
pub use alerts::{ALERT_SEVERITIES, SimAlert, alert_severity_rank};
pub use catalog::{
    PlatformClass, SimSoftware, SimVulnerability, VULN_SEVERITIES, vuln_severity_rank,
};
pub use changes::MachineChange;
pub use faults::{Fault, FaultKind};
pub use fleet::{EXPOSURE_LEVELS, Fleet, MachineSummary, RISK_SCORES, SimIpAddress, SimMachine};
pub use odata::ODataError;
pub use ratelimit::ApiFamily;
// For the fuzz properties (`crate::fuzzing`): filters built by the client are parsed back here.
pub(crate) use api_machines::{MACHINE_SCHEMA, parse_find_by_ip};
pub(crate) use odata::{Clause, Filter as SimFilter, parse_datetime};
pub(crate) use query::QueryOptions;

/// Every application role the simulator knows; tokens carry all of them by default.
pub const ALL_ROLES: &[&str] = &[
    "Machine.Read.All",
    "Machine.ReadWrite.All",
    "Alert.Read.All",
    "Alert.ReadWrite.All",
    "Vulnerability.Read.All",
    "Software.Read.All",
    "Machine.Isolate",
    "Machine.Scan",
    "AdvancedQuery.Read.All",
    "ThreatHunting.Read.All",
];

/// How the simulator behaves. `Debug` redacts the client secret.
#[derive(Clone)]
pub struct SimConfig {
    /// Fleet size (default 1,000).
    pub machines: usize,
    /// Fleet seed (default 1).
    pub seed: u64,
    /// The only tenant the token endpoint knows.
    pub tenant_id: String,
    /// The only app id the token endpoint knows.
    pub client_id: String,
    /// The app's secret (default `sim-secret`).
    pub client_secret: String,
    /// `roles` claim of issued tokens (default [`ALL_ROLES`]).
    pub roles: Vec<String>,
    /// Enforce Defender's published per-minute/per-hour limits with 429 + Retry-After.
    pub rate_limits: bool,
    /// Emit `@odata.nextLink` when more data exists; false = clients must page with `$skip`.
    pub next_links: bool,
    /// If set, nextLinks use this origin instead of the request's (to test foreign-host refusal).
    pub next_link_base: Option<String>,
    /// Page size when the caller gives no `$top` (capped by each API's maximum).
    pub default_page_size: usize,
    /// `expires_in` of issued tokens.
    pub token_lifetime_secs: u64,
    /// Added to every request.
    pub latency: Duration,
    /// Time per machine-action transition Pending → InProgress → Succeeded.
    pub action_step: Duration,
    /// Server-driven paging: when set, every collection answers at most this many items per
    /// response, even when `$top` asks for more, and adds an `@odata.nextLink` (whatever
    /// `next_links` says) when more items follow. OData allows it and Defender does it, so a
    /// short page with a next link must never be read as the end of a list.
    pub server_page_size: Option<usize>,
    /// Length of the rate limits' "minute" window (the "hour" is 60 of them). Default 60 s;
    /// tests shorten both sides' windows alike (`RateBudget::with_window`) to cross window
    /// boundaries in seconds.
    pub rate_window: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            machines: 1_000,
            seed: 1,
            tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            client_id: "11111111-1111-1111-1111-111111111111".into(),
            client_secret: "sim-secret".into(),
            roles: ALL_ROLES.iter().map(|r| (*r).to_string()).collect(),
            rate_limits: true,
            next_links: true,
            next_link_base: None,
            default_page_size: 10_000,
            token_lifetime_secs: 3599,
            latency: Duration::ZERO,
            action_step: Duration::from_secs(2),
            server_page_size: None,
            rate_window: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("machines", &self.machines)
            .field("seed", &self.seed)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("roles", &self.roles)
            .field("rate_limits", &self.rate_limits)
            .field("next_links", &self.next_links)
            .field("next_link_base", &self.next_link_base)
            .field("default_page_size", &self.default_page_size)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("latency", &self.latency)
            .field("action_step", &self.action_step)
            .field("server_page_size", &self.server_page_size)
            .field("rate_window", &self.rate_window)
            .finish()
    }
}

/// One request the simulator received (control-plane calls are not recorded).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, percent-decoded.
    pub path: String,
    /// Query string, percent-decoded (`+` read as a space).
    pub query: Option<String>,
    /// The raw `Authorization` header, so tests can see where tokens went.
    pub authorization: Option<String>,
    /// JSON bodies of POSTs; for the token endpoint the form with `client_secret` (and any
    /// `client_assertion`) replaced by `<redacted>`.
    pub body: Option<String>,
    /// Response status; `0` while unanswered (or if the client gave up first).
    pub status: u16,
    /// Arrival time, RFC 3339.
    pub at: String,
}

/// Locks a mutex, ignoring poisoning: the simulator's state stays usable after a panic in a
/// test thread, and no invariant spans a lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// State shared by every request.
pub(crate) struct Shared {
    pub config: SimConfig,
    pub fleet: Arc<Fleet>,
    pub addr: SocketAddr,
    pub roles: Mutex<Vec<String>>,
    /// The live [`SimConfig::server_page_size`] (tests change it at runtime).
    pub server_page_size: Mutex<Option<usize>>,
    pub tokens: Mutex<auth::TokenStore>,
    pub log: Mutex<routes::RequestLog>,
    pub faults: Mutex<faults::FaultQueue>,
    pub limiter: Mutex<ratelimit::RateLimiter>,
    pub actions: Mutex<actions::ActionStore>,
    pub shutdown: watch::Sender<bool>,
    /// Machines hidden and alerts added at run time.
    pub changes: Mutex<changes::FleetChanges>,
}

struct HandleInner {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
    done: watch::Receiver<bool>,
}

/// A running simulator. Clones share it; [`SimHandle::shutdown`] stops it for all.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr())
            .finish()
    }
}

/// Generates the fleet, binds `listen` and serves until [`SimHandle::shutdown`].
pub async fn spawn(config: SimConfig, listen: SocketAddr) -> std::io::Result<SimHandle> {
    // Whoever talks to the simulator may build its own reqwest client (tests, tools).
    crate::tls::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let anchor = time::OffsetDateTime::now_utc();
    let (machines, seed) = (config.machines, config.seed);
    let fleet = tokio::task::spawn_blocking(move || Fleet::generate(machines, seed, anchor))
        .await
        .map_err(std::io::Error::other)?;
    let (shutdown, mut shutdown_rx) = watch::channel(false);
    let (done_tx, done) = watch::channel(false);
    let limiter = ratelimit::RateLimiter::with_window(config.rate_window);
    let shared = Arc::new(Shared {
        roles: Mutex::new(config.roles.clone()),
        server_page_size: Mutex::new(config.server_page_size),
        config,
        fleet: Arc::new(fleet),
        addr,
        tokens: Mutex::default(),
        log: Mutex::default(),
        faults: Mutex::default(),
        limiter: Mutex::new(limiter),
        actions: Mutex::default(),
        shutdown,
        changes: Mutex::default(),
    });
    let app = routes::router(Arc::clone(&shared));
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.wait_for(|stop| *stop).await;
            })
            .await;
        done_tx.send_replace(true);
        result
    });
    Ok(SimHandle {
        inner: Arc::new(HandleInner {
            shared,
            task: Mutex::new(Some(task)),
            done,
        }),
    })
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash); an unspecified bind address is shown as loopback.
    pub fn base_url(&self) -> String {
        let addr = self.addr();
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, addr.port()))
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.shared.log).snapshot()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.inner.shared.log).clear();
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        lock(&self.inner.shared.faults).push(fault);
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.shared.faults).clear();
    }

    /// Makes the next action matching `plan` take its timings and end with its outcome.
    pub fn plan_action(&self, plan: ActionPlan) {
        lock(&self.inner.shared.actions).plan(plan);
    }

    /// Roles of tokens issued from now on.
    pub fn set_roles(&self, roles: Vec<String>) {
        *lock(&self.inner.shared.roles) = roles;
    }

    /// Server-driven page size from now on (see [`SimConfig::server_page_size`]); `None` turns
    /// it off.
    pub fn set_server_page_size(&self, size: Option<usize>) {
        *lock(&self.inner.shared.server_page_size) = size;
    }

    /// Hides exactly these machines from the machine list, get-by-id and find-by-IP (as if
    /// not onboarded yet, or offboarded); an empty list shows every machine again.
    pub fn set_hidden_machines(&self, ids: &[String]) {
        lock(&self.inner.shared.changes).set_hidden(ids);
    }

    /// Adds an active alert of `severity` (`Informational` … `High`) to the machine, updated
    /// now; returns its id (`None`: unknown machine or severity).
    pub fn add_alert(&self, machine_id: &str, severity: &str) -> Option<String> {
        let shared = &self.inner.shared;
        lock(&shared.changes).add_alert(&shared.fleet, machine_id, severity)
    }

    /// Changes a machine as a new device report would (risk score, exposure level, health
    /// status; `lastSeen` now): the machine list, get-by-id and find-by-IP show it changed.
    /// `false` when the machine or a value is unknown.
    pub fn change_machine(&self, change: &MachineChange) -> bool {
        let shared = &self.inner.shared;
        lock(&shared.changes).change_machine(&shared.fleet, change)
    }

    /// The generated data.
    pub fn fleet(&self) -> &Fleet {
        &self.inner.shared.fleet
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.shared.config
    }

    /// Stops accepting, lets in-flight requests finish (hung ones are released), and waits.
    pub async fn shutdown(self) {
        self.inner.shared.shutdown.send_replace(true);
        let task = lock(&self.inner.task).take();
        match task {
            Some(task) => {
                if let Err(err) = task.await {
                    tracing::warn!(error = %err, "simulator task ended abnormally");
                }
            }
            None => self.wait().await,
        }
    }

    /// Resolves once the simulator has stopped.
    pub async fn wait(&self) {
        let mut done = self.inner.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}
