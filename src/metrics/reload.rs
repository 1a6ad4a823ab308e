//! Reloads of the configuration files on SIGHUP (`crate::admin::reload`): how many, of what,
//! with which result, and when the last one ran and whether all of it succeeded.

use prometheus::{Gauge, IntCounterVec, IntGauge, Opts, Registry};

/// What a reload re-reads (the `what` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadPart {
    /// The client secret (or client assertion) file.
    Credential,
    /// The log filter file.
    LogFilter,
    /// The callers file (and the JWKS files it names).
    Callers,
    /// The TLS certificate, key and client CA files.
    Tls,
}

impl ReloadPart {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadPart::Credential => "credential",
            ReloadPart::LogFilter => "log_filter",
            ReloadPart::Callers => "callers",
            ReloadPart::Tls => "tls",
        }
    }
}

/// What re-reading one part did (the `result` label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadResult {
    /// The new content is in force.
    Applied,
    /// The content is what was already in force.
    Unchanged,
    /// It could not be read or used; the previous content stays in force (the reason, which
    /// never quotes a file's content).
    Failed(String),
}

impl ReloadResult {
    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Failed(_) => "failed",
        }
    }
}

/// The reload series.
#[derive(Debug)]
pub struct ReloadMetrics {
    reloads: IntCounterVec,
    last_time: Gauge,
    last_ok: IntGauge,
}

impl ReloadMetrics {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "defender_bridge_config_reloads_total",
                "Files re-read on SIGHUP, by part (`credential`, `log_filter`, `callers`, `tls`) and result (`applied`, `unchanged`, `failed`).",
            ),
            &["what", "result"],
        )?;
        let last_time = Gauge::with_opts(Opts::new(
            "defender_bridge_config_last_reload_timestamp_seconds",
            "Unix time of the last SIGHUP reload (0: none since start).",
        ))?;
        let last_ok = IntGauge::with_opts(Opts::new(
            "defender_bridge_config_last_reload_successful",
            "1 if every part of the last SIGHUP reload was applied or unchanged (and at start), 0 if a part failed.",
        ))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_time.clone()))?;
        registry.register(Box::new(last_ok.clone()))?;
        last_ok.set(1);
        Ok(Self {
            reloads,
            last_time,
            last_ok,
        })
    }

    /// Records one SIGHUP reload: each part re-read and its result.
    pub fn record(&self, results: &[(ReloadPart, ReloadResult)]) {
        for (part, result) in results {
            self.reloads
                .with_label_values(&[part.as_str(), result.as_str()])
                .inc();
        }
        let ok = results
            .iter()
            .all(|(_, r)| !matches!(r, ReloadResult::Failed(_)));
        self.last_ok.set(i64::from(ok));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_time.set(now);
    }
}
