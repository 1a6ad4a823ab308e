//! Prometheus metrics, served as text on the admin listener's `/metrics` ([`crate::admin`]).
//!
//! Names follow the OpenTelemetry RPC conventions in Prometheus form (`rpc.server.call.duration`
//! in seconds becomes `rpc_server_call_duration_seconds`); README.md "Operations" and
//! docs/operations.md list every series. Label values come from closed sets (method names of
//! our own services or `_OTHER`, gRPC code names, API families, HTTP statuses or their class):
//! never a machine id or anything else a caller chooses.
//!
//! Two kinds of series:
//! - recorded as things happen, through handles resolved once: call durations ([`rpc`]),
//!   Defender request durations (`defender::stats`), fleet sweep durations (`risk::sweep`),
//!   actions, hunting rows and bytes;
//! - read at scrape time from the atomics the components keep anyway (retries, 429s, budget
//!   wait and remaining calls, token requests, cache hits/misses/joins/stale/evictions, audit
//!   failures), so the hot paths pay one relaxed add and nothing here.
//!
//! The registry belongs to one server ([`crate::state::AppState`]), so several servers in one
//! process (the tests) each count their own calls.

pub mod actions;
pub mod reload;
pub mod rpc;

use std::sync::{Mutex, PoisonError};

use prometheus::{Counter, CounterVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

pub use actions::{Reconciled, Reconciliations};
pub use reload::{ReloadMetrics, ReloadPart, ReloadResult};
pub use rpc::{CallContext, RpcMetrics, in_current_call};

use crate::cache::RiskCache;
use crate::defender::{ApiFamily, DefenderClient};
use crate::state::AppState;

/// The `Content-Type` of [`Metrics::render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The commit the binary was built from (`DEFENDER_BRIDGE_COMMIT` at build time, e.g. set by
/// the Dockerfile), or `unknown`.
pub const COMMIT: &str = match option_env!("DEFENDER_BRIDGE_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

/// Every series of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Per-RPC series (the auth layer records them).
    pub rpc: std::sync::Arc<RpcMetrics>,
    /// SIGHUP reloads (`crate::admin::reload` records them).
    pub reload: ReloadMetrics,
    actions: IntCounterVec,
    hunting_rows: IntCounter,
    hunting_bytes: IntCounter,
    pulled: Pulled,
    /// One scrape at a time: the read-at-scrape counters are brought up to date by adding the
    /// difference, which two concurrent scrapes would add twice.
    scrape: Mutex<()>,
}

/// Series set from other components' counters at scrape time.
#[derive(Debug)]
struct Pulled {
    retries: IntCounterVec,
    throttled: IntCounterVec,
    budget_refusals: IntCounterVec,
    budget_wait: CounterVec,
    budget_remaining: IntGaugeVec,
    token_requests: IntCounter,
    token_failures: IntCounter,
    cache_hits: IntCounterVec,
    cache_misses: IntCounterVec,
    cache_joins: IntCounterVec,
    cache_stale: IntCounterVec,
    cache_evictions: IntCounterVec,
    cache_entries: IntGaugeVec,
    audit_failures: IntCounter,
    fleet_sweeps: IntCounterVec,
    reconciliations: IntCounterVec,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // The names are constants and the registry is new: a failure is a programming error that
    // every test would show.
    #[allow(clippy::expect_used)]
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

#[allow(clippy::expect_used)]
fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric options"),
    )
}

#[allow(clippy::expect_used)]
fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::with_opts(Opts::new(name, help)).expect("valid metric options"),
    )
}

/// Adds to `counter` what `total` has beyond it (counters only go up).
fn sync(counter: &IntCounter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

fn sync_f64(counter: &Counter, total: f64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

impl Metrics {
    /// A registry with every series; `defender`'s request histogram is included when given,
    /// and `cache`'s fleet sweep histogram.
    #[allow(clippy::expect_used)]
    pub fn new(defender: Option<&DefenderClient>, cache: &RiskCache) -> Self {
        let registry = Registry::new();
        let r = &registry;
        let rpc = std::sync::Arc::new(RpcMetrics::new(r).expect("valid rpc metrics"));
        let reload = ReloadMetrics::new(r).expect("valid reload metrics");
        if let Some(client) = defender {
            register(r, client.request_durations());
        }
        register(r, cache.sweeps().stats.duration_histogram());
        let build_info = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "defender_bridge_build_info",
                    "Always 1; the labels say which build is running.",
                ),
                &["version", "commit"],
            )
            .expect("valid metric options"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), COMMIT])
            .set(1);
        let api = &["api"];
        let cache = &["cache"];
        let pulled = Pulled {
            retries: counter_vec(
                r,
                "defender_request_retries_total",
                "Retries of Defender or Graph requests (after 429, 408, 5xx, timeouts, connection errors).",
                api,
            ),
            throttled: counter_vec(
                r,
                "defender_throttled_responses_total",
                "429 answers received from Defender or Graph.",
                api,
            ),
            budget_refusals: counter_vec(
                r,
                "defender_rate_budget_refusals_total",
                "Calls refused by the local rate budget because its wait would pass the deadline (RATE_LIMITED).",
                api,
            ),
            budget_wait: register(
                r,
                CounterVec::new(
                    Opts::new(
                        "defender_rate_budget_wait_seconds_total",
                        "Time calls spent waiting for the local rate budget.",
                    ),
                    api,
                )
                .expect("valid metric options"),
            ),
            budget_remaining: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "defender_rate_budget_remaining",
                        "Calls this replica's rate budget would still admit now, per window (minute, hour).",
                    ),
                    &["tenant", "api", "window"],
                )
                .expect("valid metric options"),
            ),
            token_requests: counter(
                r,
                "defender_token_requests_total",
                "Access token requests sent to Entra ID.",
            ),
            token_failures: counter(
                r,
                "defender_token_request_failures_total",
                "Access token requests that failed (refused credentials, unreachable, throttled).",
            ),
            cache_hits: counter_vec(
                r,
                "defender_bridge_cache_hits_total",
                "Look-ups answered from a fresh cache entry (a remembered NOT_FOUND counts for `lookup`).",
                cache,
            ),
            cache_misses: counter_vec(
                r,
                "defender_bridge_cache_misses_total",
                "Look-ups that loaded from Defender (misses and bypass_cache).",
                cache,
            ),
            cache_joins: counter_vec(
                r,
                "defender_bridge_cache_single_flight_joins_total",
                "Look-ups that waited for a concurrent caller's load of the same key instead of loading.",
                cache,
            ),
            cache_stale: counter_vec(
                r,
                "defender_bridge_cache_stale_served_total",
                "Last good values served (stale = true) because Defender failed.",
                cache,
            ),
            cache_evictions: counter_vec(
                r,
                "defender_bridge_cache_evictions_total",
                "Entries evicted to stay within the cache size bounds (expiries not included).",
                cache,
            ),
            cache_entries: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "defender_bridge_cache_entries",
                        "Entries in each cache (estimate).",
                    ),
                    cache,
                )
                .expect("valid metric options"),
            ),
            audit_failures: counter(
                r,
                "defender_bridge_audit_write_failures_total",
                "Audit records that could not be written (the action or query was refused, or its outcome record is missing).",
            ),
            fleet_sweeps: counter_vec(
                r,
                "defender_bridge_fleet_sweeps_total",
                "Bulk reads of the whole fleet by outcome (`ok`, `error`).",
                &["outcome"],
            ),
            reconciliations: counter_vec(
                r,
                "defender_bridge_action_reconciliations_total",
                "Actions whose answer was lost, settled by reading Defender's action list, by outcome (`found`, `found_late`, `not_taken`, `unknown`).",
                &["outcome"],
            ),
        };
        Self {
            rpc,
            reload,
            actions: counter_vec(
                r,
                "defender_bridge_actions_total",
                "Machine actions requested (isolate, release, scan, cancel) by outcome: `ok` or the error reason.",
                &["action", "outcome"],
            ),
            hunting_rows: counter(
                r,
                "defender_bridge_hunting_rows_total",
                "Advanced hunting result rows streamed to callers.",
            ),
            hunting_bytes: counter(
                r,
                "defender_bridge_hunting_bytes_total",
                "Advanced hunting result bytes streamed to callers (encoded messages).",
            ),
            pulled,
            registry,
            scrape: Mutex::new(()),
        }
    }

    /// Counts one machine action: `action` is Defender's name (Isolate, Unisolate, ...),
    /// `outcome` `ok` or the error reason (both from closed sets).
    pub fn record_action(&self, action: &str, outcome: &str) {
        self.actions.with_label_values(&[action, outcome]).inc();
    }

    /// Counts hunting rows and bytes streamed.
    pub fn record_hunting(&self, rows: u64, bytes: u64) {
        self.hunting_rows.inc_by(rows);
        self.hunting_bytes.inc_by(bytes);
    }

    /// The Prometheus text of every series, brought up to date from `state`.
    pub fn render(&self, state: &AppState) -> String {
        let _one = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.pull(state);
        let mut text = String::new();
        if let Err(err) =
            prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text)
        {
            tracing::warn!(error = %err, "metrics encoding failed");
        }
        text
    }

    fn pull(&self, state: &AppState) {
        let p = &self.pulled;
        if let Some(client) = &state.defender {
            let tenant = client.settings().tenant_id.as_str();
            for stats in client.stats() {
                let api = [stats.family.as_str()];
                sync(&p.retries.with_label_values(&api), stats.retries);
                sync(&p.throttled.with_label_values(&api), stats.throttled);
                sync(
                    &p.budget_refusals.with_label_values(&api),
                    stats.budget_refusals,
                );
                sync_f64(
                    &p.budget_wait.with_label_values(&api),
                    stats.budget_wait.as_secs_f64(),
                );
            }
            for family in ApiFamily::ALL {
                let [minute, hour] = client.budget_remaining(family);
                for (window, left) in [("minute", minute), ("hour", hour)] {
                    p.budget_remaining
                        .with_label_values(&[tenant, family.as_str(), window])
                        .set(i64::try_from(left).unwrap_or(i64::MAX));
                }
            }
            sync(&p.token_requests, client.token_requests());
            sync(&p.token_failures, client.token_failures());
        }
        for (name, counters) in state.cache.counters() {
            let get =
                |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            let label = [name];
            sync(&p.cache_hits.with_label_values(&label), get(&counters.hits));
            sync(
                &p.cache_misses.with_label_values(&label),
                get(&counters.misses),
            );
            sync(
                &p.cache_joins.with_label_values(&label),
                get(&counters.joins),
            );
            sync(
                &p.cache_stale.with_label_values(&label),
                get(&counters.stale_serves),
            );
            sync(
                &p.cache_evictions.with_label_values(&label),
                get(&counters.evictions),
            );
        }
        for (name, entries) in state.cache.entry_counts() {
            p.cache_entries
                .with_label_values(&[name])
                .set(i64::try_from(entries).unwrap_or(i64::MAX));
        }
        sync(&p.audit_failures, state.actions.audit.write_failures());
        for outcome in Reconciled::ALL {
            sync(
                &p.reconciliations.with_label_values(&[outcome.as_str()]),
                state.actions.reconciliations.count(outcome),
            );
        }
        let (ok, failed) = state.cache.sweeps().stats.counts();
        sync(&p.fleet_sweeps.with_label_values(&["ok"]), ok);
        sync(&p.fleet_sweeps.with_label_values(&["error"]), failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_registry_renders_build_info() {
        let metrics = Metrics::new(
            None,
            &RiskCache::new(&crate::config::CacheConfig::default()),
        );
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&metrics.registry.gather(), &mut text)
            .expect("encode");
        assert!(
            text.contains("defender_bridge_build_info{commit="),
            "{text}"
        );
    }
}
