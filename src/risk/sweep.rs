//! What the read side shares about a tenant's bulk reads, across requests (it lives in the
//! [`RiskCache`](crate::cache::RiskCache)):
//!
//! - the size of the tenant's active alert list as the last tenant-wide read counted it, so
//!   that a batch can tell whether a few per-machine reads are cheaper than the tenant-wide
//!   one ([`AlertRead`](super::bulk::AlertRead));
//! - the fleet sweep: the tenant-wide alerts + vulnerability rows + CVE details read that
//!   `StreamFleetRisk` scores machines with. Concurrent streams of a tenant share one read
//!   (single-flight), and a stream that starts while another still holds a sweep younger than
//!   [`SHARE_WINDOW`] uses it too, so N concurrent streams cost one read and one copy of the
//!   summaries. The sweep is dropped with the last stream that holds it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::bulk::BulkParts;
use crate::error::ServiceError;

/// A finished sweep is shared with streams that start this long after it started (while a
/// stream still holds it); later streams read afresh.
pub const SHARE_WINDOW: Duration = Duration::from_secs(60);

/// Which bulk parts a fleet sweep reads (the filters can make either useless).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SweepNeeds {
    /// The tenant's active alerts.
    pub alerts: bool,
    /// The vulnerability rows and CVE details.
    pub vulnerabilities: bool,
}

/// A finished sweep: the parts and the upstream calls they took.
#[derive(Debug)]
pub struct SweepResult {
    /// The folded alerts and vulnerabilities.
    pub parts: BulkParts,
    /// Upstream requests of the read.
    pub calls: u32,
}

#[derive(Debug)]
struct Slot {
    started: Instant,
    result: OnceCell<Arc<SweepResult>>,
}

/// A sweep in use by one stream; holding it keeps the sweep for streams that join.
#[derive(Debug)]
pub struct SharedSweep {
    _slot: Arc<Slot>,
    result: Arc<SweepResult>,
}

impl SharedSweep {
    /// The sweep's result.
    pub fn result(&self) -> &SweepResult {
        &self.result
    }

    /// The sweep's result, shared (for work that must own it, such as a blocking thread; the
    /// sweep stays joinable only while this `SharedSweep` is held).
    pub fn shared(&self) -> Arc<SweepResult> {
        Arc::clone(&self.result)
    }
}

type SweepKey = (String, SweepNeeds);

/// Per-tenant memory of bulk reads.
#[derive(Debug, Default)]
pub struct Sweeps {
    active_alerts: Mutex<HashMap<String, u64>>,
    fleet: Mutex<HashMap<SweepKey, Weak<Slot>>>,
    /// Sweeps made and their durations (`/metrics`).
    pub stats: SweepStats,
}

/// Fleet sweeps by outcome and their duration: `defender_bridge_fleet_sweeps_total` and
/// `defender_bridge_fleet_sweep_duration_seconds`. [`SweepStats::record`] is the hook for any
/// bulk sweep of the fleet (the streams' shared sweep records here).
#[derive(Debug)]
pub struct SweepStats {
    ok: AtomicU64,
    failed: AtomicU64,
    duration: prometheus::Histogram,
}

impl Default for SweepStats {
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        let duration = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "defender_bridge_fleet_sweep_duration_seconds",
                "Duration of bulk reads of the whole fleet (alerts, vulnerabilities, CVEs).",
            )
            .buckets(vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
        )
        .expect("static histogram options are valid");
        Self {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            duration,
        }
    }
}

impl SweepStats {
    /// Records one sweep.
    pub fn record(&self, elapsed: Duration, ok: bool) {
        let counter = if ok { &self.ok } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Sweeps so far: (succeeded, failed).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// The duration histogram (registered by `crate::metrics`).
    pub fn duration_histogram(&self) -> prometheus::Histogram {
        self.duration.clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sweeps {
    /// Active alerts of `tenant` as the last tenant-wide read counted them.
    pub fn known_active_alerts(&self, tenant: &str) -> Option<u64> {
        lock(&self.active_alerts).get(tenant).copied()
    }

    /// Records the count of a complete tenant-wide read of `tenant`'s active alerts.
    pub fn record_active_alerts(&self, tenant: &str, count: u64) {
        lock(&self.active_alerts).insert(tenant.to_string(), count);
    }
}

impl Sweeps {
    /// The fleet sweep of `tenant`: joins the one in flight or recently finished (see the
    /// module doc), else runs `read`. A failed read is not shared: each waiting stream then
    /// tries its own.
    pub async fn fleet_sweep<F, Fut>(
        &self,
        tenant: &str,
        needs: SweepNeeds,
        read: F,
    ) -> Result<SharedSweep, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SweepResult, ServiceError>>,
    {
        let slot = {
            let mut slots = lock(&self.fleet);
            slots.retain(|_, slot| slot.strong_count() > 0);
            let key = (tenant.to_string(), needs);
            let live = slots.get(&key).and_then(Weak::upgrade).filter(|slot| {
                // In flight: always join. Finished: only while recent.
                !slot.result.initialized() || slot.started.elapsed() < SHARE_WINDOW
            });
            match live {
                Some(slot) => slot,
                None => {
                    let slot = Arc::new(Slot {
                        started: Instant::now(),
                        result: OnceCell::new(),
                    });
                    slots.insert(key, Arc::downgrade(&slot));
                    slot
                }
            }
        };
        let result = slot
            .result
            .get_or_try_init(|| async move {
                let started = Instant::now();
                let result = read().await;
                self.stats.record(started.elapsed(), result.is_ok());
                result.map(Arc::new)
            })
            .await?
            .clone();
        Ok(SharedSweep {
            _slot: slot,
            result,
        })
    }

    /// Fleet sweeps held by running streams (for tests and diagnostics).
    pub fn fleet_sweeps_held(&self) -> usize {
        lock(&self.fleet)
            .values()
            .filter(|slot| slot.strong_count() > 0)
            .count()
    }
}
