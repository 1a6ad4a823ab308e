//! defender-bridge: Microsoft Defender for Endpoint behind a typed, fast, safe gRPC API.
//!
//! # Layout
//! - [`auth`]: caller authentication (API keys, JWTs, client certificates), roles, per-caller
//!   limits: one tower layer, active when a callers file is configured.
//! - [`config`]: typed configuration (TOML file + environment), validation, no globals.
//! - [`proto`]: the generated `defenderbridge.v1` code and the reflection descriptor set.
//! - [`error`]: `ServiceError`, the one vocabulary of failures, mapped to `tonic::Status` once.
//! - [`defender`]: the Defender REST client (tokens, rate budget, retries, nextLink paging,
//!   models); `DefenderClient` itself is in `defender/client/`, one file per concern.
//! - [`risk`]: the risk model (docs/risk-model.md), look-ups, bulk reads and entity lists.
//! - [`actions`]: acting on machines (isolate, release, scan, cancel): idempotency, audit,
//!   reconciliation of ambiguous failures, shared polling for watches.
//! - [`cache`]: typed moka caches of risk and look-ups, with single-flight and stale serving.
//! - [`fleet`]: the fleet table kept warm by bulk sweeps (`--fleet-sync`, docs/fleet-table.md).
//! - [`paging`]: offset paging of the list RPCs and the signed, opaque page tokens.
//! - [`services`]: the tonic service implementations (thin adapters onto plain Rust code), one
//!   folder per service (`risk/`, `action/`).
//! - [`state`]: `AppState`, what every handler shares; domain modules get only their part of it.
//! - [`reflection`]: what server reflection serves (API, health, well-known types, `google.rpc`).
//! - [`server`]: bootstrap: builds the state, health, reflection, opt-in gRPC-Web, TLS/mTLS,
//!   Host and origin checks, graceful shutdown.
//! - [`sim`]: the Defender simulator used by `sim`, `demo` and the tests.
//! - [`demo`]: the simulator plus the service, wired together with zero configuration.
//! - [`check`]: the "Test Connection" logic shared by the RPC and the `check` subcommand.
//! - [`hunting`]: `RunHuntingQuery`: query validation, backends, typed cells, size-bounded batches.
//! - [`tls`]: the rustls crypto provider of outgoing HTTPS (ring), installed before any client.
//! - [`software`]: `GetSoftware` and `ListSoftwareMachines` (paged machine references).
//! - [`telemetry`]: logging set-up: human-readable or JSON lines.
//! - [`metrics`]: Prometheus series (per-RPC timing, Defender calls, caches, actions).
//! - [`admin`]: the admin HTTP listener: `/metrics`, `/healthz`, `/readyz`.

pub mod actions;
pub mod admin;
pub mod auth;
pub mod cache;
pub mod check;
pub mod config;
pub mod defender;
pub mod demo;
pub mod error;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod hunting;
pub mod metrics;
pub mod paging;
pub mod proto;
pub mod reflection;
pub mod risk;
pub mod server;
pub mod services;
pub mod sim;
pub mod software;
pub mod state;
pub mod telemetry;
pub mod tls;
