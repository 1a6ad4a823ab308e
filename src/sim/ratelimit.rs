//! Defender's published per-tenant call quotas (README §14), enforced with sliding windows so a
//! client that ignores its budget sees the 429s and `Retry-After` values it would see upstream.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Groups of APIs sharing a quota (one row of Defender's rate-limit table each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// Get machine, list machines, findbyip: 100/min, 1,500/h.
    Machines,
    /// Get / list / cancel machine actions: 100/min, 1,500/h.
    MachineActions,
    /// Isolate, unisolate, AV scan: 100/min, 1,500/h.
    ActionRequests,
    /// List alerts, machine alerts, get alert: 100/min, 1,500/h.
    Alerts,
    /// Machine vulnerabilities: 50/min, 1,500/h.
    MachineVulnerabilities,
    /// Vulnerability lists (undocumented upstream): 100/min.
    Vulnerabilities,
    /// Software APIs (undocumented upstream): 100/min.
    Software,
    /// Advanced hunting (Defender and Graph): 45/min, 1,500/h.
    Hunting,
}

impl ApiFamily {
    /// (calls per minute, calls per hour).
    pub fn limits(self) -> (usize, Option<usize>) {
        match self {
            Self::MachineVulnerabilities => (50, Some(1500)),
            Self::Hunting => (45, Some(1500)),
            Self::Vulnerabilities | Self::Software => (100, None),
            _ => (100, Some(1500)),
        }
    }
}

/// A rejected call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Throttled {
    /// Whole seconds until a slot frees (at least 1).
    pub retry_after_secs: u64,
    /// The limit that was hit.
    pub limit: usize,
    /// Its window, as Defender prints it (`00:01:00` or `01:00:00`).
    pub window: &'static str,
}

const MINUTE: Duration = Duration::from_secs(60);

/// Admitted call times per (tenant, family). Calls count when they arrive, as upstream.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, ApiFamily), VecDeque<Instant>>,
    /// The "minute" window.
    minute: Duration,
    /// The "hour" window (60 minutes).
    hour: Duration,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::with_window(MINUTE)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

impl RateLimiter {
    /// A limiter whose "minute" lasts `minute` (and "hour" 60 of them).
    pub(crate) fn with_window(minute: Duration) -> Self {
        Self {
            windows: HashMap::new(),
            minute,
            hour: minute * 60,
        }
    }

    /// Admits the call (and records it) or says how long to wait. Rejected calls do not count.
    pub(crate) fn check(
        &mut self,
        tenant: &str,
        family: ApiFamily,
        now: Instant,
    ) -> Result<(), Throttled> {
        let (per_min, per_hour) = family.limits();
        let log = self
            .windows
            .entry((tenant.to_ascii_lowercase(), family))
            .or_default();
        let (minute, hour) = (self.minute, self.hour);
        let keep = if per_hour.is_some() { hour } else { minute };
        while log
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= keep)
        {
            log.pop_front();
        }
        if let Some(limit) = per_hour {
            if log.len() >= limit {
                let oldest = log[log.len() - limit];
                return Err(Throttled {
                    retry_after_secs: ceil_secs((oldest + hour).saturating_duration_since(now)),
                    limit,
                    window: "01:00:00",
                });
            }
        }
        let in_minute = log
            .iter()
            .rev()
            .take_while(|t| now.saturating_duration_since(**t) < minute)
            .count();
        if in_minute >= per_min {
            let oldest = log[log.len() - per_min];
            return Err(Throttled {
                retry_after_secs: ceil_secs((oldest + minute).saturating_duration_since(now)),
                limit: per_min,
                window: "00:01:00",
            });
        }
        log.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_101st_call_in_a_minute_is_throttled_until_the_oldest_ages_out() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..100 {
            rl.check("t", ApiFamily::Machines, t0 + Duration::from_millis(i * 10))
                .expect("admitted");
        }
        let later = t0 + Duration::from_secs(20);
        let err = rl
            .check("t", ApiFamily::Machines, later)
            .expect_err("throttled");
        assert_eq!(err.limit, 100);
        assert_eq!(err.window, "00:01:00");
        assert_eq!(err.retry_after_secs, 40);
        assert!(
            rl.check("t", ApiFamily::Machines, t0 + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn families_and_tenants_have_separate_budgets() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..50 {
            rl.check("t", ApiFamily::MachineVulnerabilities, t0)
                .expect("admitted");
        }
        assert!(
            rl.check("t", ApiFamily::MachineVulnerabilities, t0)
                .is_err()
        );
        assert!(rl.check("t", ApiFamily::Machines, t0).is_ok());
        assert!(
            rl.check("other", ApiFamily::MachineVulnerabilities, t0)
                .is_ok()
        );
    }

    #[test]
    fn hunting_allows_45_per_minute() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..45 {
            rl.check("t", ApiFamily::Hunting, t0).expect("admitted");
        }
        assert_eq!(
            rl.check("t", ApiFamily::Hunting, t0).map_err(|e| e.limit),
            Err(45)
        );
    }

    #[test]
    fn the_hourly_quota_applies_even_when_each_minute_is_within_limits() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        let step = Duration::from_millis(700);
        for i in 0..1500u32 {
            rl.check("t", ApiFamily::Alerts, t0 + step * i)
                .expect("admitted");
        }
        let now = t0 + step * 1500;
        let err = rl.check("t", ApiFamily::Alerts, now).expect_err("hourly");
        assert_eq!(err.window, "01:00:00");
        assert_eq!(err.limit, 1500);
        assert_eq!(err.retry_after_secs, 3600 - 1050);
    }

    #[test]
    fn rejected_calls_do_not_consume_quota() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..100 {
            rl.check("t", ApiFamily::Software, t0).expect("admitted");
        }
        for _ in 0..10 {
            assert!(
                rl.check("t", ApiFamily::Software, t0 + Duration::from_secs(30))
                    .is_err()
            );
        }
        assert!(
            rl.check("t", ApiFamily::Software, t0 + Duration::from_secs(60))
                .is_ok()
        );
    }
}
