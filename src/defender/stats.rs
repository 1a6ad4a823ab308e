//! Upstream call counters per API family and outcome, kept as atomics that `/metrics` reads at
//! scrape time (`crate::metrics`): calls by status class, retries, 429s, budget refusals and
//! budget wait; plus the `defender_request_duration_seconds` histogram, observed per attempt
//! through handles resolved once per (family, status).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, HistogramVec};

use super::budget::ApiFamily;

/// The `status` label values of `defender_request_duration_seconds`: the common exact codes,
/// else the class, and `error` for an attempt without an answer (bounded label set).
pub const STATUSES: [&str; 19] = [
    "200", "201", "204", "400", "401", "403", "404", "408", "409", "429", "500", "502", "503",
    "504", "2xx", "3xx", "4xx", "5xx", "error",
];

fn status_slot(outcome: Outcome) -> usize {
    let Outcome::Status(code) = outcome else {
        return STATUSES.len() - 1;
    };
    const EXACT: [u16; 14] = [
        200, 201, 204, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504,
    ];
    EXACT.iter().position(|c| *c == code).unwrap_or(match code {
        200..=299 => 14,
        300..=399 => 15,
        400..=499 => 16,
        _ => 17,
    })
}

/// Buckets of one Defender request, in seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The duration histogram and its resolved series.
struct Durations {
    vec: HistogramVec,
    series: Vec<[OnceLock<Histogram>; STATUSES.len()]>,
}

impl std::fmt::Debug for Durations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Durations")
    }
}

impl Default for Durations {
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        let vec = HistogramVec::new(
            HistogramOpts::new(
                "defender_request_duration_seconds",
                "Duration of each HTTP attempt to Defender or Microsoft Graph, by API family and \
                 HTTP status (`error`: no answer).",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["api", "status"],
        )
        .expect("static histogram options are valid");
        Self {
            vec,
            series: ApiFamily::ALL.iter().map(|_| Default::default()).collect(),
        }
    }
}

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
    budget_wait_micros: AtomicU64,
}

/// Live counters; read them with [`UpstreamStats::snapshot`].
#[derive(Debug, Default)]
pub struct UpstreamStats {
    families: [FamilyCounters; ApiFamily::ALL.len()],
    durations: Durations,
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

    pub(crate) fn record(&self, family: ApiFamily, outcome: Outcome, elapsed: Duration) {
        crate::metrics::CallContext::count_upstream();
        let slot = status_slot(outcome);
        self.durations.series[family.index()][slot]
            .get_or_init(|| {
                self.durations
                    .vec
                    .with_label_values(&[family.as_str(), STATUSES[slot]])
            })
            .observe(elapsed.as_secs_f64());
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

    pub(crate) fn record_budget_wait(&self, family: ApiFamily, waited: Duration) {
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.of(family)
            .budget_wait_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// The `defender_request_duration_seconds` histogram (registered by `crate::metrics`).
    pub fn durations(&self) -> HistogramVec {
        self.durations.vec.clone()
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
                    budget_wait: Duration::from_micros(get(&c.budget_wait_micros)),
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
    /// Time calls spent waiting for the local rate budget.
    pub budget_wait: Duration,
}
