//! The local rate budget: Defender's published per-API quotas, enforced on our side so that the
//! service waits a little instead of earning 429s (which all replicas of a tenant share).
//!
//! Each (tenant, API family) has a per-minute and a per-hour sliding window. A sliding log is
//! used rather than a token bucket because a bucket refilled over an hour admits up to twice its
//! size in some hour-long window, which Defender's hourly quota would punish. The windows hold
//! at most `limit` instants each (1,500 for the hour), so memory stays small. A 429 from Defender
//! blocks the family until its `Retry-After`, so concurrent callers stop knocking too.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
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

/// A sliding-window log: at most `limit` admissions in any `period`.
#[derive(Debug)]
struct SlidingWindow {
    limit: usize,
    period: Duration,
    admitted: VecDeque<Instant>,
}

impl SlidingWindow {
    fn new(limit: usize, period: Duration) -> Self {
        Self {
            limit: limit.max(1),
            period,
            admitted: VecDeque::new(),
        }
    }

    /// Zero when a call may go now, else how long until the oldest admission leaves the window.
    fn wait(&mut self, now: Instant) -> Duration {
        while let Some(first) = self.admitted.front() {
            if now.saturating_duration_since(*first) >= self.period {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() < self.limit {
            return Duration::ZERO;
        }
        let release = self.admitted.len() - self.limit;
        self.admitted
            .get(release)
            .map(|oldest| (*oldest + self.period).saturating_duration_since(now))
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct FamilyWindows {
    windows: Vec<SlidingWindow>,
    blocked_until: Option<Instant>,
}

impl FamilyWindows {
    fn wait(&mut self, now: Instant) -> Duration {
        let blocked = self
            .blocked_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        self.windows
            .iter_mut()
            .map(|w| w.wait(now))
            .fold(blocked, Duration::max)
    }
}

/// Per (tenant, family) budgets. Share one between clients of the same tenant in one process.
#[derive(Debug)]
pub struct RateBudget {
    enabled: bool,
    share: f64,
    /// Window lengths (one minute, one hour); shorter in tests.
    periods: [Duration; 2],
    families: Mutex<HashMap<(String, ApiFamily), FamilyWindows>>,
}

impl RateBudget {
    /// A budget admitting `share` of each family's published limits (at least one call per
    /// window); `enabled = false` admits everything.
    pub fn new(enabled: bool, share: f64) -> Arc<Self> {
        Self::with_periods(
            enabled,
            share,
            [Duration::from_secs(60), Duration::from_secs(3600)],
        )
    }

    fn with_periods(enabled: bool, share: f64, periods: [Duration; 2]) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            share: if share > 0.0 && share <= 1.0 {
                share
            } else {
                1.0
            },
            periods,
            families: Mutex::new(HashMap::new()),
        })
    }

    fn limits(&self, family: ApiFamily) -> [usize; 2] {
        let scale = |published: u32| ((published as f64) * self.share).floor().max(1.0) as usize;
        [scale(family.per_minute()), scale(family.per_hour())]
    }

    /// Waits for a permit. If the wait would end after `deadline`, returns
    /// [`DefenderError::RateBudgetExhausted`] at once instead of waiting in vain.
    pub async fn acquire(
        &self,
        tenant: &str,
        family: ApiFamily,
        deadline: Option<Instant>,
    ) -> Result<(), DefenderError> {
        if !self.enabled {
            return Ok(());
        }
        loop {
            let now = Instant::now();
            let wait = {
                let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
                let entry = families
                    .entry((tenant.to_owned(), family))
                    .or_insert_with(|| {
                        let limits = self.limits(family);
                        FamilyWindows {
                            windows: vec![
                                SlidingWindow::new(limits[0], self.periods[0]),
                                SlidingWindow::new(limits[1], self.periods[1]),
                            ],
                            blocked_until: None,
                        }
                    });
                let wait = entry.wait(now);
                if wait.is_zero() {
                    for window in &mut entry.windows {
                        window.admitted.push_back(now);
                    }
                    return Ok(());
                }
                wait
            };
            if deadline.is_some_and(|d| now + wait > d) {
                tracing::debug!(%family, wait_ms = wait.as_millis() as u64, "rate budget cannot admit before the deadline");
                return Err(DefenderError::RateBudgetExhausted {
                    family,
                    retry_after: wait,
                });
            }
            tracing::debug!(%family, wait_ms = wait.as_millis() as u64, "waiting for rate budget");
            tokio::time::sleep(wait).await;
        }
    }

    /// Defender said 429: hold the family's calls until `retry_after` from now.
    pub fn block_for(&self, tenant: &str, family: ApiFamily, retry_after: Duration) {
        if !self.enabled {
            return;
        }
        let until = Instant::now() + retry_after;
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = families.get_mut(&(tenant.to_owned(), family)) {
            entry.blocked_until = Some(entry.blocked_until.map_or(until, |b| b.max(until)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_limits_and_page_sizes() {
        assert_eq!(ApiFamily::MachineVulnerabilities.per_minute(), 50);
        assert_eq!(ApiFamily::AdvancedHunting.per_minute(), 45);
        assert_eq!(ApiFamily::Machines.per_minute(), 100);
        assert_eq!(ApiFamily::Machines.per_hour(), 1500);
        assert_eq!(ApiFamily::Vulnerabilities.max_page_size(), 8000);
        assert_eq!(ApiFamily::Alerts.max_page_size(), 10_000);
        for (i, f) in ApiFamily::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    #[tokio::test]
    async fn budget_refuses_at_once_when_the_wait_passes_the_deadline() {
        // share 0.02 of 100/min = 2 calls per minute.
        let budget = RateBudget::new(true, 0.02);
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        for _ in 0..2 {
            budget
                .acquire("t", ApiFamily::Machines, deadline)
                .await
                .expect("within budget");
        }
        let started = Instant::now();
        let err = budget
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .expect_err("budget spent");
        assert!(started.elapsed() < Duration::from_millis(100));
        match err {
            DefenderError::RateBudgetExhausted {
                family,
                retry_after,
            } => {
                assert_eq!(family, ApiFamily::Machines);
                assert!(retry_after > Duration::from_secs(55), "{retry_after:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Other families and tenants have their own budgets.
        budget
            .acquire("t", ApiFamily::Alerts, deadline)
            .await
            .expect("alerts budget is separate");
        budget
            .acquire("other", ApiFamily::Machines, deadline)
            .await
            .expect("tenant budget is separate");
    }

    #[tokio::test]
    async fn budget_waits_for_a_permit_within_the_deadline() {
        // 2 per 200 ms "minute" window.
        let budget = RateBudget::with_periods(
            true,
            0.02,
            [Duration::from_millis(200), Duration::from_secs(3600)],
        );
        let started = Instant::now();
        for _ in 0..3 {
            budget
                .acquire(
                    "t",
                    ApiFamily::Machines,
                    Some(started + Duration::from_secs(2)),
                )
                .await
                .expect("admitted after waiting");
        }
        assert!(started.elapsed() >= Duration::from_millis(190));
    }

    #[tokio::test]
    async fn hourly_window_limits_even_when_minute_window_has_room() {
        // share 0.002: 1/min (floored to 1), 3/hour. Use short periods: minute 10 ms, hour 10 s.
        let budget = RateBudget::with_periods(
            true,
            0.002,
            [Duration::from_millis(10), Duration::from_secs(10)],
        );
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        for _ in 0..3 {
            budget
                .acquire("t", ApiFamily::Machines, deadline)
                .await
                .expect("admitted");
        }
        let err = budget
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .expect_err("hour spent");
        assert!(
            err.retry_after()
                .is_some_and(|d| d > Duration::from_secs(9))
        );
    }

    #[tokio::test]
    async fn a_429_blocks_the_family() {
        let budget = RateBudget::new(true, 1.0);
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        budget
            .acquire("t", ApiFamily::Alerts, deadline)
            .await
            .expect("admitted");
        budget.block_for("t", ApiFamily::Alerts, Duration::from_secs(30));
        let err = budget
            .acquire("t", ApiFamily::Alerts, deadline)
            .await
            .expect_err("blocked");
        assert!(
            err.retry_after()
                .is_some_and(|d| d > Duration::from_secs(29))
        );
    }

    #[tokio::test]
    async fn disabled_budget_admits_everything() {
        let budget = RateBudget::new(false, 0.01);
        for _ in 0..500 {
            budget
                .acquire("t", ApiFamily::AdvancedHunting, Some(Instant::now()))
                .await
                .expect("admitted");
        }
    }
}
