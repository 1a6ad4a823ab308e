//! Typed caches of the read side (docs/architecture.md, "The path of one read"), on moka.
//!
//! - Endpoint risk per (tenant, machine id), fresh for `risk_ttl`.
//! - IP / hostname look-ups → machine id (and the other candidates), fresh for `lookup_ttl`.
//! - A short negative cache of NOT_FOUND look-ups (`negative_ttl`), so a scanner asking again
//!   and again for an unknown endpoint does not spend Defender quota.
//!
//! Concurrent misses of one key make one upstream load: the load runs inside moka's
//! `entry().or_try_insert_with`, which lets exactly one caller evaluate and makes the others
//! wait for its result (value or error). `bypass_cache` skips the fresh entry and loads now;
//! its result replaces the entry, and concurrent bypassing calls of one key share that one
//! load. A caller waits for a load at most until its own deadline.
//!
//! Stale-on-failure: each cache keeps a second map of the last good value per key that lives
//! for `stale_max_age` (the same `Arc`, so no second copy of the data). When a load fails with
//! UNAVAILABLE or RESOURCE_EXHAUSTED and a last good value exists, it is served with
//! `stale = true`; past `stale_max_age` moka has expired it and the error goes to the caller.
//!
//! Bounds: moka bounds one weight; each entry weighs its approximate size in bytes but at least
//! `max_bytes / max_entries`, so a cache holds at most `max_entries` entries and `max_bytes`
//! bytes, whichever comes first.

use std::borrow::Borrow;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::future::Cache;

use crate::config::CacheConfig;
use crate::error::ServiceError;
use crate::fleet::{FleetStore, LocalFleetTable};
use crate::risk::sweep::Sweeps;
use crate::risk::{Assessment, EndpointKey, Resolution};

/// Key of the risk cache: (tenant, machine id), both in lower case, kept as one byte string:
/// the tenant's length (8 bytes), the tenant, the machine id. The length keeps any two pairs
/// apart. One string rather than two because the hot path looks an entry up without a heap
/// allocation ([`RiskKeyBytes`] on the stack; moka finds entries by `Borrow<[u8]>`) and a key
/// comparison follows one pointer instead of two.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RiskKey(Box<[u8]>);

impl RiskKey {
    /// The key of `machine_id` in `tenant`.
    pub fn new(tenant: &str, machine_id: &str) -> Self {
        Self(RiskKeyBytes::new(tenant, machine_id).as_bytes().into())
    }
}

impl RiskKey {
    /// The tenant and the machine id (lower case).
    pub fn parts(&self) -> (&str, &str) {
        let text = self.0.get(8..).unwrap_or_default();
        let len = self
            .0
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, |b| u64::from_le_bytes(b) as usize)
            .min(text.len());
        let (tenant, id) = text.split_at(len);
        (
            std::str::from_utf8(tenant).unwrap_or_default(),
            std::str::from_utf8(id).unwrap_or_default(),
        )
    }
}

impl Borrow<[u8]> for RiskKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for RiskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.get(8..).unwrap_or_default();
        f.debug_tuple("RiskKey")
            .field(&String::from_utf8_lossy(text))
            .finish()
    }
}

/// Longest key built on the stack: a GUID tenant (36) and a Defender id (40) take 84 bytes.
const INLINE_KEY: usize = 128;

/// A [`RiskKey`]'s bytes for a look-up, on the stack unless the pair is unusually long.
pub enum RiskKeyBytes {
    /// Up to [`INLINE_KEY`] bytes.
    Inline([u8; INLINE_KEY], usize),
    /// Longer keys.
    Heap(Vec<u8>),
}

impl RiskKeyBytes {
    /// The key bytes of `machine_id` in `tenant`.
    pub fn new(tenant: &str, machine_id: &str) -> Self {
        let length = (tenant.len() as u64).to_le_bytes();
        let parts = [&length[..], tenant.as_bytes(), machine_id.as_bytes()];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > INLINE_KEY {
            let mut bytes = parts.concat();
            bytes[length.len()..].make_ascii_lowercase();
            return Self::Heap(bytes);
        }
        let mut buf = [0u8; INLINE_KEY];
        let mut at = 0;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        buf[length.len()..at].make_ascii_lowercase();
        Self::Inline(buf, at)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(buf, len) => &buf[..*len],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// Key of the look-up and negative caches. An IP look-up "now" is one key for `lookup_ttl`;
/// one at an explicit time is keyed by that minute (find-by-IP's window is ±15 minutes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LookupKey {
    tenant: String,
    kind: LookupKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LookupKind {
    MachineId(String),
    IpNow(std::net::IpAddr),
    IpAt(std::net::IpAddr, i64),
    Hostname(String),
}

impl LookupKey {
    /// The key of a look-up in `tenant`.
    pub fn new(tenant: &str, key: &EndpointKey) -> Self {
        let kind = match key {
            EndpointKey::MachineId(id) => LookupKind::MachineId(id.to_ascii_lowercase()),
            EndpointKey::Ip {
                ip,
                explicit: false,
                ..
            } => LookupKind::IpNow(*ip),
            EndpointKey::Ip { ip, at, .. } => LookupKind::IpAt(*ip, at.unix_timestamp() / 60),
            EndpointKey::Hostname(name) => LookupKind::Hostname(name.to_ascii_lowercase()),
        };
        Self {
            tenant: tenant.to_ascii_lowercase(),
            kind,
        }
    }
}

/// The caches' hash: foldhash, seeded per process (keys come from callers, so not a fixed
/// seed), several times cheaper than SipHash on the hot path's ~80-byte key.
type Hasher = foldhash::fast::RandomState;

/// A value served from a cache, and how.
#[derive(Debug)]
pub struct Served<V> {
    /// The value.
    pub value: Arc<V>,
    /// True when it was not loaded for this call (a hit, or another caller's load).
    pub cached: bool,
    /// Set when the value is a last good one served because the load failed; the failure.
    pub stale_because: Option<ServiceError>,
}

/// Counters of one cache, read by `/metrics` at scrape time (one relaxed add per event).
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Fresh values served without a load.
    pub hits: AtomicU64,
    /// Loads made by this caller (a miss, or `bypass_cache`).
    pub misses: AtomicU64,
    /// Callers that waited for another caller's load of the same key (single-flight).
    pub joins: AtomicU64,
    /// Last good values served (`stale = true`) because the load failed.
    pub stale_serves: AtomicU64,
    /// Entries evicted to stay within the size bounds (not expiries).
    pub evictions: AtomicU64,
}

impl CacheCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A fresh cache plus the last good values, with single-flight loads.
struct StaleCache<K, V> {
    counters: Arc<CacheCounters>,
    fresh: Cache<K, Arc<V>, Hasher>,
    last_good: Cache<K, Arc<V>, Hasher>,
    /// `bypass_cache` loads in progress: concurrent bypassing callers of one key join one load
    /// (each entry lives only until its load is done).
    bypass_loads: Cache<K, Arc<V>, Hasher>,
}

impl<K, V> StaleCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn new(
        config: &CacheConfig,
        ttl: std::time::Duration,
        size: impl Fn(&V) -> usize + Send + Sync + Clone + 'static,
    ) -> Self {
        let floor = config.max_bytes.div_ceil(config.max_entries.max(1)).max(1);
        let counters = Arc::new(CacheCounters::default());
        let build = |ttl| {
            let size = size.clone();
            Cache::builder()
                .max_capacity(config.max_bytes.max(1))
                .weigher(move |_: &K, v: &Arc<V>| {
                    u32::try_from((size(v) as u64).max(floor)).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
        };
        let evictions = Arc::clone(&counters);
        Self {
            fresh: build(ttl)
                .eviction_listener(move |_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        CacheCounters::add(&evictions.evictions);
                    }
                })
                .build_with_hasher(Hasher::default()),
            counters,
            // The last good value outlives the fresh one: at least as long as `ttl`.
            last_good: build(config.stale_max_age.max(ttl)).build_with_hasher(Hasher::default()),
            bypass_loads: build(ttl).build_with_hasher(Hasher::default()),
        }
    }

    /// The value of `key`: fresh from the cache, or from `load` (joined with concurrent loads
    /// of the key), or the last good one when the load fails in a way that allows it. With a
    /// `deadline`, waiting for a load (this caller's or another's) ends then with
    /// DEADLINE_EXCEEDED, which a last good value may stand in for: a caller never waits past
    /// its own deadline for a load started by a caller with a longer one.
    async fn get_or_load<F>(
        &self,
        key: &K,
        bypass: bool,
        deadline: Option<tokio::time::Instant>,
        load: F,
    ) -> Result<Served<V>, ServiceError>
    where
        F: Future<Output = Result<V, ServiceError>>,
    {
        if !bypass {
            if let Some(value) = self.fresh.get(key).await {
                CacheCounters::add(&self.counters.hits);
                return Ok(Served {
                    value,
                    cached: true,
                    stale_because: None,
                });
            }
        }
        let loading = async {
            // Bypassing callers share one fresh read; its result replaces the cached value.
            let joined = if bypass {
                &self.bypass_loads
            } else {
                &self.fresh
            };
            let entry = joined
                .entry(key.clone())
                .or_try_insert_with(async { load.await.map(Arc::new) })
                .await
                .map_err(|shared| (*shared).clone())?;
            let loaded_here = entry.is_fresh();
            let value = entry.into_value();
            if bypass && loaded_here {
                self.bypass_loads.invalidate(key).await;
                self.fresh.insert(key.clone(), value.clone()).await;
            }
            Ok::<_, ServiceError>((value, !loaded_here))
        };
        let loaded = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, loading)
                .await
                .unwrap_or(Err(ServiceError::DeadlineExceeded)),
            None => loading.await,
        };
        match loaded {
            Ok((value, cached)) => {
                CacheCounters::add(if cached {
                    &self.counters.joins
                } else {
                    &self.counters.misses
                });
                if !cached {
                    self.last_good.insert(key.clone(), value.clone()).await;
                }
                Ok(Served {
                    value,
                    cached,
                    stale_because: None,
                })
            }
            Err(err) => match self.stale(key, &err).await {
                Some(value) => {
                    CacheCounters::add(&self.counters.stale_serves);
                    Ok(Served {
                        value,
                        cached: true,
                        stale_because: Some(err),
                    })
                }
                None => Err(err),
            },
        }
    }

    async fn stale(&self, key: &K, err: &ServiceError) -> Option<Arc<V>> {
        if err.allows_stale() {
            self.last_good.get(key).await
        } else {
            None
        }
    }

    async fn insert(&self, key: K, value: Arc<V>) {
        self.fresh.insert(key.clone(), value.clone()).await;
        self.last_good.insert(key, value).await;
    }
}

/// The read side's caches, shared by every handler (it lives in `AppState`, `src/state.rs`).
pub struct RiskCache {
    risk: StaleCache<RiskKey, Assessment>,
    lookups: StaleCache<LookupKey, Resolution>,
    negative: Cache<LookupKey, ServiceError, Hasher>,
    sweeps: Arc<Sweeps>,
    /// The fleet table (docs/fleet-table.md): consulted before the risk cache; empty unless
    /// `--fleet-sync` fills it.
    fleet: Arc<dyn FleetStore>,
}

impl std::fmt::Debug for RiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskCache")
            .field("risk_entries", &self.risk.fresh.entry_count())
            .field("lookup_entries", &self.lookups.fresh.entry_count())
            .finish_non_exhaustive()
    }
}

impl RiskCache {
    /// Caches bounded and timed by `config`.
    pub fn new(config: &CacheConfig) -> Self {
        Self {
            risk: StaleCache::new(config, config.risk_ttl, Assessment::approx_size),
            lookups: StaleCache::new(config, config.lookup_ttl, Resolution::approx_size),
            negative: Cache::builder()
                .max_capacity(config.max_entries.max(1))
                .time_to_live(config.negative_ttl)
                .build_with_hasher(Hasher::default()),
            sweeps: Arc::default(),
            fleet: Arc::new(LocalFleetTable::default()),
        }
    }

    /// The fleet table.
    pub fn fleet(&self) -> &Arc<dyn FleetStore> {
        &self.fleet
    }

    /// The fleet table's answer for `key` (unless bypassing), as a cache hit.
    fn table_risk(&self, key: &RiskKey, bypass: bool) -> Option<Served<Assessment>> {
        if bypass {
            return None;
        }
        let (tenant, machine_id) = key.parts();
        let value = self.fleet.risk(tenant, machine_id)?;
        Some(Served {
            value,
            cached: true,
            stale_because: None,
        })
    }

    /// A risk just read from Defender also refreshes the machine's row in the fleet table
    /// (so `bypass_cache` and the reads after an action update what the table serves).
    fn refresh_table(&self, served: &Result<Served<Assessment>, ServiceError>) {
        if let Ok(Served {
            value,
            cached: false,
            stale_because: None,
        }) = served
        {
            self.fleet.update(&value.tenant, Arc::clone(value));
        }
    }

    /// What the bulk reads remember per tenant (alert list sizes, shared fleet sweeps).
    pub fn sweeps(&self) -> &Arc<Sweeps> {
        &self.sweeps
    }

    /// The machine's risk: cached, or loaded by `load` (one load for concurrent misses), or
    /// the last good one when the load fails with UNAVAILABLE / RESOURCE_EXHAUSTED.
    pub async fn risk<F>(
        &self,
        key: &RiskKey,
        bypass: bool,
        load: F,
    ) -> Result<Served<Assessment>, ServiceError>
    where
        F: Future<Output = Result<Assessment, ServiceError>>,
    {
        if let Some(served) = self.table_risk(key, bypass) {
            return Ok(served);
        }
        let served = self.risk.get_or_load(key, bypass, None, load).await;
        self.refresh_table(&served);
        served
    }

    /// [`RiskCache::risk`], waiting for the load at most until `deadline` (then
    /// DEADLINE_EXCEEDED, or the last good risk).
    pub async fn risk_until<F>(
        &self,
        key: &RiskKey,
        bypass: bool,
        deadline: Option<tokio::time::Instant>,
        load: F,
    ) -> Result<Served<Assessment>, ServiceError>
    where
        F: Future<Output = Result<Assessment, ServiceError>>,
    {
        if let Some(served) = self.table_risk(key, bypass) {
            return Ok(served);
        }
        let served = self.risk.get_or_load(key, bypass, deadline, load).await;
        self.refresh_table(&served);
        served
    }

    /// A fresh cached risk of `machine_id` in `tenant`, if any (no load). The hot path: the key
    /// is built on the stack.
    pub async fn cached_risk(&self, tenant: &str, machine_id: &str) -> Option<Arc<Assessment>> {
        if let Some(assessment) = self.fleet.risk(tenant, machine_id) {
            return Some(assessment);
        }
        let key = RiskKeyBytes::new(tenant, machine_id);
        // Boxed: moka's `get` future is ~730 bytes; inline, it makes the handler's future too
        // big for glibc's thread cache (1 KiB), and that allocation then takes the arena lock
        // on every call (measured: ~0.4 µs per hit). Two small allocations are cheaper.
        let found = Box::pin(self.risk.fresh.get(key.as_bytes())).await;
        if found.is_some() {
            // A miss here is counted by the load that follows.
            CacheCounters::add(&self.risk.counters.hits);
        }
        found
    }

    /// The last good risk, when `err` allows serving one.
    pub async fn stale_risk(&self, key: &RiskKey, err: &ServiceError) -> Option<Arc<Assessment>> {
        self.risk.stale(key, err).await
    }

    /// Stores a risk computed elsewhere (the batch's bulk path).
    pub async fn insert_risk(&self, key: RiskKey, value: Arc<Assessment>) {
        self.fleet.update(&value.tenant, Arc::clone(&value));
        self.risk.insert(key, value).await;
    }

    /// An IP / hostname look-up: cached, or resolved by `load` (single-flight), or the last
    /// good one when Defender fails. A NOT_FOUND is remembered for `negative_ttl`.
    pub async fn lookup<F>(
        &self,
        key: &LookupKey,
        bypass: bool,
        load: F,
    ) -> Result<Served<Resolution>, ServiceError>
    where
        F: Future<Output = Result<Resolution, ServiceError>>,
    {
        self.lookup_until(key, bypass, None, load).await
    }

    /// [`RiskCache::lookup`], waiting for the load at most until `deadline` (then
    /// DEADLINE_EXCEEDED, or the last good look-up).
    pub async fn lookup_until<F>(
        &self,
        key: &LookupKey,
        bypass: bool,
        deadline: Option<tokio::time::Instant>,
        load: F,
    ) -> Result<Served<Resolution>, ServiceError>
    where
        F: Future<Output = Result<Resolution, ServiceError>>,
    {
        if !bypass {
            if let Some(err) = self.known_missing(key).await {
                // A remembered NOT_FOUND is a look-up served without a load.
                CacheCounters::add(&self.lookups.counters.hits);
                return Err(err);
            }
        }
        let result = self.lookups.get_or_load(key, bypass, deadline, load).await;
        if let Err(err @ ServiceError::NotFound { .. }) = &result {
            self.negative.insert(key.clone(), err.clone()).await;
        }
        result
    }

    /// A fresh cached look-up, if any (no load).
    pub async fn cached_lookup(&self, key: &LookupKey) -> Option<Arc<Resolution>> {
        self.lookups.fresh.get(key).await
    }

    /// Stores a look-up resolved elsewhere (the batch's bulk hostname look-up).
    pub async fn insert_lookup(&self, key: LookupKey, value: Arc<Resolution>) {
        self.lookups.insert(key, value).await;
    }

    /// The last good look-up, when `err` allows serving one.
    pub async fn stale_lookup(
        &self,
        key: &LookupKey,
        err: &ServiceError,
    ) -> Option<Arc<Resolution>> {
        self.lookups.stale(key, err).await
    }

    /// The remembered NOT_FOUND of a look-up, if it is recent.
    pub async fn known_missing(&self, key: &LookupKey) -> Option<ServiceError> {
        self.negative.get(key).await
    }

    /// Remembers a NOT_FOUND for `negative_ttl`.
    pub async fn remember_missing(&self, key: LookupKey, err: ServiceError) {
        self.negative.insert(key, err).await;
    }

    /// Drops the machine's cached risk so the next read asks Defender (the actions call this
    /// after isolating, releasing or scanning a machine). The last good value is kept: it is
    /// only ever served flagged `stale`, and only while Defender fails. A remembered NOT_FOUND
    /// of the id is dropped too.
    pub async fn invalidate_machine(&self, tenant: &str, machine_id: &str) {
        self.fleet.invalidate(tenant, machine_id);
        let key = RiskKey::new(tenant, machine_id);
        self.risk.fresh.invalidate(&key).await;
        let lookup = LookupKey::new(tenant, &EndpointKey::MachineId(machine_id.to_string()));
        self.negative.invalidate(&lookup).await;
    }

    /// The counters of each cache, by the `cache` label of `/metrics`: `risk`, `lookup`.
    pub fn counters(&self) -> [(&'static str, &CacheCounters); 2] {
        [
            ("risk", self.risk.counters.as_ref()),
            ("lookup", self.lookups.counters.as_ref()),
        ]
    }

    /// Entries of each cache now (fresh maps, moka's estimate), by `cache` label.
    pub fn entry_counts(&self) -> [(&'static str, u64); 3] {
        [
            ("risk", self.risk.fresh.entry_count()),
            ("lookup", self.lookups.fresh.entry_count()),
            ("negative", self.negative.entry_count()),
        ]
    }

    /// Number of fresh risk entries (after pending maintenance), for tests and metrics.
    pub async fn risk_entries(&self) -> u64 {
        self.risk.fresh.run_pending_tasks().await;
        self.risk.fresh.entry_count()
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
