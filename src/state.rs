//! The state every RPC handler shares, built once at start-up.
//!
//! It sits apart from [`crate::server`] (which builds and serves) so that the service layer
//! depends on it without depending on the bootstrap, and the domain modules depend on neither:
//! each is handed only its part (the actions get an [`ActionRuntime`], the risk side a
//! [`RiskCache`], a [`DefenderClient`] and a [`PageTokenSigner`]).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::actions::{ActionRuntime, AuditError};
use crate::cache::RiskCache;
use crate::config::Config;
use crate::defender::{DefenderClient, DefenderError};
use crate::paging::PageTokenSigner;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The Defender client could not be built from the settings.
    #[error("invalid Defender settings: {0}")]
    Defender(#[from] DefenderError),
    /// The audit log could not be opened (actions fail closed: no start without it).
    #[error("cannot open the audit log: {0}")]
    Audit(#[from] AuditError),
}

/// What every RPC handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Config,
    /// The Defender client; `None` while the integration is disabled.
    pub defender: Option<DefenderClient>,
    /// Risk and look-up caches (the action runtime holds them too, to invalidate a machine).
    pub cache: Arc<RiskCache>,
    /// Signs and verifies the list RPCs' page tokens.
    pub page_tokens: PageTokenSigner,
    /// The action side: `request_id` store, audit log, watch pollers.
    pub actions: Arc<ActionRuntime>,
    /// One permit per open `StreamFleetRisk` stream (`limits.max_fleet_streams`).
    pub fleet_streams: Arc<Semaphore>,
    /// Set to true when shutdown starts: server streams end with SERVER_SHUTTING_DOWN.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Prometheus series of this server (`/metrics` on the admin listener).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// Builds the state (and the Defender client when the integration is enabled); opens the
    /// audit log.
    pub fn new(config: Config) -> Result<Self, StateError> {
        let defender = match (&config.defender, config.enabled) {
            (Some(settings), true) => Some(DefenderClient::new(settings.clone())?),
            _ => None,
        };
        let page_tokens = match &config.defender {
            Some(settings) => PageTokenSigner::from_settings(settings),
            None => PageTokenSigner::random(),
        };
        let cache = Arc::new(RiskCache::new(&config.cache));
        let metrics = Arc::new(crate::metrics::Metrics::new(defender.as_ref(), &cache));
        Ok(Self {
            metrics,
            fleet_streams: Arc::new(Semaphore::new(
                config.limits.max_fleet_streams.min(Semaphore::MAX_PERMITS),
            )),
            actions: Arc::new(ActionRuntime::new(
                config.audit_log.as_deref(),
                config.action_settle_window,
                Arc::clone(&cache),
            )?),
            cache,
            config,
            defender,
            page_tokens,
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }
}
