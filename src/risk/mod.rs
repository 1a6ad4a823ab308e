//! The read side's domain: endpoint risk by the rules of docs/risk-model.md, and the entity lists.
//!
//! Pure parts first — [`level`] (one ordered risk level for Defender's four vocabularies),
//! [`scoring`] (rules 3 to 7, tie-breaks, reasons), [`validate`] (input checks) — then the
//! parts that talk to Defender: [`lookup`] (rule 1), [`assess`] (one machine, per-machine
//! APIs), [`bulk`] (many machines, bulk list APIs), [`engine`] (one endpoint through the
//! caches), [`batch`], [`fleet`] and [`lists`]. Nothing here knows about gRPC.

pub mod alert_index;
pub mod assess;
pub mod batch;
pub mod bulk;
pub mod engine;
pub mod fleet;
pub mod intern;
pub mod level;
pub mod lists;
pub mod lookup;
pub mod machine_key;
pub mod scoring;
pub mod sweep;
pub mod validate;
pub mod vulnerability_index;

pub use assess::{Assessment, PortalLinks};
pub use engine::{EndpointQuery, EndpointRisk, RiskEngine};
pub use fleet::{FleetItem, FleetRequest, FleetSummary, MachineFilters};
pub use level::RiskLevel;
pub use lookup::{Candidate, EndpointKey, Resolution};
pub use scoring::{Alerts, Part, Score};
