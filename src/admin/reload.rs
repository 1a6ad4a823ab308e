//! What SIGHUP does: one handler per server re-reads every file it was configured with, and
//! records the results in `/metrics` (`defender_bridge_config_reloads_total{what, result}`, the
//! last reload's time and success).
//!
//! - `credential`: the client secret file (`DEFENDER_CLIENT_SECRET_FILE`) or client assertion
//!   file; the next token request uses it (cached tokens stay valid until they expire). A secret
//!   given in the environment or in the config file itself cannot change.
//! - `log_filter`: the `--log-filter-file` ([`crate::telemetry::log_filter`]).
//! - `callers`: the callers file and the JWKS files it names ([`crate::auth`]).
//! - `tls`: the server certificate, key and client CA ([`crate::server::tls`]).
//!
//! Parts that are not configured are not counted. A part that fails keeps what was in force
//! and logs why (never a file's content). The callers and TLS files are also checked for
//! changes every few seconds without a signal; those reloads are logged, not counted, so a
//! SIGHUP after one reports `unchanged`.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::auth::reload::Reloaded;
use crate::metrics::{ReloadPart, ReloadResult};
use crate::server::tls::{Reload, TlsReloader};
use crate::state::AppState;
use crate::telemetry::log_filter::{self, FilterReload};

/// Re-reads one server's files.
#[derive(Debug)]
pub struct Reloader {
    state: Arc<AppState>,
    callers: Option<Arc<Authenticator>>,
    tls: Option<TlsReloader>,
}

impl Reloader {
    /// Reloads `state`'s credential file and the log filter file, plus the callers file and
    /// TLS files when given.
    pub fn new(
        state: Arc<AppState>,
        callers: Option<Arc<Authenticator>>,
        tls: Option<TlsReloader>,
    ) -> Self {
        Self {
            state,
            callers,
            tls,
        }
    }

    /// Re-reads every configured file now and records the results (blocking file reads: call
    /// it off the async workers).
    pub fn reload_all(&self) -> Vec<(ReloadPart, ReloadResult)> {
        let mut results = Vec::with_capacity(4);
        if let (Some(file), Some(client)) =
            (&self.state.config.credential_file, &self.state.defender)
        {
            let result = match file.read().map(|c| client.replace_credential(c)) {
                Ok(true) => {
                    tracing::info!(path = %file.path.display(), "client credential reloaded; the next token request uses it");
                    ReloadResult::Applied
                }
                Ok(false) => ReloadResult::Unchanged,
                Err(err) => {
                    tracing::warn!(error = %err, "client credential not reloaded; the previous one stays in force");
                    ReloadResult::Failed(err.to_string())
                }
            };
            results.push((ReloadPart::Credential, result));
        }
        let filter = match log_filter::reload() {
            FilterReload::NotConfigured => None,
            FilterReload::Unchanged => Some(ReloadResult::Unchanged),
            FilterReload::Applied(_) => Some(ReloadResult::Applied),
            FilterReload::Failed(err) => Some(ReloadResult::Failed(err)),
        };
        if let Some(result) = filter {
            results.push((ReloadPart::LogFilter, result));
        }
        if let Some(auth) = &self.callers {
            let result = match auth.reload() {
                Reloaded::Unchanged => ReloadResult::Unchanged,
                Reloaded::Applied => ReloadResult::Applied,
                Reloaded::Kept(err) => ReloadResult::Failed(err),
            };
            results.push((ReloadPart::Callers, result));
        }
        if let Some(tls) = &self.tls {
            let result = match tls.reload() {
                Ok(Reload::Replaced) => ReloadResult::Applied,
                Ok(Reload::Unchanged) => ReloadResult::Unchanged,
                Err(err) => {
                    tracing::warn!(error = %err, "TLS files not reloaded; still serving the previous certificate");
                    ReloadResult::Failed(err.to_string())
                }
            };
            results.push((ReloadPart::Tls, result));
        }
        self.state.metrics.reload.record(&results);
        results
    }

    /// Reloads on every SIGHUP until the task is aborted. The handler is installed before this
    /// returns, so a SIGHUP from then on never terminates the process.
    pub fn on_sighup(self: Arc<Self>) -> JoinHandle<()> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangup = match signal(SignalKind::hangup()) {
                Ok(s) => s,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGHUP: files are only re-read when they change");
                    return tokio::spawn(async {});
                }
            };
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    let reloader = Arc::clone(&self);
                    let results = tokio::task::spawn_blocking(move || reloader.reload_all()).await;
                    if let Ok(results) = results {
                        let summary: Vec<String> = results
                            .iter()
                            .map(|(part, result)| format!("{}={}", part.as_str(), result.as_str()))
                            .collect();
                        tracing::info!(results = %summary.join(" "), "SIGHUP: files re-read");
                    }
                }
            })
        }
        #[cfg(not(unix))]
        {
            tokio::spawn(async {})
        }
    }
}
