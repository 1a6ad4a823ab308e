//! The task that keeps the fleet table warm (docs/fleet-table.md).
//!
//! - A full sweep at start and every `sweep_interval`: the bulk reads of `StreamFleetRisk`
//!   (machines, active alerts, vulnerability rows, CVE details; streamed and folded page by
//!   page), every machine assessed into a new [`Generation`], published whole when the sweep
//!   is complete. A failed or partial sweep publishes nothing: the previous generation stays.
//! - Every `refresh_interval` in between: the alerts updated since the last poll
//!   (`$filter=lastUpdateTime gt …`) and the machines that reported since then
//!   (`/api/machines?$filter=lastSeen gt …`, kept only if what the answer shows of the
//!   machine changed, [`super::fingerprint`]); those machines are re-assessed one by one (at
//!   most [`MAX_REFRESH_MACHINES`] a round; the rest wait for the next).
//!
//! Every call goes through a background client whose rate budget is the configured share of
//! the service's ([`DefenderClient::background`]): a sweep waits for its share rather than take
//! the budget that cold misses, actions and hunting need.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use url::Url;

use super::{FleetStore, GenerationBuilder, Render};
use crate::cache::RiskCache;
use crate::config::fleet::FleetConfig;
use crate::defender::{
    Alert, ApiFamily, BulkList, CallOptions, DefenderClient, DefenderError, DefenderTime, Filter,
    Machine, ODataQuery, Page,
};
use crate::error::ServiceError;
use crate::risk::bulk::{CallCounter, fold_all};
use crate::risk::{FleetItem, FleetRequest, MachineFilters, RiskEngine, fleet};
use crate::state::AppState;

/// Machines re-assessed per incremental refresh (each costs one to three calls).
pub const MAX_REFRESH_MACHINES: usize = 50;

/// An alert's `lastUpdateTime` may be written a little before it becomes visible in the list:
/// each poll reaches this far back before the previous one.
const POLL_OVERLAP: time::Duration = time::Duration::minutes(2);

/// A device report's `lastSeen` is when the device sent it, which may be well before the
/// report is processed and the machine list shows it: the machine poll reaches this far back
/// (re-reading a machine list row costs nothing per row, and unchanged machines are skipped).
const MACHINE_POLL_OVERLAP: time::Duration = time::Duration::minutes(30);

/// Machines whose newer entity is kept for their re-assessment (it saves the machine read);
/// past this, a queued machine is read again when its turn comes.
const MAX_HINTS: usize = 1_000;

/// The machines waiting for a re-read, and the latest alert update each was queued for: a
/// poll that sees the same update again (the polls overlap, and an alert may carry an update
/// time ahead of ours) does not queue the machine again.
#[derive(Debug, Default)]
struct RefreshQueue {
    pending: BTreeSet<String>,
    queued_for: HashMap<String, Option<DefenderTime>>,
    /// The machine entity read by the machine poll, for machines queued by it.
    hints: HashMap<String, Arc<Machine>>,
}

impl RefreshQueue {
    fn offer(&mut self, id: String, updated: Option<DefenderTime>) {
        let seen = self.queued_for.get(&id);
        if seen.is_none_or(|seen| updated > *seen) {
            self.queued_for.insert(id.clone(), updated);
            self.pending.insert(id);
        }
    }

    /// Queues a machine whose entity changed, with that entity.
    fn offer_machine(&mut self, id: String, machine: Machine) {
        if self.hints.len() < MAX_HINTS || self.hints.contains_key(&id) {
            self.hints.insert(id.clone(), Arc::new(machine));
        }
        self.pending.insert(id);
    }
}

/// The sync task's parts.
#[derive(Debug, Clone)]
pub struct FleetSync {
    client: DefenderClient,
    portal: Url,
    cache: Arc<RiskCache>,
    config: FleetConfig,
    render: Render,
}

/// Starts the sync task when `--fleet-sync` is on and the integration is enabled; it ends
/// when shutdown starts.
pub fn start(state: &AppState) -> Option<JoinHandle<()>> {
    let config = state.config.fleet.clone();
    if !config.sync {
        return None;
    }
    let client = match state.defender.as_ref()?.background(config.budget_share) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "fleet sync not started");
            return None;
        }
    };
    let portal = state.config.portal_url.clone();
    let render: Render = Arc::new(crate::services::TablePortalEncoder::new(portal.clone()));
    let sync = FleetSync {
        client,
        render,
        portal,
        cache: Arc::clone(&state.cache),
        config,
    };
    sync.store().record(&mut |s| s.enabled = true);
    let shutdown = state.shutdown.subscribe();
    Some(tokio::spawn(sync.run(shutdown)))
}

/// Upstream requests made by `client` so far (every family).
fn requests(client: &DefenderClient) -> u64 {
    client.stats().iter().map(|s| s.requests).sum()
}

impl FleetSync {
    fn store(&self) -> &Arc<dyn FleetStore> {
        self.cache.fleet()
    }

    fn tenant(&self) -> &str {
        &self.client.settings().tenant_id
    }

    async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let sweep_every = self.config.sweep_interval;
        let mut next_sweep = tokio::time::Instant::now();
        let mut next_refresh = self.config.refresh_interval.map(|i| next_sweep + i);
        // Alerts updated after this were not seen by the current generation's sweep.
        let mut polled_from: Option<OffsetDateTime> = None;
        let mut queue = RefreshQueue::default();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_sweep {
                let from = OffsetDateTime::now_utc();
                if self.sweep(sweep_every).await {
                    polled_from = Some(from);
                    queue = RefreshQueue::default();
                }
                next_sweep = tokio::time::Instant::now() + sweep_every;
            } else if let (Some(at), Some(every)) = (next_refresh, self.config.refresh_interval) {
                if now >= at {
                    if let Some(from) = polled_from {
                        let started = OffsetDateTime::now_utc();
                        if self.refresh(from, &mut queue).await {
                            polled_from = Some(started);
                        }
                    }
                    next_refresh = Some(tokio::time::Instant::now() + every);
                }
            }
            let wake = next_refresh.map_or(next_sweep, |r| r.min(next_sweep));
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// One full sweep; publishes its generation if it is complete. Returns whether it was.
    async fn sweep(&self, interval: std::time::Duration) -> bool {
        let started = Instant::now();
        let read_at = SystemTime::now();
        let before = requests(&self.client);
        let result = self.read_generation(read_at, started).await;
        let calls = requests(&self.client).saturating_sub(before);
        let finished = SystemTime::now();
        let duration = started.elapsed();
        let (ok, error, machines) = match result {
            Ok(builder) => {
                let machines = self.store().publish(builder.finish());
                (true, String::new(), machines)
            }
            Err(message) => (false, message, self.store().len()),
        };
        // `/metrics`: defender_bridge_fleet_sweeps_total and its duration histogram (the
        // bulk alert and vulnerability reads inside the sweep record there too, on their own).
        self.cache.sweeps().stats.record(duration, ok);
        if ok {
            tracing::info!(
                machines,
                upstream_calls = calls,
                duration_ms = duration.as_millis() as u64,
                "fleet sweep published a new generation"
            );
        } else {
            tracing::warn!(error = %error, upstream_calls = calls, machines, "fleet sweep failed; keeping the previous generation");
        }
        self.store().record(&mut |s| {
            s.last_sweep_finished = Some(finished);
            s.last_sweep_duration = Some(duration);
            s.last_sweep_upstream_calls = calls;
            s.last_sweep_failed = !ok;
            s.last_sweep_error = error.clone();
            s.next_sweep = Some(finished + interval);
            if ok {
                s.generation += 1;
                s.data_read_at = Some(read_at);
            } else {
                s.failed_sweeps += 1;
            }
        });
        ok
    }

    /// Reads every machine and assesses it into a new generation; an incomplete read is an
    /// error (a partial table would answer "not in the table" for machines that exist).
    async fn read_generation(
        &self,
        read_at: SystemTime,
        started: Instant,
    ) -> Result<GenerationBuilder, String> {
        let mut rx = fleet::stream_fleet(FleetRequest {
            client: self.client.clone(),
            portal: self.portal.clone(),
            filters: MachineFilters::default(),
            max_machines: None,
            opts: CallOptions::default(),
            sweeps: Arc::clone(self.cache.sweeps()),
        });
        let mut builder =
            self.store()
                .next_generation(self.tenant(), read_at, started, self.render.clone());
        while let Some(item) = rx.recv().await {
            match item {
                Ok(FleetItem::Risk(mut assessment)) => {
                    // Answers say when their data was read, not when they were scored.
                    if let Some(a) = Arc::get_mut(&mut assessment) {
                        a.evaluated_at = read_at;
                    }
                    builder.push(&assessment);
                }
                Ok(FleetItem::Summary(summary)) if summary.complete => return Ok(builder),
                Ok(FleetItem::Summary(summary)) => {
                    return Err(format!(
                        "incomplete after {} machines: {}",
                        summary.machine_count, summary.reason_incomplete
                    ));
                }
                Err(err) => return Err(err.to_string()),
            }
        }
        Err("the sweep ended without a summary".into())
    }

    /// One incremental refresh: polls the alerts updated since `from` (less an overlap) and
    /// re-assesses the table's machines they belong to. Returns whether the poll succeeded
    /// (the next poll then starts from this one).
    async fn refresh(&self, from: OffsetDateTime, queue: &mut RefreshQueue) -> bool {
        let before = requests(&self.client);
        let polled = self.poll_alerts(from - POLL_OVERLAP).await;
        let mut ok = match polled {
            Ok(updates) => {
                for (id, updated) in updates {
                    if self.store().contains(self.tenant(), &id) {
                        queue.offer(id, updated);
                    }
                }
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "fleet refresh: polling alerts failed");
                false
            }
        };
        match self.poll_machines(from - MACHINE_POLL_OVERLAP).await {
            Ok(changed) => {
                for m in changed {
                    if let Some(id) = m.id.as_deref().map(str::to_ascii_lowercase) {
                        queue.offer_machine(id, m);
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "fleet refresh: polling machines failed");
                ok = false;
            }
        }
        let batch: Vec<String> = queue
            .pending
            .iter()
            .take(MAX_REFRESH_MACHINES)
            .cloned()
            .collect();
        let engine = RiskEngine::new(&self.client, &self.cache, &self.portal);
        let opts = CallOptions::default();
        let mut refreshed = 0u64;
        for id in batch {
            let hint = queue.hints.remove(&id);
            match engine.load(&id, hint, &opts).await {
                Ok(assessment) => {
                    queue.pending.remove(&id);
                    if self.store().update(self.tenant(), Arc::new(assessment)) {
                        refreshed += 1;
                    }
                }
                // Gone from Defender: the next sweep drops it.
                Err(ServiceError::NotFound { .. }) => {
                    queue.pending.remove(&id);
                    self.store().invalidate(self.tenant(), &id);
                }
                Err(err) => {
                    tracing::debug!(error = %err, machine_id = %id, "fleet refresh: re-assessment failed; retried next round");
                    break;
                }
            }
        }
        let calls = requests(&self.client).saturating_sub(before);
        let finished = SystemTime::now();
        self.store().record(&mut |s| {
            s.last_refresh_finished = Some(finished);
            s.refresh_upstream_calls += calls;
            s.refreshed_machines += refreshed;
        });
        ok
    }

    /// The table's machines that reported after `since` (`lastSeen`) and whose entity differs
    /// from what their row was assessed from.
    async fn poll_machines(&self, since: OffsetDateTime) -> Result<Vec<Machine>, DefenderError> {
        let query = ODataQuery {
            filter: Some(Filter::gt_time("lastSeen", since).into()),
            top: Some(ApiFamily::Machines.max_page_size()),
            skip: None,
        };
        let opts = CallOptions::default();
        let mut page: Page<Machine> = self.client.list_machines(&query, &opts).await?;
        let mut changed = Vec::new();
        loop {
            changed.extend(
                page.items
                    .drain(..)
                    .filter(|m| self.store().changed(self.tenant(), m)),
            );
            let Some(next) = page.next.take() else {
                return Ok(changed);
            };
            page = self
                .client
                .next_page(&next, ApiFamily::Machines, &opts)
                .await?;
        }
    }

    /// Lower-case ids of the machines whose alerts were updated after `since` (any status: a
    /// resolved alert lowers a level), each with its alerts' latest `lastUpdateTime`.
    async fn poll_alerts(
        &self,
        since: OffsetDateTime,
    ) -> Result<HashMap<String, Option<DefenderTime>>, DefenderError> {
        let query = ODataQuery {
            filter: Some(Filter::gt_time("lastUpdateTime", since).into()),
            top: Some(crate::defender::ApiFamily::Alerts.max_page_size()),
            skip: None,
        };
        let mut ids: HashMap<String, Option<DefenderTime>> = HashMap::new();
        fold_all(
            &self.client,
            BulkList::Alerts,
            &query,
            &CallOptions::default(),
            &CallCounter::default(),
            &mut |alert: Alert| {
                if let Some(id) = alert.machine_id.filter(|id| !id.is_empty()) {
                    let latest = ids.entry(id.to_ascii_lowercase()).or_default();
                    if alert.last_update_time > *latest {
                        *latest = alert.last_update_time;
                    }
                }
            },
        )
        .await?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_is_queued_again_only_for_a_newer_update() {
        let t = |s: &str| Some(DefenderTime::parse(s));
        let mut q = RefreshQueue::default();
        q.offer("m1".into(), t("2026-01-01T00:00:00Z"));
        assert!(q.pending.contains("m1"));
        q.pending.clear();
        // The overlapping poll sees the same update: nothing to do.
        q.offer("m1".into(), t("2026-01-01T00:00:00Z"));
        assert!(q.pending.is_empty());
        q.offer("m1".into(), t("2026-01-01T00:05:00Z"));
        assert!(q.pending.contains("m1"));
        q.offer("m2".into(), None);
        q.pending.clear();
        q.offer("m2".into(), None);
        assert!(q.pending.is_empty());
    }
}
