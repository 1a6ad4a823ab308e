//! Per-caller fairness: each verified identity has its own call rate and its own number of
//! calls in flight, so one caller cannot spend the tenant's Defender quota for everyone.
//!
//! - Every call spends one token of the caller's `rate_per_minute` bucket (it holds a minute's
//!   worth and refills continuously) and holds one of its `max_concurrent` slots until the
//!   call ends; a stream holds its slot until the stream ends.
//! - Heavy calls (hunting, batch reads, fleet streams) also spend the tighter heavy limits
//!   (`heavy_rate_per_minute`, `heavy_max_concurrent`), capped by the caller's own limits.
//! - A call over a limit is refused at once: RESOURCE_EXHAUSTED, `CALLER_RATE_LIMITED`, with
//!   RetryInfo and a QuotaFailure naming the caller. A refused call spends nothing.
//!
//! The limits are per server process (a replica enforces its own).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::callers_file::LimitOverrides;
use super::roles::Weight;
use crate::error::ServiceError;

/// The configured defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallerLimitSettings {
    /// Calls per minute of a caller without its own `rate_per_minute`.
    pub rate_per_minute: u32,
    /// Calls in flight of a caller without its own `max_concurrent`.
    pub max_concurrent: u32,
    /// Heavy calls per minute (hunting, batch, fleet streams).
    pub heavy_rate_per_minute: u32,
    /// Heavy calls in flight.
    pub heavy_max_concurrent: u32,
}

impl Default for CallerLimitSettings {
    fn default() -> Self {
        Self {
            rate_per_minute: 600,
            max_concurrent: 32,
            heavy_rate_per_minute: 30,
            heavy_max_concurrent: 2,
        }
    }
}

/// A caller's effective limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Effective {
    rate: u32,
    concurrent: u32,
    heavy_rate: u32,
    heavy_concurrent: u32,
}

impl Effective {
    fn of(settings: &CallerLimitSettings, own: LimitOverrides) -> Self {
        let rate = own
            .rate_per_minute
            .unwrap_or(settings.rate_per_minute)
            .max(1);
        let concurrent = own.max_concurrent.unwrap_or(settings.max_concurrent).max(1);
        Self {
            rate,
            concurrent,
            heavy_rate: settings.heavy_rate_per_minute.min(rate).max(1),
            heavy_concurrent: settings.heavy_max_concurrent.min(concurrent).max(1),
        }
    }
}

/// A token bucket holding a minute's worth of calls.
#[derive(Debug)]
struct Bucket {
    per_minute: u32,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            tokens: f64::from(per_minute),
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let per_sec = f64::from(self.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(f64::from(self.per_minute));
        self.at = now;
    }

    /// Time until one token is there (zero when one is).
    fn wait(&self) -> Duration {
        if self.tokens >= 1.0 {
            return Duration::ZERO;
        }
        let per_sec = f64::from(self.per_minute) / 60.0;
        Duration::from_secs_f64(((1.0 - self.tokens) / per_sec).max(0.001))
    }
}

#[derive(Debug)]
struct CallerState {
    limits: Effective,
    buckets: Mutex<(Bucket, Bucket)>,
    slots: Arc<Semaphore>,
    heavy_slots: Arc<Semaphore>,
}

impl CallerState {
    fn new(limits: Effective) -> Self {
        Self {
            limits,
            buckets: Mutex::new((Bucket::new(limits.rate), Bucket::new(limits.heavy_rate))),
            slots: Arc::new(Semaphore::new(limits.concurrent as usize)),
            heavy_slots: Arc::new(Semaphore::new(limits.heavy_concurrent as usize)),
        }
    }
}

/// The slots an admitted call holds until it ends.
#[derive(Debug)]
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _heavy_slot: Option<OwnedSemaphorePermit>,
}

/// Every caller's limits.
#[derive(Debug, Default)]
pub struct CallerLimiter {
    settings: CallerLimitSettings,
    callers: Mutex<HashMap<String, Arc<CallerState>>>,
}

impl CallerLimiter {
    /// A limiter with these defaults.
    pub fn new(settings: CallerLimitSettings) -> Self {
        Self {
            settings,
            callers: Mutex::default(),
        }
    }

    /// Admits one call of `identity` (with its own limits `own`), or refuses it with
    /// `CALLER_RATE_LIMITED`.
    pub fn admit(
        &self,
        identity: &str,
        own: LimitOverrides,
        weight: Weight,
    ) -> Result<Admission, ServiceError> {
        let limits = Effective::of(&self.settings, own);
        let state = {
            let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked up by `&str` first: the key is only allocated for a caller's first call
            // (this runs on every call).
            match callers.get(identity) {
                // Limits changed by a reload take effect at once (with fresh counters).
                Some(state) if state.limits == limits => Arc::clone(state),
                _ => {
                    let state = Arc::new(CallerState::new(limits));
                    callers.insert(identity.to_string(), Arc::clone(&state));
                    state
                }
            }
        };
        let heavy = weight == Weight::Heavy;
        let refuse = |limit: &'static str, detail: String, retry_after: Duration| {
            ServiceError::CallerRateLimited {
                identity: identity.to_string(),
                limit,
                detail,
                retry_after,
            }
        };
        let slot = Arc::clone(&state.slots).try_acquire_owned().map_err(|_| {
            refuse(
                "max_concurrent",
                format!("{} calls in flight at once", limits.concurrent),
                Duration::from_secs(1),
            )
        })?;
        let heavy_slot = if heavy {
            let slot = Arc::clone(&state.heavy_slots)
                .try_acquire_owned()
                .map_err(|_| {
                    refuse(
                        "heavy_max_concurrent",
                        format!(
                            "{} hunting, batch or fleet calls in flight at once",
                            limits.heavy_concurrent
                        ),
                        Duration::from_secs(1),
                    )
                })?;
            Some(slot)
        } else {
            None
        };
        let now = Instant::now();
        let mut buckets = state.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let (general, heavy_bucket) = &mut *buckets;
        general.refill(now);
        heavy_bucket.refill(now);
        let wait = general.wait();
        if !wait.is_zero() {
            return Err(refuse(
                "rate_per_minute",
                format!("{} calls per minute", limits.rate),
                wait,
            ));
        }
        if heavy {
            let wait = heavy_bucket.wait();
            if !wait.is_zero() {
                return Err(refuse(
                    "heavy_rate_per_minute",
                    format!(
                        "{} hunting, batch or fleet calls per minute",
                        limits.heavy_rate
                    ),
                    wait,
                ));
            }
            heavy_bucket.tokens -= 1.0;
        }
        general.tokens -= 1.0;
        Ok(Admission {
            _slot: slot,
            _heavy_slot: heavy_slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> CallerLimiter {
        CallerLimiter::new(CallerLimitSettings {
            rate_per_minute: 5,
            max_concurrent: 3,
            heavy_rate_per_minute: 2,
            heavy_max_concurrent: 1,
        })
    }

    #[tokio::test]
    async fn the_rate_is_per_caller_and_a_refusal_says_when_to_retry() {
        let l = limiter();
        let own = LimitOverrides::default();
        for _ in 0..5 {
            drop(
                l.admit("key:a", own, Weight::Normal)
                    .expect("within the rate"),
            );
        }
        let err = l.admit("key:a", own, Weight::Normal).expect_err("over");
        match &err {
            ServiceError::CallerRateLimited {
                limit, retry_after, ..
            } => {
                assert_eq!(*limit, "rate_per_minute");
                assert!(*retry_after > Duration::ZERO && *retry_after <= Duration::from_secs(12));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        // Another caller is not affected.
        assert!(l.admit("key:b", own, Weight::Normal).is_ok());
    }

    #[tokio::test]
    async fn slots_are_held_until_the_admission_is_dropped_and_heavy_calls_are_tighter() {
        let l = limiter();
        let own = LimitOverrides::default();
        let heavy = l.admit("key:a", own, Weight::Heavy).expect("first heavy");
        let err = l
            .admit("key:a", own, Weight::Heavy)
            .expect_err("second heavy");
        assert!(matches!(
            err,
            ServiceError::CallerRateLimited {
                limit: "heavy_max_concurrent",
                ..
            }
        ));
        let a = l.admit("key:a", own, Weight::Normal).expect("normal");
        let b = l.admit("key:a", own, Weight::Normal).expect("normal");
        assert!(
            l.admit("key:a", own, Weight::Normal).is_err(),
            "3 in flight"
        );
        drop((heavy, a, b));
        assert!(l.admit("key:a", own, Weight::Heavy).is_ok());
    }

    #[tokio::test]
    async fn a_callers_own_limits_replace_the_defaults() {
        let l = limiter();
        let own = LimitOverrides {
            rate_per_minute: Some(1),
            max_concurrent: None,
        };
        drop(l.admit("key:a", own, Weight::Normal).expect("one"));
        assert!(l.admit("key:a", own, Weight::Normal).is_err());
    }
}
