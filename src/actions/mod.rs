//! Acting on machines through Defender (`ActionService`), as plain Rust that knows nothing of
//! tonic: isolate, release, scan and cancel (never twice, never silently, always audited), and
//! reading, listing and watching machine actions.
//!
//! Layout: [`request`] (validated requests), [`caller`] (identity and the comment stamp),
//! [`idempotency`] (the `request_id` store), [`audit`] (the JSON-lines audit log), `perform`
//! (one POST and the settling of its failures), [`reconcile`] (looking actions up in Defender's
//! list), [`watch`] (shared polling for `WatchMachineAction`).
//!
//! Every action request runs on its own task (see [`idempotency`]), so a caller that gives up
//! never leaves a POST half-done, un-audited or un-reconciled.

pub mod audit;
pub mod caller;
pub mod idempotency;
mod perform;
pub mod reconcile;
pub mod request;
pub mod watch;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::time::Instant;

pub use audit::{AuditError, AuditLog, AuditRecord};
pub use caller::{CALLER_ID_METADATA, Caller, Principal, Stamp};
pub use idempotency::{IdempotencyKey, IdempotencyStore, Interim};
pub use perform::DEFAULT_SETTLE_WINDOW;
pub use request::{ActionKind, ActionRequest, CancelRequest};
pub use watch::WatchHub;

use crate::cache::RiskCache;
use crate::defender::{
    ActionStatus, ActionType, ApiFamily, CallOptions, DefenderClient, Filter, MachineAction,
};
use crate::error::ServiceError;
use crate::paging::{ListPage, PageRequest, PageScope};

/// The action side's shared state (the server keeps one in its `AppState`): everything the
/// action functions below use, and nothing else.
#[derive(Debug)]
pub struct ActionRuntime {
    /// Results by `request_id`.
    pub idempotency: IdempotencyStore,
    /// The audit log.
    pub audit: AuditLog,
    /// Pollers of watched actions.
    pub watches: Arc<WatchHub>,
    /// How long after an ambiguous action POST its action is looked for before it is settled
    /// as not taken (see `perform`).
    pub settle_window: Duration,
    /// The read side's caches: an action invalidates its machine's entries.
    pub cache: Arc<RiskCache>,
    /// Reconciliations of actions whose answer was lost, by outcome (read by `/metrics`).
    pub reconciliations: crate::metrics::Reconciliations,
}

impl ActionRuntime {
    /// Opens the audit log at `audit_log` (or logs audit records to tracing without one);
    /// ambiguous actions settle within `settle_window`; actions invalidate `cache`'s entries.
    pub fn new(
        audit_log: Option<&Path>,
        settle_window: Duration,
        cache: Arc<RiskCache>,
    ) -> Result<Self, AuditError> {
        let audit = AuditLog::open(audit_log)?;
        if !audit.is_durable() {
            tracing::warn!(
                "no audit log configured (DEFENDER_BRIDGE_AUDIT_LOG): action audit records go to the tracing log only"
            );
        }
        Ok(Self {
            idempotency: IdempotencyStore::default(),
            audit,
            watches: Arc::default(),
            settle_window,
            cache,
            reconciliations: crate::metrics::Reconciliations::default(),
        })
    }
}

/// Isolates, releases or scans a machine: at most once per `request_id` (see the module docs
/// of `perform` for the steps).
pub async fn request_action(
    runtime: &Arc<ActionRuntime>,
    client: &DefenderClient,
    caller: Caller,
    req: ActionRequest,
    opts: CallOptions,
) -> Result<MachineAction, ServiceError> {
    let tenant = client.settings().tenant_id.clone();
    let scope = caller.request_scope();
    let key = req
        .request_id
        .as_deref()
        .map(|id| IdempotencyKey::scoped(&tenant, scope.as_deref(), id));
    let fingerprint = req.fingerprint();
    let deadline = opts.deadline;
    let cx = perform::Context {
        runtime: Arc::clone(runtime),
        client: client.clone(),
        caller: caller.clone(),
        opts,
    };
    let requested = AuditRecord::requested(
        &caller,
        &tenant,
        req.request_id.as_deref(),
        Some(&req.machine_id),
        req.kind.name(),
        req.kind.parameters(),
        &req.comment,
        "",
    );
    let answer = runtime
        .idempotency
        .run(key, fingerprint, deadline, |interim| {
            perform::start(cx, req, interim)
        })
        .await?;
    if answer.replayed {
        audit_replay(runtime, &requested, &answer.action).await;
    }
    Ok(answer.action)
}

/// Cancels a machine action; one that already finished is returned unchanged.
pub async fn cancel_action(
    runtime: &Arc<ActionRuntime>,
    client: &DefenderClient,
    caller: Caller,
    req: CancelRequest,
    opts: CallOptions,
) -> Result<MachineAction, ServiceError> {
    let tenant = client.settings().tenant_id.clone();
    let scope = caller.request_scope();
    let key = req
        .request_id
        .as_deref()
        .map(|id| IdempotencyKey::scoped(&tenant, scope.as_deref(), id));
    let fingerprint = req.fingerprint();
    let requested = AuditRecord::requested(
        &caller,
        &tenant,
        req.request_id.as_deref(),
        None,
        "Cancel",
        serde_json::json!({ "action_id": req.action_id }),
        &req.comment,
        "",
    );
    let deadline = opts.deadline;
    let cx = perform::Context {
        runtime: Arc::clone(runtime),
        client: client.clone(),
        caller,
        opts,
    };
    let answer = runtime
        .idempotency
        .run(key, fingerprint, deadline, |_| perform::cancel(cx, req))
        .await?;
    if answer.replayed {
        audit_replay(runtime, &requested, &answer.action).await;
    }
    Ok(answer.action)
}

/// A request answered from an earlier one did nothing; its record is best effort.
async fn audit_replay(runtime: &ActionRuntime, requested: &AuditRecord, action: &MachineAction) {
    if let Err(err) = runtime.audit.append(&requested.replayed(action)).await {
        tracing::warn!(error = %err, "audit record of a replayed request not written");
    }
}

/// One machine action.
pub async fn get_action(
    client: &DefenderClient,
    action_id: &str,
    opts: &CallOptions,
) -> Result<MachineAction, ServiceError> {
    client
        .get_machine_action(action_id, opts)
        .await
        .map_err(|e| ServiceError::from_defender(e, "machine_action", action_id))
}

/// `ListMachineActions` filters (validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionFilters {
    /// Only this machine's actions (lower case).
    pub machine_id: Option<String>,
    /// Only this type.
    pub action_type: Option<ActionType>,
    /// Only this status.
    pub status: Option<ActionStatus>,
}

impl ActionFilters {
    /// The `$filter` expression, if any filter is set.
    pub fn odata(&self) -> Option<String> {
        let parts: Vec<Filter> = [
            self.machine_id
                .as_deref()
                .map(|m| Filter::eq("machineId", m)),
            self.action_type
                .as_ref()
                .map(|t| Filter::eq("type", &t.to_string())),
            self.status
                .as_ref()
                .map(|s| Filter::eq("status", &s.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.into_iter().reduce(Filter::and).map(|f| f.to_string())
    }

    /// The page-token scope of a `ListMachineActions` with these filters.
    pub fn scope(&self, tenant: &str) -> PageScope {
        PageScope::new("ListMachineActions", tenant)
            .with("filter", &self.odata().unwrap_or_default())
    }
}

/// A page of `GET /api/machineactions` with the filters (see [`crate::paging::offset`]).
pub async fn list_actions(
    client: &DefenderClient,
    filters: &ActionFilters,
    page: PageRequest,
    opts: &CallOptions,
) -> Result<ListPage<MachineAction>, ServiceError> {
    let first = client
        .list_machine_actions(&page.query(filters.odata())?, opts)
        .await?;
    Ok(page
        .fill(client, first, ApiFamily::MachineActions, opts)
        .await?)
}

/// Follows one action until a terminal status or `deadline` (see [`watch`]).
pub fn watch_action(
    runtime: &ActionRuntime,
    client: &DefenderClient,
    action_id: &str,
    interval: std::time::Duration,
    deadline: Instant,
) -> impl Stream<Item = Result<MachineAction, ServiceError>> + Send + 'static {
    let rx = runtime.watches.subscribe(client, action_id, interval);
    watch::follow(rx, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_with_and_and_quote_values() {
        let f = ActionFilters {
            machine_id: Some("ab".into()),
            action_type: Some(ActionType::Isolate),
            status: Some(ActionStatus::Pending),
        };
        assert_eq!(
            f.odata().as_deref(),
            Some("machineId eq 'ab' and type eq 'Isolate' and status eq 'Pending'")
        );
        assert_eq!(ActionFilters::default().odata(), None);
        assert_ne!(f.scope("t"), ActionFilters::default().scope("t"));
    }
}
