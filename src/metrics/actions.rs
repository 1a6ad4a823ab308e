//! Reconciliations of actions whose answer was lost (`crate::actions::perform`): counted where
//! they settle (one relaxed add), read by `/metrics` as
//! `defender_bridge_action_reconciliations_total{outcome}`.

use std::sync::atomic::{AtomicU64, Ordering};

/// How a reconciliation ended (the `outcome` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// The action (or cancellation) was found in Defender's list at the first look.
    Found,
    /// It was found later, while the service kept looking within the settle window.
    FoundLate,
    /// Defender did not act: the window ended without it, or the action read back shows the
    /// cancellation was not taken.
    NotTaken,
    /// The look-ups themselves failed: whether Defender acted is unknown.
    Unknown,
}

impl Reconciled {
    /// Every outcome, in label order.
    pub const ALL: [Reconciled; 4] = [
        Reconciled::Found,
        Reconciled::FoundLate,
        Reconciled::NotTaken,
        Reconciled::Unknown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reconciled::Found => "found",
            Reconciled::FoundLate => "found_late",
            Reconciled::NotTaken => "not_taken",
            Reconciled::Unknown => "unknown",
        }
    }
}

/// Reconciliations by outcome (shared by the action runtime and the metrics).
#[derive(Debug, Default)]
pub struct Reconciliations([AtomicU64; 4]);

impl Reconciliations {
    /// Counts one reconciliation that ended with `outcome`.
    pub fn record(&self, outcome: Reconciled) {
        self.0[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Reconciliations that ended with `outcome` so far.
    pub fn count(&self, outcome: Reconciled) -> u64 {
        self.0[outcome as usize].load(Ordering::Relaxed)
    }
}
