//! Upstream call counters per API family and outcome, kept as atomics so the metrics layer (not
//! wired yet) can read them without locks: calls by status class, retries, budget refusals.

use std::sync::atomic::{AtomicU64, Ordering};

use super::budget::ApiFamily;

#[derive(Debug, Default)]
struct FamilyCounters {
    requests: AtomicU64,
    success: AtomicU64,
    client_errors: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    retries: AtomicU64,
    budget_refusals: AtomicU64,
}

/// Live counters; read them with [`UpstreamStats::snapshot`].
#[derive(Debug, Default)]
pub struct UpstreamStats {
    families: [FamilyCounters; ApiFamily::ALL.len()],
}

/// The outcome of one HTTP attempt, for counting.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Status(u16),
    Transport,
}

impl UpstreamStats {
    fn of(&self, family: ApiFamily) -> &FamilyCounters {
        &self.families[family.index()]
    }

    pub(crate) fn record(&self, family: ApiFamily, outcome: Outcome) {
        let c = self.of(family);
        c.requests.fetch_add(1, Ordering::Relaxed);
        let counter = match outcome {
            Outcome::Status(s) if (200..300).contains(&s) => &c.success,
            Outcome::Status(429) => &c.throttled,
            Outcome::Status(s) if s >= 500 => &c.server_errors,
            Outcome::Status(_) => &c.client_errors,
            Outcome::Transport => &c.transport_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self, family: ApiFamily) {
        self.of(family).retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_budget_refusal(&self, family: ApiFamily) {
        self.of(family)
            .budget_refusals
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the counters, one entry per family.
    pub fn snapshot(&self) -> Vec<FamilyStats> {
        ApiFamily::ALL
            .iter()
            .map(|family| {
                let c = self.of(*family);
                let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
                FamilyStats {
                    family: *family,
                    requests: get(&c.requests),
                    success: get(&c.success),
                    client_errors: get(&c.client_errors),
                    throttled: get(&c.throttled),
                    server_errors: get(&c.server_errors),
                    transport_errors: get(&c.transport_errors),
                    retries: get(&c.retries),
                    budget_refusals: get(&c.budget_refusals),
                }
            })
            .collect()
    }
}

/// Counters of one API family at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyStats {
    /// The family.
    pub family: ApiFamily,
    /// HTTP attempts made (answered or not).
    pub requests: u64,
    /// 2xx answers.
    pub success: u64,
    /// 4xx answers other than 429.
    pub client_errors: u64,
    /// 429 answers.
    pub throttled: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Attempts that got no answer (connection error, timeout).
    pub transport_errors: u64,
    /// Retries made.
    pub retries: u64,
    /// Calls the local rate budget refused before the deadline.
    pub budget_refusals: u64,
}
