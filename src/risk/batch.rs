//! `BatchGetEndpointRisks`: up to 1,000 endpoints, each with its own result or error.
//!
//! 1. Hostnames not in the look-up cache are resolved together, 25 per call (see
//!    [`resolve_hostnames`](super::lookup::resolve_hostnames)). Then each item is looked up
//!    like a single call (cache, negative cache, single-flight look-ups; IPs one find-by-IP
//!    each, as Defender has no bulk form of it), with bounded concurrency; a fresh cached risk
//!    ends it there.
//! 2. The machines still to assess are few (≤ [`SMALL_BATCH`])? Each goes through the single
//!    path. Otherwise they are assessed together with the bulk APIs ([`bulk`](super::bulk)):
//!    machines 40 per call, vulnerability rows 40 machines per call, and alerts by whichever
//!    read costs fewer calls ([`AlertRead::cheaper`]): one per machine for a few machines, or
//!    the tenant's active alerts (one call per 10,000, folded page by page keeping only the
//!    batch's machines) — tens of calls for 1,000 cold machines instead of thousands, and a
//!    small batch never reads a large tenant's whole alert list.
//! 3. A failure of the bulk reads falls back, per item, to its last good risk (stale) when
//!    the failure allows it, else becomes that item's error. One bad item never fails the batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use super::assess::Assessment;
use super::bulk::{self, AlertRead, BulkParts, CallCounter};
use super::engine::{EndpointQuery, EndpointRisk, MACHINE_REUSE, RiskEngine};
use super::lookup::{Candidate, EndpointKey, HOSTNAMES_PER_CALL, machine_key, resolve_hostnames};
use super::scoring::{self, Part};
use crate::cache::{LookupKey, RiskKey};
use crate::defender::{CallOptions, Machine};
use crate::error::ServiceError;

/// Items resolved at once (look-ups are single upstream calls each when cold).
const PARALLEL_LOOKUPS: usize = 16;
/// Up to this many machines to assess, per-machine calls are cheaper than the bulk reads.
pub const SMALL_BATCH: usize = 4;

/// An item after its look-up.
enum Stage {
    Done(Result<EndpointRisk, ServiceError>),
    Pending {
        machine_id: String,
        hint: Option<Arc<Machine>>,
        candidates: Vec<Candidate>,
        lookup_stale: Option<ServiceError>,
        bypass: bool,
    },
}

impl RiskEngine<'_> {
    /// Assesses every item; the result at position `i` belongs to `items[i]`.
    pub async fn batch(
        &self,
        items: Vec<Result<EndpointQuery, ServiceError>>,
        opts: &CallOptions,
    ) -> Vec<Result<EndpointRisk, ServiceError>> {
        let failed_hostnames = &self.prefetch_hostnames(&items, opts).await;
        let stages: Vec<Stage> = futures::stream::iter(items)
            .map(|item| async move {
                match item {
                    Ok(query) => match self.failed_lookup(&query, failed_hostnames).await {
                        Some(stage) => stage,
                        None => self.stage(query, opts).await,
                    },
                    Err(err) => Stage::Done(Err(err)),
                }
            })
            .buffered(PARALLEL_LOOKUPS)
            .collect()
            .await;
        let pending: Vec<&Stage> = stages
            .iter()
            .filter(|s| matches!(s, Stage::Pending { .. }))
            .collect();
        if pending.is_empty() {
            return stages.into_iter().map(finished).collect();
        }
        let mut distinct: Vec<String> = pending
            .iter()
            .filter_map(|s| match s {
                Stage::Pending { machine_id, .. } => Some(machine_id.clone()),
                Stage::Done(_) => None,
            })
            .collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() <= SMALL_BATCH {
            return futures::stream::iter(stages)
                .map(|stage| self.finish_single(stage, opts))
                .buffered(SMALL_BATCH)
                .collect()
                .await;
        }
        let assessed = self.assess_in_bulk(&stages, opts).await;
        let mut results = Vec::with_capacity(stages.len());
        for stage in stages {
            results.push(match stage {
                Stage::Done(result) => result,
                Stage::Pending {
                    machine_id,
                    candidates,
                    lookup_stale,
                    ..
                } => {
                    let outcome = match &assessed {
                        Ok(map) => map.get(&machine_id).cloned().unwrap_or_else(|| {
                            Err(ServiceError::NotFound {
                                resource_type: "machine",
                                name: machine_id.clone(),
                            })
                        }),
                        Err(err) => Err(err.clone()),
                    };
                    self.served(&machine_id, outcome, candidates, lookup_stale)
                        .await
                }
            });
        }
        results
    }

    /// Resolves the batch's uncached hostnames in bulk into the look-up caches; returns the
    /// names whose bulk request failed, with the failure.
    async fn prefetch_hostnames(
        &self,
        items: &[Result<EndpointQuery, ServiceError>],
        opts: &CallOptions,
    ) -> HashMap<String, ServiceError> {
        let mut names = Vec::new();
        for query in items.iter().flatten() {
            if let EndpointKey::Hostname(name) = &query.key {
                let key = LookupKey::new(self.tenant, &query.key);
                let known = !query.bypass_cache
                    && (self.cache.cached_lookup(&key).await.is_some()
                        || self.cache.known_missing(&key).await.is_some()
                        || self.table_lookup(&query.key, false).is_some());
                if !known {
                    names.push(name.clone());
                }
            }
        }
        names.sort();
        names.dedup();
        if names.len() <= SMALL_BATCH {
            return HashMap::new();
        }
        let mut failed = HashMap::new();
        let calls = CallCounter::default();
        for chunk in names.chunks(HOSTNAMES_PER_CALL) {
            match resolve_hostnames(self.client, chunk, opts, &calls).await {
                Ok(resolved) => {
                    for (name, result) in resolved {
                        let key = LookupKey::new(self.tenant, &EndpointKey::Hostname(name));
                        match result {
                            Ok(r) => self.cache.insert_lookup(key, Arc::new(r)).await,
                            Err(err) => self.cache.remember_missing(key, err).await,
                        }
                    }
                }
                Err(err) => failed.extend(chunk.iter().map(|n| (n.clone(), err.clone()))),
            }
        }
        failed
    }

    /// An item whose bulk hostname look-up failed: it goes on with its last good look-up
    /// (flagged stale), else the failure is its result. `None` for every other item.
    async fn failed_lookup(
        &self,
        query: &EndpointQuery,
        failed: &HashMap<String, ServiceError>,
    ) -> Option<Stage> {
        let EndpointKey::Hostname(name) = &query.key else {
            return None;
        };
        let err = failed.get(name)?;
        let key = LookupKey::new(self.tenant, &query.key);
        let Some(r) = self.cache.stale_lookup(&key, err).await else {
            return Some(Stage::Done(Err(err.clone())));
        };
        if let Some(assessment) = self.cache.cached_risk(self.tenant, &r.machine_id).await {
            return Some(Stage::Done(Ok(EndpointRisk {
                assessment,
                other_candidates: r.candidates.clone(),
                cached: true,
                stale_because: Some(err.clone()),
            })));
        }
        Some(Stage::Pending {
            machine_id: r.machine_id.clone(),
            hint: None,
            candidates: r.candidates.clone(),
            lookup_stale: Some(err.clone()),
            bypass: query.bypass_cache,
        })
    }

    /// Looks the item up and answers it from the cache when possible.
    async fn stage(&self, query: EndpointQuery, opts: &CallOptions) -> Stage {
        let bypass = query.bypass_cache;
        let (machine_id, hint, candidates, lookup_stale) = match &query.key {
            EndpointKey::MachineId(id) => {
                if !bypass {
                    let key = LookupKey::new(self.tenant, &query.key);
                    if let Some(err) = self.cache.known_missing(&key).await {
                        return Stage::Done(Err(err));
                    }
                }
                (id.clone(), None, Vec::new(), None)
            }
            key => {
                let lookup = match self.table_lookup(key, bypass) {
                    Some(served) => Ok(served),
                    None => {
                        self.cache
                            .lookup(
                                &LookupKey::new(self.tenant, key),
                                bypass,
                                super::lookup::resolve(self.client, key, opts),
                            )
                            .await
                    }
                };
                match lookup {
                    Err(err) => return Stage::Done(Err(err)),
                    Ok(served) => {
                        let r = served.value;
                        let fresh = !served.cached || r.resolved_at.elapsed() < MACHINE_REUSE;
                        let hint = fresh.then(|| r.machine.clone());
                        (
                            r.machine_id.clone(),
                            hint,
                            r.candidates.clone(),
                            served.stale_because,
                        )
                    }
                }
            }
        };
        if !bypass {
            if let Some(assessment) = self.cache.cached_risk(self.tenant, &machine_id).await {
                return Stage::Done(Ok(EndpointRisk {
                    assessment,
                    other_candidates: candidates,
                    cached: true,
                    stale_because: lookup_stale,
                }));
            }
        }
        Stage::Pending {
            machine_id,
            hint,
            candidates,
            lookup_stale,
            bypass,
        }
    }

    /// A pending item through the single-endpoint path (cache, single-flight, stale).
    async fn finish_single(
        &self,
        stage: Stage,
        opts: &CallOptions,
    ) -> Result<EndpointRisk, ServiceError> {
        let Stage::Pending {
            machine_id,
            hint,
            candidates,
            lookup_stale,
            bypass,
        } = stage
        else {
            return finished(stage);
        };
        let key = RiskKey::new(self.tenant, &machine_id);
        let served = self
            .cache
            .risk(&key, bypass, self.load(&machine_id, hint, opts))
            .await;
        if let Err(err @ ServiceError::NotFound { .. }) = &served {
            self.remember_missing_id(&machine_id, err).await;
        }
        let served = served?;
        Ok(EndpointRisk {
            assessment: served.value,
            other_candidates: candidates,
            cached: served.cached,
            stale_because: served.stale_because.or(lookup_stale),
        })
    }

    /// Turns a bulk outcome into the item's result, falling back to a stale risk.
    async fn served(
        &self,
        machine_id: &str,
        outcome: Result<Arc<Assessment>, ServiceError>,
        candidates: Vec<Candidate>,
        lookup_stale: Option<ServiceError>,
    ) -> Result<EndpointRisk, ServiceError> {
        match outcome {
            Ok(assessment) => Ok(EndpointRisk {
                assessment,
                other_candidates: candidates,
                cached: false,
                stale_because: lookup_stale,
            }),
            Err(err) => {
                let key = RiskKey::new(self.tenant, machine_id);
                match self.cache.stale_risk(&key, &err).await {
                    Some(assessment) => Ok(EndpointRisk {
                        assessment,
                        other_candidates: candidates,
                        cached: true,
                        stale_because: Some(err),
                    }),
                    None => {
                        if matches!(err, ServiceError::NotFound { .. }) {
                            self.remember_missing_id(machine_id, &err).await;
                        }
                        Err(err)
                    }
                }
            }
        }
    }

    async fn remember_missing_id(&self, machine_id: &str, err: &ServiceError) {
        let key = LookupKey::new(self.tenant, &EndpointKey::MachineId(machine_id.to_string()));
        self.cache.remember_missing(key, err.clone()).await;
    }

    /// Assesses every pending machine with the bulk reads; stores the results in the cache.
    async fn assess_in_bulk(
        &self,
        stages: &[Stage],
        opts: &CallOptions,
    ) -> Result<HashMap<String, Result<Arc<Assessment>, ServiceError>>, ServiceError> {
        let calls = CallCounter::default();
        let mut machines: HashMap<String, Arc<Machine>> = HashMap::new();
        let mut unknown: Vec<String> = Vec::new();
        for stage in stages {
            if let Stage::Pending {
                machine_id, hint, ..
            } = stage
            {
                match hint {
                    Some(m) => {
                        machines.insert(machine_id.clone(), m.clone());
                    }
                    None => unknown.push(machine_id.clone()),
                }
            }
        }
        unknown.sort();
        unknown.dedup();
        unknown.retain(|id| !machines.contains_key(id));
        for m in bulk::machines_by_ids(self.client, &unknown, opts, &calls).await? {
            machines.insert(machine_key(&m), Arc::new(m));
        }
        let needs_vulnerabilities: Vec<String> = machines
            .iter()
            .filter(|(_, m)| {
                scoring::vulnerabilities_needed(m.risk_score.as_ref(), m.exposure_level.as_ref())
                    .is_ok()
            })
            .map(|(id, _)| id.clone())
            .collect();
        // Real ids (for the per-machine URLs) of the machines whose alerts count.
        let needs_alerts: Vec<String> = machines
            .values()
            .filter(|m| scoring::alerts_needed(m.risk_score.as_ref()).is_ok())
            .filter_map(|m| m.id.clone())
            .collect();
        let sweeps = self.cache.sweeps();
        let alert_read =
            AlertRead::cheaper(needs_alerts.len(), sweeps.known_active_alerts(self.tenant));
        let (vulnerabilities, alerts) = tokio::join!(
            async {
                if needs_vulnerabilities.is_empty() {
                    Ok(Part::Skipped("no machine needs them".into()))
                } else {
                    bulk::vulnerabilities(self.client, Some(&needs_vulnerabilities), opts, &calls)
                        .await
                }
            },
            async {
                if needs_alerts.is_empty() {
                    return Ok(Part::Skipped("no machine needs them".into()));
                }
                match alert_read {
                    AlertRead::PerMachine => {
                        bulk::machine_alerts(self.client, &needs_alerts, opts, &calls).await
                    }
                    AlertRead::TenantWide => {
                        let keep: HashSet<String> = needs_alerts
                            .iter()
                            .map(|id| id.to_ascii_lowercase())
                            .collect();
                        let part =
                            bulk::active_alerts(self.client, Some(&keep), opts, &calls).await;
                        if let Ok(Part::Fetched(index)) = &part {
                            sweeps.record_active_alerts(self.tenant, index.active_seen());
                        }
                        part.map(|part| part.map(|index| (index, HashMap::new())))
                    }
                }
            }
        );
        let mut alert_failures = HashMap::new();
        let parts = BulkParts {
            vulnerabilities: vulnerabilities?,
            alerts: alerts?.map(|(index, failed)| {
                alert_failures = failed;
                index
            }),
        };
        tracing::debug!(
            machines = machines.len(),
            calls = calls.get(),
            ?alert_read,
            "batch assessed in bulk"
        );
        let mut assessed = HashMap::with_capacity(machines.len());
        for (id, machine) in machines {
            if let Some(err) = alert_failures.remove(&id) {
                assessed.insert(id, Err(err));
                continue;
            }
            let score = parts.score(&machine);
            let assessment = Arc::new(Assessment::new(self.tenant, self.portal, machine, score));
            self.cache
                .insert_risk(RiskKey::new(self.tenant, &id), assessment.clone())
                .await;
            assessed.insert(id, Ok(assessment));
        }
        Ok(assessed)
    }
}

fn finished(stage: Stage) -> Result<EndpointRisk, ServiceError> {
    match stage {
        Stage::Done(result) => result,
        Stage::Pending { machine_id, .. } => Err(ServiceError::Internal(format!(
            "machine `{machine_id}` was left unassessed"
        ))),
    }
}
