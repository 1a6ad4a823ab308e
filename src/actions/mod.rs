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

use crate::defender::{
    ActionStatus, ActionType, CallOptions, DefenderClient, Filter, MachineAction, ODataQuery,
};
use crate::error::ServiceError;
use crate::page_token::PageScope;
use crate::risk::lists::ListPage;
use crate::server::AppState;

/// The action side's shared state (it lives in `AppState`).
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
}

impl ActionRuntime {
    /// Opens the audit log at `audit_log` (or logs audit records to tracing without one);
    /// ambiguous actions settle within `settle_window`.
    pub fn new(audit_log: Option<&Path>, settle_window: Duration) -> Result<Self, AuditError> {
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
        })
    }
}

/// Isolates, releases or scans a machine: at most once per `request_id` (see the module docs
/// of `perform` for the steps).
pub async fn request_action(
    state: &Arc<AppState>,
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
        state: Arc::clone(state),
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
    let answer = state
        .actions
        .idempotency
        .run(key, fingerprint, deadline, |interim| {
            perform::start(cx, req, interim)
        })
        .await?;
    if answer.replayed {
        audit_replay(state, &requested, &answer.action).await;
    }
    Ok(answer.action)
}

/// Cancels a machine action; one that already finished is returned unchanged.
pub async fn cancel_action(
    state: &Arc<AppState>,
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
        state: Arc::clone(state),
        client: client.clone(),
        caller,
        opts,
    };
    let answer = state
        .actions
        .idempotency
        .run(key, fingerprint, deadline, |_| perform::cancel(cx, req))
        .await?;
    if answer.replayed {
        audit_replay(state, &requested, &answer.action).await;
    }
    Ok(answer.action)
}

/// A request answered from an earlier one did nothing; its record is best effort.
async fn audit_replay(state: &AppState, requested: &AuditRecord, action: &MachineAction) {
    if let Err(err) = state
        .actions
        .audit
        .append(&requested.replayed(action))
        .await
    {
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

/// A page of `GET /api/machineactions` with the filters, from `offset`, `size` items (1 to
/// 1,000). Asks for one more item than the page holds, so the last page is never empty, and
/// follows next links until it has them.
pub async fn list_actions(
    client: &DefenderClient,
    filters: &ActionFilters,
    offset: u64,
    size: usize,
    opts: &CallOptions,
) -> Result<ListPage<MachineAction>, ServiceError> {
    let skip = u32::try_from(offset).map_err(|_| {
        ServiceError::invalid("page_token", "points beyond what Defender can page to")
    })?;
    let query = ODataQuery {
        filter: filters.odata(),
        top: Some(u32::try_from(size + 1).unwrap_or(u32::MAX)),
        skip: Some(skip),
    };
    let first = client.list_machine_actions(&query, opts).await?;
    // A short answer with a next link (server-driven paging) is not the end of the list.
    let page = crate::risk::lists::PageRequest { offset, size };
    Ok(page
        .fill(
            client,
            first,
            crate::defender::ApiFamily::MachineActions,
            opts,
        )
        .await?)
}

/// Follows one action until a terminal status or `deadline` (see [`watch`]).
pub fn watch_action(
    state: &AppState,
    client: &DefenderClient,
    action_id: &str,
    interval: std::time::Duration,
    deadline: Instant,
) -> impl Stream<Item = Result<MachineAction, ServiceError>> + Send + 'static {
    let rx = state.actions.watches.subscribe(client, action_id, interval);
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
