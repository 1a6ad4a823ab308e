//! The fleet table (docs/fleet-table.md): every machine's risk kept warm by bulk sweeps, so that
//! `GetEndpointRisk` and `BatchGetEndpointRisks` answer machines in it with no upstream call.
//!
//! - [`FleetStore`]: the one interface between the sweeps and the readers (the risk cache
//!   consults it, the actions invalidate through it, `CheckConnection` reads its status). Today
//!   [`LocalFleetTable`] keeps it in process; a shared store could implement the same trait so
//!   that one replica sweeps for all.
//! - [`sync`]: the background task: a full sweep at start and every interval (the same bulk
//!   reads as `StreamFleetRisk`, at most a configured share of each API's budget), and between
//!   sweeps an incremental refresh of the machines whose alerts changed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::defender::Machine;
use crate::risk::{Assessment, EndpointKey, Resolution};

mod row;
pub mod sync;
pub mod table;

pub use row::{AnswerCore, AnswerEncoder, Render, fingerprint};
pub use table::{Generation, GenerationBuilder, LocalFleetTable};

/// What the table reports (for `CheckConnection`, and for the metrics to read later).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetStatus {
    /// A sync task keeps the table (`--fleet-sync`).
    pub enabled: bool,
    /// Machines in the table now.
    pub machines: u64,
    /// Generations published since start.
    pub generation: u64,
    /// When the current generation's reads started (its answers are at least this fresh).
    pub data_read_at: Option<SystemTime>,
    /// When the last sweep ended (successfully or not).
    pub last_sweep_finished: Option<SystemTime>,
    /// How long the last sweep took.
    pub last_sweep_duration: Option<Duration>,
    /// Upstream requests of the last sweep.
    pub last_sweep_upstream_calls: u64,
    /// The last sweep failed; the previous generation (if any) is still served.
    pub last_sweep_failed: bool,
    /// Why the last sweep failed (empty when it did not).
    pub last_sweep_error: String,
    /// When the next sweep starts.
    pub next_sweep: Option<SystemTime>,
    /// Sweeps that failed since start.
    pub failed_sweeps: u64,
    /// When the last incremental refresh ended.
    pub last_refresh_finished: Option<SystemTime>,
    /// Upstream requests of every incremental refresh since start.
    pub refresh_upstream_calls: u64,
    /// Machines re-assessed by incremental refreshes since start.
    pub refreshed_machines: u64,
}

/// The fleet table as the rest of the service sees it.
pub trait FleetStore: Send + Sync + std::fmt::Debug {
    /// The machine's assessment, if the table has a valid one: its prepared answers and
    /// identifiers (what every way of answering reads), not its score or records.
    fn risk(&self, tenant: &str, machine_id: &str) -> Option<Arc<Assessment>>;

    /// An IP or hostname look-up answered from the table's indexes (same rules and
    /// candidates as Defender's look-up); `None` when the table cannot answer it (no match,
    /// an invalidated match, a time before the sweep), so the caller asks Defender.
    fn resolve(&self, tenant: &str, key: &EndpointKey) -> Option<Resolution>;

    /// Stops answering for the machine until it is re-assessed (after an action on it).
    fn invalidate(&self, tenant: &str, machine_id: &str);

    /// Replaces a machine's assessment if the machine is in the table (a fresher read);
    /// returns whether it was.
    fn update(&self, tenant: &str, assessment: Arc<Assessment>) -> bool;

    /// Whether the machine is in the table and `machine` (a newer read of it) differs from
    /// what its row was assessed from ([`fingerprint`]), so its answer may have changed.
    fn changed(&self, tenant: &str, machine: &Machine) -> bool;

    /// Whether the machine is in the table (valid or not).
    fn contains(&self, tenant: &str, machine_id: &str) -> bool;

    /// A builder of the next generation, its rows rendered by `render`. It starts from the
    /// table being served: each machine the sweep pushes replaces that machine's row there too,
    /// so a sweep does not hold two copies of every row until it publishes.
    fn next_generation(
        &self,
        tenant: &str,
        read_at: SystemTime,
        started: Instant,
        render: Render,
    ) -> GenerationBuilder;

    /// Replaces the whole table with `generation`; returns its machine count.
    fn publish(&self, generation: Generation) -> usize;

    /// Machines in the table.
    fn len(&self) -> usize;

    /// Whether the table is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sweep and refresh figures.
    fn status(&self) -> FleetStatus;

    /// Changes the figures (the sync task reports through this).
    fn record(&self, change: &mut dyn FnMut(&mut FleetStatus));
}
