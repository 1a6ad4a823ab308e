//! [`RiskEngine`]: one endpoint's risk, end to end — look-up (rule 1), cache, assessment —
//! knowing nothing of gRPC. The handlers validate and convert; this decides what to ask
//! Defender and what the cache can answer.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::assess::{Assessment, assess_machine};
use super::lookup::{self, Candidate, EndpointKey};
use crate::cache::{LookupKey, RiskCache, RiskKey};
use crate::defender::{CallOptions, DefenderClient, Machine};
use crate::error::ServiceError;

/// A look-up's machine entity is reused for the assessment (saving a `GET /machines/{id}`)
/// only while it is this fresh.
pub(crate) const MACHINE_REUSE: Duration = Duration::from_secs(30);

/// One endpoint to assess (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointQuery {
    /// How the endpoint is identified.
    pub key: EndpointKey,
    /// Ask Defender now; the result replaces the cached one.
    pub bypass_cache: bool,
}

/// One endpoint's risk as served.
#[derive(Clone, Debug)]
pub struct EndpointRisk {
    /// The assessment (shared with the cache).
    pub assessment: Arc<Assessment>,
    /// Other machines that matched an IP or hostname, most recently seen first.
    pub other_candidates: Vec<Candidate>,
    /// Not computed for this request.
    pub cached: bool,
    /// Set when Defender failed and the assessment is a last good one: the failure.
    pub stale_because: Option<ServiceError>,
}

/// Reads endpoint risk for one tenant through the caches.
#[derive(Clone, Copy, Debug)]
pub struct RiskEngine<'a> {
    pub(crate) client: &'a DefenderClient,
    pub(crate) cache: &'a RiskCache,
    pub(crate) portal: &'a Url,
    pub(crate) tenant: &'a str,
}

impl<'a> RiskEngine<'a> {
    /// An engine for the client's tenant, with links on `portal`.
    pub fn new(client: &'a DefenderClient, cache: &'a RiskCache, portal: &'a Url) -> Self {
        Self {
            client,
            cache,
            portal,
            tenant: &client.settings().tenant_id,
        }
    }

    /// The tenant the engine reads.
    pub fn tenant(&self) -> &str {
        self.tenant
    }

    /// One endpoint's risk (docs/risk-model.md), from the cache when it can be.
    pub async fn endpoint_risk(
        &self,
        query: &EndpointQuery,
        opts: &CallOptions,
    ) -> Result<EndpointRisk, ServiceError> {
        if let (EndpointKey::MachineId(id), false) = (&query.key, query.bypass_cache) {
            // The hot path: one cache read, nothing else.
            if let Some(assessment) = self.cache.cached_risk(self.tenant, id).await {
                return Ok(EndpointRisk {
                    assessment,
                    other_candidates: Vec::new(),
                    cached: true,
                    stale_because: None,
                });
            }
        }
        // Boxed: the cold path's state (look-ups, Defender calls) is kilobytes, and an unboxed
        // future that size is copied whenever the hot path's future moves (measured: ~1.4 µs
        // of memcpy per cache hit).
        Box::pin(self.endpoint_risk_cold(query, opts)).await
    }

    /// [`Self::endpoint_risk`] past a fresh cached risk: the negative cache, the look-up, the
    /// single-flight load, stale-on-failure.
    async fn endpoint_risk_cold(
        &self,
        query: &EndpointQuery,
        opts: &CallOptions,
    ) -> Result<EndpointRisk, ServiceError> {
        let bypass = query.bypass_cache;
        let (machine_id, hint, candidates, lookup_stale) = match &query.key {
            EndpointKey::MachineId(id) => {
                if !bypass {
                    let missing = LookupKey::new(self.tenant, &query.key);
                    if let Some(err) = self.cache.known_missing(&missing).await {
                        return Err(err);
                    }
                }
                (id.clone(), None, Vec::new(), None)
            }
            key => {
                let served = match self.table_lookup(key, bypass) {
                    Some(served) => served,
                    None => {
                        self.cache
                            .lookup_until(
                                &LookupKey::new(self.tenant, key),
                                bypass,
                                opts.deadline,
                                lookup::resolve(self.client, key, opts),
                            )
                            .await?
                    }
                };
                let r = served.value;
                let hint = (r.resolved_at.elapsed() < MACHINE_REUSE).then(|| r.machine.clone());
                (
                    r.machine_id.clone(),
                    hint,
                    r.candidates.clone(),
                    served.stale_because,
                )
            }
        };
        let key = RiskKey::new(self.tenant, &machine_id);
        let served = self
            .cache
            .risk_until(
                &key,
                bypass,
                opts.deadline,
                self.load(&machine_id, hint, opts),
            )
            .await;
        let served = match served {
            Err(err @ ServiceError::NotFound { .. }) => {
                let id_key = LookupKey::new(self.tenant, &EndpointKey::MachineId(machine_id));
                self.cache.remember_missing(id_key, err.clone()).await;
                return Err(err);
            }
            other => other?,
        };
        Ok(EndpointRisk {
            assessment: served.value,
            other_candidates: candidates,
            cached: served.cached,
            stale_because: served.stale_because.or(lookup_stale),
        })
    }

    /// An IP or hostname look-up answered by the fleet table's indexes (never when bypassing).
    pub(crate) fn table_lookup(
        &self,
        key: &EndpointKey,
        bypass: bool,
    ) -> Option<crate::cache::Served<super::Resolution>> {
        if bypass {
            return None;
        }
        let resolution = self.cache.fleet().resolve(self.tenant, key)?;
        Some(crate::cache::Served {
            value: Arc::new(resolution),
            cached: true,
            stale_because: None,
        })
    }

    /// Reads the machine (unless the look-up just did) and assesses it.
    pub(crate) async fn load(
        &self,
        machine_id: &str,
        machine: Option<Arc<Machine>>,
        opts: &CallOptions,
    ) -> Result<Assessment, ServiceError> {
        let machine = match machine {
            Some(m) => m,
            None => Arc::new(
                self.client
                    .get_machine(machine_id, opts)
                    .await
                    .map_err(|e| ServiceError::from_defender(e, "machine", machine_id))?,
            ),
        };
        assess_machine(self.client, self.tenant, self.portal, machine, opts).await
    }
}
