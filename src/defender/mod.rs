//! The Microsoft Defender for Endpoint REST client: tokens, rate budget, retries, paging, models.
//!
//! Everything the service needs from Defender goes through [`DefenderClient`], which knows the
//! wire format and the rules for being a good tenant
//! citizen: one shared token fetch per (tenant, scope), a local budget that matches Defender's
//! published quotas, retries only where they are safe, and a bearer token that never leaves the
//! cloud's Defender hosts. Errors are transport-shaped ([`DefenderError`]); the service layer maps
//! them to gRPC.
//!
//! Layout: [`cloud`] (hosts and scopes per cloud), `settings` (what the client needs),
//! `auth` (token cache), `budget` (rate budget), `http` (send, classify, retry), `paging`
//! (pages and next links), [`odata`] (query options and filters), [`models`] (entities),
//! `error`, `stats` (call counters), `client/` (the client: one file per concern, entity reads,
//! pages and next links, action POSTs, streamed hunting) and `hunting_json` (hunting answers
//! decoded as they arrive, so memory stays bounded).

mod auth;
mod budget;
mod client;
pub mod cloud;
mod error;
mod http;
mod hunting_json;
pub mod models;
pub mod odata;
mod paging;
mod settings;
mod stats;

#[cfg(test)]
mod tests;

pub use auth::{TokenInfo, TokenScope};
pub use budget::{ApiFamily, RateBudget};
pub use client::{BulkList, DefenderClient, HuntingStream, RawPage};
pub use cloud::{Cloud, UnknownCloud};
pub use error::DefenderError;
pub use hunting_json::HuntingEvent;
pub use models::{
    ActionStatus, ActionType, Alert, AlertSeverity, AlertStatus, DefenderTime, ExposureLevel,
    HealthStatus, HuntingColumn, HuntingResult, IpAddressInfo, IsolationType, Machine,
    MachineAction, MachineReference, MachineVulnerability, RiskScore, ScanType, Software,
    Vulnerability, VulnerabilitySeverity,
};
pub use odata::{Filter, ODataQuery};
pub use paging::{Collection, Page, PageCursor, RepeatGuard};
pub use settings::{CallOptions, Credential, DefenderSettings, RateLimitSettings, RetryPolicy};
pub use stats::FamilyStats;
