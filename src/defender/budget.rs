//! The local rate budget: Defender's published per-API quotas, enforced on our side so that the
//! service waits a little (or says RATE_LIMITED at once) instead of earning 429s, which all
//! replicas of a tenant share.
//!
//! Each (tenant, API family) has a per-minute and a per-hour sliding window, admitting at most
//! [`SAFETY_MARGIN`] of the published limit (times this replica's share). A sliding log rather
//! than a token bucket, because a bucket refilled over an hour admits up to twice its size in
//! some hour-long window, which Defender's hourly quota would punish.
//!
//! Defender counts a call when it arrives, which is some time after we send it; counting from
//! the send let the two windows slide apart (a call admitted here a minute after another could
//! reach Defender less than a minute after it). So a call is counted from its send until a
//! window after its answer (see [`RateBudget`]). A 429 from Defender is authoritative: it blocks
//! the family for every caller until its `Retry-After`. The number of calls waiting per family
//! is bounded, and a call whose wait would pass its deadline is refused at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::error::DefenderError;

/// The API groups that Defender throttles separately.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ApiFamily {
    /// Get / list machines, find by IP: 100/min, 1,500/h.
    Machines,
    /// Get / list machine actions: 100/min, 1,500/h.
    MachineActions,
    /// List alerts and a machine's alerts: 100/min, 1,500/h.
    Alerts,
    /// A machine's vulnerabilities: 50/min, 1,500/h.
    MachineVulnerabilities,
    /// Vulnerabilities list and machinesVulnerabilities: undocumented, 100/min, 1,500/h assumed.
    Vulnerabilities,
    /// Software and machineReferences: undocumented, 100/min, 1,500/h assumed.
    Software,
    /// Isolate / unisolate / AV scan / cancel (POSTs): 100/min, 1,500/h.
    Actions,
    /// Defender advanced hunting: 45/min, 1,500/h.
    AdvancedHunting,
    /// Graph `runHuntingQuery`: not in the reference; the advanced-hunting limits (45/min,
    /// 1,500/h) are assumed since it replaces that API.
    GraphHunting,
}

impl ApiFamily {
    /// Every family, in a fixed order (for stats).
    pub const ALL: [ApiFamily; 9] = [
        ApiFamily::Machines,
        ApiFamily::MachineActions,
        ApiFamily::Alerts,
        ApiFamily::MachineVulnerabilities,
        ApiFamily::Vulnerabilities,
        ApiFamily::Software,
        ApiFamily::Actions,
        ApiFamily::AdvancedHunting,
        ApiFamily::GraphHunting,
    ];

    /// Published calls per minute per tenant.
    pub fn per_minute(&self) -> u32 {
        match self {
            ApiFamily::MachineVulnerabilities => 50,
            ApiFamily::AdvancedHunting | ApiFamily::GraphHunting => 45,
            _ => 100,
        }
    }

    /// Published calls per hour per tenant.
    pub fn per_hour(&self) -> u32 {
        1500
    }

    /// Largest `$top` the family's list APIs accept.
    pub fn max_page_size(&self) -> u32 {
        match self {
            ApiFamily::Vulnerabilities => 8000,
            _ => 10_000,
        }
    }

    /// A stable lower-case name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            ApiFamily::Machines => "machines",
            ApiFamily::MachineActions => "machine_actions",
            ApiFamily::Alerts => "alerts",
            ApiFamily::MachineVulnerabilities => "machine_vulnerabilities",
            ApiFamily::Vulnerabilities => "vulnerabilities",
            ApiFamily::Software => "software",
            ApiFamily::Actions => "actions",
            ApiFamily::AdvancedHunting => "advanced_hunting",
            ApiFamily::GraphHunting => "graph_hunting",
        }
    }

    pub(crate) fn index(&self) -> usize {
        *self as usize
    }
}

impl fmt::Display for ApiFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fraction of each published limit the budget admits: the rest is a safety margin for calls
/// another client of the tenant makes and for clocks that disagree by a little.
pub const SAFETY_MARGIN: f64 = 0.9;

/// Calls that may wait for one (tenant, family) at a time; more are refused at once.
pub const DEFAULT_MAX_WAITERS: usize = 200;

/// Key of one budget.
type Key = (String, ApiFamily);

/// One (tenant, family): who is in flight, when finished calls leave each window, and whether a
/// 429 holds everyone back.
#[derive(Debug)]
struct FamilyState {
    /// Admissions per window (minute, hour), after share and margin.
    limits: [usize; 2],
    /// Per window: the instants at which finished calls stop counting.
    released: [Vec<Instant>; 2],
    /// Calls sent and not finished: permit id -> send instant. They count in every window
    /// until they finish.
    in_flight: HashMap<u64, Instant>,
    /// Set by a 429: nobody is admitted before this.
    blocked_until: Option<Instant>,
    /// Calls currently waiting for a permit.
    waiting: usize,
}

impl FamilyState {
    /// How long a call must wait for a permit when `ahead` calls are already waiting.
    fn wait(&mut self, now: Instant, ahead: usize, periods: &[Duration; 2]) -> Duration {
        let mut wait = self
            .blocked_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        for (i, period) in periods.iter().enumerate() {
            self.released[i].retain(|at| *at > now);
            let limit = self.limits[i];
            let count = self.in_flight.len() + self.released[i].len();
            // Entries that must leave the window before this call fits.
            let need = (count + ahead + 1).saturating_sub(limit);
            if need == 0 {
                continue;
            }
            // An in-flight call is assumed to finish now (its earliest possible release).
            let skew = skew(*period);
            let mut times: Vec<Instant> = self.released[i]
                .iter()
                .copied()
                .chain(
                    self.in_flight
                        .values()
                        .map(|sent| (*sent + *period + skew).max(now + *period)),
                )
                .collect();
            let window_wait = if need <= times.len() {
                let (_, kth, _) = times.select_nth_unstable(need - 1);
                kth.saturating_duration_since(now)
            } else {
                // More waiters than entries: each further `limit` of them needs another window.
                let last = times.iter().max().copied().unwrap_or(now);
                let rounds = (need - times.len()).div_ceil(limit.max(1)) as u32;
                last.saturating_duration_since(now) + *period * rounds
            };
            wait = wait.max(window_wait);
        }
        wait
    }
}

/// How much later than its send a call may reach Defender (connection set-up, proxies) and
/// still be counted in the right window: 1 s per minute of window.
fn skew(period: Duration) -> Duration {
    period / 60
}

/// Per (tenant, family) budgets. Share one between clients of the same tenant in one process.
///
/// Defender counts a call when it *arrives*; this budget cannot see arrivals, so it counts a
/// call from its send until a window's length after its answer (at least a window plus a
/// skew after the send), and an unanswered call until a window plus the skew after it ended.
/// Whatever the arrival time, Defender's count in any window is then at most this budget's
/// count when the call was admitted, which is below the published limit by the margin.
#[derive(Debug)]
pub struct RateBudget {
    enabled: bool,
    share: f64,
    /// Window lengths (one minute, one hour); shorter in tests.
    periods: [Duration; 2],
    max_waiters: usize,
    next_id: AtomicU64,
    families: Mutex<HashMap<Key, FamilyState>>,
    /// A budget this one draws from as well (a background reader's share of the service's
    /// budget): a call needs a permit of both.
    parent: Option<Arc<RateBudget>>,
}

impl RateBudget {
    /// A budget admitting `share` of each family's published limits (less the
    /// [`SAFETY_MARGIN`], at least one call per window); `enabled = false` admits everything.
    pub fn new(enabled: bool, share: f64) -> Arc<Self> {
        Self::with_window(enabled, share, Duration::from_secs(60))
    }

    /// Like [`RateBudget::new`] with a "minute" window of `minute` and an "hour" of 60 of them:
    /// tests run the real counting rules against a simulator configured with the same window.
    pub fn with_window(enabled: bool, share: f64, minute: Duration) -> Arc<Self> {
        Self::build(enabled, share, [minute, minute * 60], DEFAULT_MAX_WAITERS)
    }

    fn build(enabled: bool, share: f64, periods: [Duration; 2], max_waiters: usize) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            share: if share > 0.0 && share <= 1.0 {
                share
            } else {
                1.0
            },
            periods,
            max_waiters,
            next_id: AtomicU64::new(0),
            families: Mutex::new(HashMap::new()),
            parent: None,
        })
    }

    /// A budget for a background reader (the fleet sweeps): it admits `fraction` of what
    /// `parent` admits per window, and every call it admits also takes a permit of `parent`,
    /// so the reader never uses more than its fraction and the parent's limits still hold for
    /// everything together.
    pub fn share_of(parent: &Arc<RateBudget>, fraction: f64) -> Arc<Self> {
        let fraction = if fraction > 0.0 && fraction <= 1.0 {
            fraction
        } else {
            1.0
        };
        Arc::new(Self {
            enabled: parent.enabled,
            share: parent.share * fraction,
            periods: parent.periods,
            max_waiters: parent.max_waiters,
            next_id: AtomicU64::new(0),
            families: Mutex::new(HashMap::new()),
            parent: Some(Arc::clone(parent)),
        })
    }

    fn limits(&self, family: ApiFamily) -> [usize; 2] {
        let scale = |published: u32| {
            ((published as f64) * self.share * SAFETY_MARGIN)
                .floor()
                .max(1.0) as usize
        };
        [scale(family.per_minute()), scale(family.per_hour())]
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, FamilyState>> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state<'m>(
        &self,
        families: &'m mut HashMap<Key, FamilyState>,
        key: &Key,
    ) -> &'m mut FamilyState {
        families.entry(key.clone()).or_insert_with(|| FamilyState {
            limits: self.limits(key.1),
            released: [Vec::new(), Vec::new()],
            in_flight: HashMap::new(),
            blocked_until: None,
            waiting: 0,
        })
    }

    /// Waits for a permit to send one request; the call counts until the permit is dropped
    /// (drop it when the answer's head arrived, or the attempt ended). If the wait would end
    /// after `deadline`, or too many calls already wait, returns
    /// [`DefenderError::RateBudgetExhausted`] at once instead of waiting in vain.
    pub async fn acquire(
        self: &Arc<Self>,
        tenant: &str,
        family: ApiFamily,
        deadline: Option<Instant>,
    ) -> Result<Permit, DefenderError> {
        let mut permit = self.acquire_own(tenant, family, deadline).await?;
        if let Some(parent) = &self.parent {
            let outer = Box::pin(parent.acquire(tenant, family, deadline)).await?;
            permit.parent = Some(Box::new(outer));
        }
        Ok(permit)
    }

    async fn acquire_own(
        self: &Arc<Self>,
        tenant: &str,
        family: ApiFamily,
        deadline: Option<Instant>,
    ) -> Result<Permit, DefenderError> {
        if !self.enabled {
            return Ok(Permit {
                inner: None,
                parent: None,
            });
        }
        let key: Key = (tenant.to_owned(), family);
        let mut waiter: Option<Waiter<'_>> = None;
        loop {
            let now = Instant::now();
            let wait = {
                let mut families = self.lock();
                let state = self.state(&mut families, &key);
                // A new call queues behind the waiting ones; a waiting one competes on wake-up.
                let ahead = if waiter.is_some() { 0 } else { state.waiting };
                let wait = state.wait(now, ahead, &self.periods);
                if wait.is_zero() {
                    if let Some(mut w) = waiter.take() {
                        state.waiting = state.waiting.saturating_sub(1);
                        w.armed = false;
                    }
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    state.in_flight.insert(id, now);
                    return Ok(Permit {
                        inner: Some(PermitInner {
                            budget: Arc::clone(self),
                            key,
                            id,
                            sent: now,
                            answered: false,
                        }),
                        parent: None,
                    });
                }
                let refuse = deadline.is_some_and(|d| now + wait > d)
                    || (waiter.is_none() && state.waiting >= self.max_waiters);
                if refuse {
                    // Dropping `waiter` (if any) takes this call out of the queue.
                    tracing::debug!(%family, wait_ms = wait.as_millis() as u64, waiting = state.waiting, "rate budget cannot admit in time");
                    drop(families);
                    return Err(DefenderError::RateBudgetExhausted {
                        family,
                        retry_after: wait,
                    });
                }
                if waiter.is_none() {
                    state.waiting += 1;
                    waiter = Some(Waiter {
                        budget: self,
                        key: key.clone(),
                        armed: true,
                    });
                }
                wait
            };
            tracing::debug!(%family, wait_ms = wait.as_millis() as u64, "waiting for rate budget");
            tokio::time::sleep(wait).await;
        }
    }

    /// Defender said 429: hold every caller of the family until `retry_after` from now.
    pub fn block_for(&self, tenant: &str, family: ApiFamily, retry_after: Duration) {
        if !self.enabled {
            return;
        }
        if let Some(parent) = &self.parent {
            parent.block_for(tenant, family, retry_after);
        }
        let until = Instant::now() + retry_after;
        let key: Key = (tenant.to_owned(), family);
        let mut families = self.lock();
        let state = self.state(&mut families, &key);
        state.blocked_until = Some(state.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// The pause after a 429 that gave no `Retry-After`: a sixth of the minute window.
    pub fn default_pause(&self) -> Duration {
        self.periods[0] / 6
    }

    /// Calls each window of the family would still admit now (for metrics and tests).
    pub fn remaining(&self, tenant: &str, family: ApiFamily) -> [usize; 2] {
        let key: Key = (tenant.to_owned(), family);
        let now = Instant::now();
        let mut families = self.lock();
        let state = self.state(&mut families, &key);
        let mut left = [0; 2];
        for (i, slot) in left.iter_mut().enumerate() {
            state.released[i].retain(|at| *at > now);
            let used = state.in_flight.len() + state.released[i].len();
            *slot = state.limits[i].saturating_sub(used);
        }
        left
    }
}

/// Takes a waiting call out of the count if its future is dropped (caller gone) or refused.
struct Waiter<'a> {
    budget: &'a RateBudget,
    key: Key,
    armed: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut families = self.budget.lock();
            if let Some(state) = families.get_mut(&self.key) {
                state.waiting = state.waiting.saturating_sub(1);
            }
        }
    }
}

/// The right to send one request. While it lives the call counts as in flight; dropping it
/// starts the call's time in the windows.
#[derive(Debug)]
pub struct Permit {
    inner: Option<PermitInner>,
    /// The parent budget's permit, for a call of a background share.
    parent: Option<Box<Permit>>,
}

#[derive(Debug)]
struct PermitInner {
    budget: Arc<RateBudget>,
    key: Key,
    id: u64,
    sent: Instant,
    answered: bool,
}

impl Permit {
    /// Records that Defender answered (so the request has certainly arrived by now).
    pub fn answered(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.answered = true;
        }
        if let Some(parent) = &mut self.parent {
            parent.answered();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let now = Instant::now();
        let periods = inner.budget.periods;
        let mut families = inner.budget.lock();
        if let Some(state) = families.get_mut(&inner.key) {
            state.in_flight.remove(&inner.id);
            for (i, period) in periods.iter().enumerate() {
                let skew = skew(*period);
                // Unanswered: the request may still be on its way; allow the skew after now.
                let after_end = if inner.answered { Duration::ZERO } else { skew };
                let release = (inner.sent + *period + skew).max(now + *period + after_end);
                state.released[i].push(release);
            }
        }
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
