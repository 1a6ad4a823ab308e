//! Requesting an action (or a cancellation) from Defender exactly once, and saying exactly what
//! happened. One request, start to end:
//!
//! 1. The comment is stamped (caller, `request_id`, nonce) and a `requested` audit record is
//!    written; if it cannot be, nothing is sent.
//! 2. With a `request_id` this process has not answered yet, Defender's recent actions of the
//!    machine are searched for it (a retry after a restart or via another replica).
//! 3. One POST, never retried. Its deadline keeps part of the caller's time back for step 4.
//! 4. `ActiveRequestAlreadyExists` becomes ALREADY_EXISTS with the pending action's id. After an
//!    ambiguous failure (timeout, lost connection, 5xx, a 2xx whose body cannot be read) the
//!    request may have left, and may even reach Defender late (a proxy can hold it after the
//!    service gave up). The action is looked for by its nonce in Defender's list: found is
//!    success. Not found yet is *unsettled*: the caller gets UNAVAILABLE `action_taken=unknown`
//!    (with `settles_in_seconds`), the `outcome` record says `unknown`, and this task keeps
//!    looking until the action shows up or the settle window (counted from the POST) has
//!    passed; then a `settled` record says which. Until then, a retry with the same
//!    `request_id` waits for that outcome (see [`super::idempotency`]) and never POSTs.
//! 5. The machine's cached risk is dropped after any attempt that may have acted, and the
//!    `outcome` audit record is written before the answer goes back.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::audit::{AuditLog, AuditRecord};
use super::caller::{Caller, Stamp, new_nonce, stamp_comment};
use super::idempotency::Interim;
use super::request::{ActionKind, ActionRequest, CancelRequest};
use super::{ActionRuntime, reconcile};
use crate::defender::{CallOptions, DefenderClient, DefenderError, MachineAction};
use crate::error::{ActionTaken, ServiceError};
use crate::metrics::Reconciled;

/// Longest part of the caller's time kept back from the POST for reconciliation.
const MAX_RESERVE: Duration = Duration::from_secs(10);
/// Least time given to reconciliation, even past the caller's deadline (the task outlives the
/// call, and its outcome is still audited).
const MIN_RECONCILE: Duration = Duration::from_secs(2);
/// Part of the caller's time kept to send the answer after the first look-up.
const ANSWER_MARGIN: Duration = Duration::from_millis(300);
/// Time given to reconciliation when the caller set no deadline.
const DEFAULT_RECONCILE: Duration = Duration::from_secs(15);
/// Default settle window: how long after an ambiguous POST was sent the service keeps looking
/// for its action before settling it as "not taken". Long enough for a request held by a proxy
/// or a slow gateway to have been processed by Defender.
pub const DEFAULT_SETTLE_WINDOW: Duration = Duration::from_secs(120);
/// Longest pause between two looks while settling (they double from one second up to this).
const SETTLE_MAX_PAUSE: Duration = Duration::from_secs(15);
/// Shortest pause between two looks, also when waiting retries ask for one.
const SETTLE_MIN_PAUSE: Duration = Duration::from_secs(1);

/// What a detached action task needs.
pub(super) struct Context {
    pub runtime: Arc<ActionRuntime>,
    pub client: DefenderClient,
    pub caller: Caller,
    pub opts: CallOptions,
}

/// A settled attempt: the action, the audited `result`, and whether it was found by looking.
type Settled = Result<(MachineAction, &'static str, bool), ServiceError>;

/// What one attempt came to. Short-lived and returned once per request, so the size difference
/// between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    /// Settled: Defender answered, or the action was found, or it certainly did not act.
    Settled(Settled),
    /// The POST may have left and its action is not in Defender's list (yet).
    Unsettled(Unsettled),
}

/// An ambiguous POST whose action has not been found yet.
struct Unsettled {
    /// When the POST was sent (Defender's clock may differ: the look-ups allow for skew).
    sent_at: OffsetDateTime,
    /// The same moment on the monotonic clock, where the settle window starts.
    sent: Instant,
    /// What failed, for the messages.
    detail: String,
}

impl Context {
    fn tenant(&self) -> &str {
        &self.client.settings().tenant_id
    }

    async fn invalidate(&self, machine_id: Option<&str>) {
        if let Some(id) = machine_id {
            self.runtime
                .cache
                .invalidate_machine(self.tenant(), id)
                .await;
        }
    }

    /// Counts a reconciliation of a lost answer that ended with `outcome`.
    fn reconciled(&self, outcome: Reconciled) {
        self.runtime.reconciliations.record(outcome);
    }

    fn audit(&self) -> &AuditLog {
        &self.runtime.audit
    }
}

/// Isolate, release or scan (see the module docs).
pub(super) async fn start(
    cx: Context,
    req: ActionRequest,
    interim: Interim,
) -> Result<MachineAction, ServiceError> {
    let nonce = new_nonce();
    let stamped = stamp_comment(&req.comment, &cx.caller, req.request_id.as_deref(), &nonce);
    let requested = AuditRecord::requested(
        &cx.caller,
        cx.tenant(),
        req.request_id.as_deref(),
        Some(&req.machine_id),
        req.kind.name(),
        req.kind.parameters(),
        &req.comment,
        &stamped,
    );
    write_requested(cx.audit(), &requested).await?;
    match attempt(&cx, &req, &stamped, &nonce).await {
        Attempt::Settled(settled) => settle(cx.audit(), &requested, settled).await,
        Attempt::Unsettled(unsettled) => {
            let window_end = unsettled.sent + cx.runtime.settle_window;
            let answer = not_confirmed(
                &req,
                ActionTaken::Settling {
                    settles_in: window_end.saturating_duration_since(Instant::now()),
                },
                unsettled.detail.clone(),
            );
            if let Err(err) = cx.audit().append(&requested.unknown(&answer)).await {
                tracing::error!(error = %err, "audit record of an unsettled action not written");
            }
            interim.unsettled(answer);
            let settled = settle_late(&cx, &req, &nonce, &unsettled, window_end, &interim).await;
            record_settled(cx.audit(), &requested, settled).await
        }
    }
}

fn not_confirmed(req: &ActionRequest, taken: ActionTaken, detail: String) -> ServiceError {
    ServiceError::ActionNotConfirmed {
        machine_id: req.machine_id.clone(),
        action: req.kind.defender_type().to_string(),
        taken,
        detail,
    }
}

/// Keeps looking for an unsettled action until it shows up or `window_end` has passed (a last
/// look is made then), pausing longer each time but looking at once when a waiting retry asks.
async fn settle_late(
    cx: &Context,
    req: &ActionRequest,
    nonce: &str,
    unsettled: &Unsettled,
    window_end: Instant,
    interim: &Interim,
) -> Settled {
    let kind = req.kind.defender_type();
    let mut pause = SETTLE_MIN_PAUSE;
    let last_error = loop {
        let now = Instant::now();
        if now < window_end {
            tokio::select! {
                () = tokio::time::sleep_until((now + pause).min(window_end)) => {}
                () = interim.look_requested() => {
                    // Asked by a waiting retry: look soon, but not more than once a second.
                    tokio::time::sleep_until((now + SETTLE_MIN_PAUSE).min(window_end)).await;
                }
            }
            pause = (pause * 2).min(SETTLE_MAX_PAUSE);
        }
        let opts = CallOptions::with_timeout(SETTLE_MAX_PAUSE);
        let error = match reconcile::find_once_by_nonce(
            &cx.client,
            &req.machine_id,
            &kind,
            nonce,
            unsettled.sent_at,
            &opts,
        )
        .await
        {
            Ok(Some(action)) => {
                cx.invalidate(Some(&req.machine_id)).await;
                cx.reconciled(Reconciled::FoundLate);
                return Ok((action, "succeeded", true));
            }
            Ok(None) => None,
            Err(err) => Some(err),
        };
        // The last look is made at (or just after) the end of the window.
        if Instant::now() >= window_end {
            break error;
        }
    };
    let window = cx.runtime.settle_window.as_secs();
    cx.reconciled(if last_error.is_none() {
        Reconciled::NotTaken
    } else {
        Reconciled::Unknown
    });
    Err(match last_error {
        None => not_confirmed(
            req,
            ActionTaken::No,
            format!(
                "{}; no such action appeared in the {window}s after it was sent",
                unsettled.detail
            ),
        ),
        Some(lookup) => not_confirmed(
            req,
            ActionTaken::Unknown,
            format!(
                "{}; listing the machine's actions at the end of the {window}s settle window \
                 failed: {lookup}",
                unsettled.detail
            ),
        ),
    })
}

/// Cancel (see the module docs; a finished action is returned unchanged).
pub(super) async fn cancel(cx: Context, req: CancelRequest) -> Result<MachineAction, ServiceError> {
    let nonce = new_nonce();
    let stamped = stamp_comment(&req.comment, &cx.caller, req.request_id.as_deref(), &nonce);
    let requested = AuditRecord::requested(
        &cx.caller,
        cx.tenant(),
        req.request_id.as_deref(),
        None,
        "Cancel",
        serde_json::json!({ "action_id": req.action_id }),
        &req.comment,
        &stamped,
    );
    write_requested(cx.audit(), &requested).await?;
    let settled = attempt_cancel(&cx, &req, &stamped, &nonce).await;
    if let Ok((action, _, _)) = &settled {
        cx.invalidate(action.machine_id.as_deref()).await;
        cx.runtime.watches.publish(cx.tenant(), action);
    }
    settle(cx.audit(), &requested, settled).await
}

async fn write_requested(audit: &AuditLog, record: &AuditRecord) -> Result<(), ServiceError> {
    audit.append(record).await.map_err(|err| {
        tracing::error!(error = %err, "audit log not writable; action refused");
        ServiceError::AuditLogUnavailable {
            detail: err.source.to_string(),
            action_id: None,
        }
    })
}

async fn settle(
    audit: &AuditLog,
    requested: &AuditRecord,
    settled: Settled,
) -> Result<MachineAction, ServiceError> {
    let (record, result) = match settled {
        Ok((action, result, reconciled)) => {
            (requested.succeeded(&action, result, reconciled), Ok(action))
        }
        Err(err) => (requested.failed(&err), Err(err)),
    };
    if let Err(err) = audit.append(&record).await {
        let line = serde_json::to_string(&record).unwrap_or_default();
        tracing::error!(error = %err, record = %line, "audit outcome record not written");
        if let Ok(action) = &result {
            return Err(ServiceError::AuditLogUnavailable {
                detail: err.source.to_string(),
                action_id: action.id.clone(),
            });
        }
    }
    result
}

/// Writes the `settled` record of an action that was unsettled; best effort, since the
/// caller was answered already (a failure goes to the error log with the record).
async fn record_settled(
    audit: &AuditLog,
    requested: &AuditRecord,
    settled: Settled,
) -> Result<MachineAction, ServiceError> {
    let (record, result) = match settled {
        Ok((action, result, _)) => (requested.settled(Ok((&action, result))), Ok(action)),
        Err(err) => (requested.settled(Err(&err)), Err(err)),
    };
    if let Err(err) = audit.append(&record).await {
        let line = serde_json::to_string(&record).unwrap_or_default();
        tracing::error!(error = %err, record = %line, "audit settled record not written");
    }
    result
}

async fn attempt(cx: &Context, req: &ActionRequest, stamped: &str, nonce: &str) -> Attempt {
    match attempt_inner(cx, req, stamped, nonce).await {
        Ok(attempt) => attempt,
        Err(err) => Attempt::Settled(Err(err)),
    }
}

async fn attempt_inner(
    cx: &Context,
    req: &ActionRequest,
    stamped: &str,
    nonce: &str,
) -> Result<Attempt, ServiceError> {
    let client = &cx.client;
    let kind = req.kind.defender_type();
    if let Some(request_id) = &req.request_id {
        let scope = cx.caller.request_scope();
        match reconcile::find_by_request_id(
            client,
            &req.machine_id,
            &kind,
            request_id,
            scope.as_deref(),
            &cx.opts,
        )
        .await
        {
            Ok(Some((action, stamp))) => {
                check_same_request(&action, &stamp, req)?;
                return Ok(Attempt::Settled(Ok((action, "replayed", true))));
            }
            Ok(None) => {}
            Err(
                err @ (DefenderError::MissingPermission { .. } | DefenderError::Forbidden { .. }),
            ) => {
                tracing::warn!(error = %err, "cannot read machine actions: request_id is only de-duplicated within this process");
            }
            Err(err) => return Err(err.into()),
        }
    }
    let sent_at = OffsetDateTime::now_utc();
    let sent = Instant::now();
    let opts = post_options(&cx.opts);
    let posted = match req.kind {
        ActionKind::Isolate(t) => {
            client
                .isolate_machine(&req.machine_id, stamped, t, &opts)
                .await
        }
        ActionKind::Release => {
            client
                .unisolate_machine(&req.machine_id, stamped, &opts)
                .await
        }
        ActionKind::Scan(t) => {
            client
                .run_antivirus_scan(&req.machine_id, stamped, t, &opts)
                .await
        }
    };
    match posted {
        Ok(action) => {
            cx.invalidate(Some(&req.machine_id)).await;
            Ok(Attempt::Settled(Ok((action, "succeeded", false))))
        }
        Err(DefenderError::ActiveRequestAlreadyExists { .. }) => {
            let pending = reconcile::find_pending(client, &req.machine_id, &kind, &cx.opts)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "could not look up the pending action");
                    None
                });
            Err(ServiceError::ActionAlreadyPending {
                machine_id: req.machine_id.clone(),
                action: kind.to_string(),
                pending_action_id: pending,
            })
        }
        Err(err) if ambiguous(&err) => {
            cx.invalidate(Some(&req.machine_id)).await;
            let opts = first_look_options(&cx.opts);
            let found =
                reconcile::find_by_nonce(client, &req.machine_id, &kind, nonce, sent_at, &opts)
                    .await;
            let detail = match found {
                Ok(Some(action)) => {
                    cx.reconciled(Reconciled::Found);
                    return Ok(Attempt::Settled(Ok((action, "succeeded", true))));
                }
                Ok(None) => err.to_string(),
                Err(lookup) => {
                    format!("{err}; listing the machine's actions then failed: {lookup}")
                }
            };
            Ok(Attempt::Unsettled(Unsettled {
                sent_at,
                sent,
                detail,
            }))
        }
        Err(err) => Err(ServiceError::from_defender(err, "machine", &req.machine_id)),
    }
}

/// An earlier action found by `request_id` must be the same request.
fn check_same_request(
    action: &MachineAction,
    stamp: &Stamp,
    req: &ActionRequest,
) -> Result<(), ServiceError> {
    let scope_differs = match (action.scope.as_deref(), req.kind.scope()) {
        (Some(found), Some(wanted)) => !found.eq_ignore_ascii_case(wanted),
        _ => false,
    };
    if scope_differs || stamp.comment.trim() != req.comment {
        return Err(ServiceError::invalid(
            "request_id",
            "was already used with other parameters (type or comment) for an action on this \
             machine: use a new request_id for a different request",
        ));
    }
    Ok(())
}

async fn attempt_cancel(cx: &Context, req: &CancelRequest, stamped: &str, nonce: &str) -> Settled {
    let client = &cx.client;
    let id = &req.action_id;
    let posted = client
        .cancel_machine_action(id, stamped, &post_options(&cx.opts))
        .await;
    let terminal = |a: &MachineAction| a.status.as_ref().is_some_and(|s| s.is_terminal());
    match posted {
        Ok(action) => Ok((action, "succeeded", false)),
        Err(DefenderError::NotFound { .. }) => Err(ServiceError::NotFound {
            resource_type: "machine_action",
            name: id.clone(),
        }),
        // Defender refuses to cancel a finished action: answer with it, unchanged.
        Err(err @ DefenderError::BadRequest { .. }) => {
            match client.get_machine_action(id, &cx.opts).await {
                Ok(action) if terminal(&action) => Ok((action, "unchanged", false)),
                _ => Err(err.into()),
            }
        }
        Err(err) if ambiguous(&err) => {
            let opts = reconcile_options(&cx.opts);
            let not_confirmed =
                |taken, detail, machine: Option<&str>| ServiceError::ActionNotConfirmed {
                    machine_id: machine.unwrap_or_default().to_string(),
                    action: "Cancel".into(),
                    taken,
                    detail,
                };
            let read = client.get_machine_action(id, &opts).await;
            cx.reconciled(match &read {
                Ok(action) if cancellation_is_ours(action, nonce) => Reconciled::Found,
                Ok(_) => Reconciled::NotTaken,
                Err(_) => Reconciled::Unknown,
            });
            match read {
                Ok(action) => {
                    if cancellation_is_ours(&action, nonce) {
                        Ok((action, "succeeded", true))
                    } else if terminal(&action) {
                        Ok((action, "unchanged", true))
                    } else {
                        let machine = action.machine_id.clone();
                        Err(not_confirmed(
                            ActionTaken::No,
                            err.to_string(),
                            machine.as_deref(),
                        ))
                    }
                }
                Err(lookup) => Err(not_confirmed(
                    ActionTaken::Unknown,
                    format!("{err}; reading the action then failed: {lookup}"),
                    None,
                )),
            }
        }
        Err(err) => Err(ServiceError::from_defender(err, "machine_action", id)),
    }
}

/// Whether `action`'s cancellation comment carries our `nonce`.
fn cancellation_is_ours(action: &MachineAction, nonce: &str) -> bool {
    action
        .cancellation_comment
        .as_deref()
        .and_then(Stamp::parse)
        .is_some_and(|s| s.nonce.as_deref() == Some(nonce))
}

/// A failure after which Defender may have acted: no answer, a lost connection, or a 5xx (a
/// gateway may fail after the request was taken).
fn ambiguous(err: &DefenderError) -> bool {
    match err {
        DefenderError::Transport { ambiguous, .. } => *ambiguous,
        DefenderError::Upstream { status, .. } => *status >= 500 || *status == 408,
        _ => false,
    }
}

/// The POST's options: the caller's deadline less a third of the time left (at most 10 s), kept
/// for reconciliation.
fn post_options(opts: &CallOptions) -> CallOptions {
    match opts.remaining() {
        Some(left) => {
            let reserve = (left / 3).min(MAX_RESERVE);
            CallOptions::with_deadline(Instant::now() + (left - reserve))
        }
        None => CallOptions::default(),
    }
}

/// The first look for an ambiguous action's outcome ends a little before the caller's deadline,
/// so the caller hears "unsettled" in time; the settle window's looks carry on after it.
fn first_look_options(opts: &CallOptions) -> CallOptions {
    match opts.remaining() {
        Some(left) => {
            let margin = (left / 10).min(ANSWER_MARGIN);
            CallOptions::with_deadline(Instant::now() + (left - margin))
        }
        None => CallOptions::with_timeout(DEFAULT_RECONCILE),
    }
}

/// A cancellation's reconciliation: the caller's deadline, but at least [`MIN_RECONCILE`] from
/// now (a cancellation has no settle window; its outcome is still audited).
fn reconcile_options(opts: &CallOptions) -> CallOptions {
    let floor = Instant::now() + MIN_RECONCILE;
    match opts.deadline {
        Some(deadline) => CallOptions::with_deadline(deadline.max(floor)),
        None => CallOptions::with_timeout(DEFAULT_RECONCILE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_lost_connections_and_5xx_are_ambiguous_but_refusals_are_not() {
        let transport = |ambiguous| DefenderError::Transport {
            message: "x".into(),
            timeout: true,
            ambiguous,
        };
        assert!(ambiguous(&transport(true)));
        assert!(!ambiguous(&transport(false)));
        let upstream = |status| DefenderError::Upstream {
            status,
            code: None,
            message: String::new(),
            target: None,
        };
        assert!(ambiguous(&upstream(503)));
        assert!(!ambiguous(&DefenderError::DeadlineExceeded));
        assert!(!ambiguous(&DefenderError::ActiveRequestAlreadyExists {
            message: String::new(),
            target: None,
        }));
    }

    #[tokio::test]
    async fn the_post_keeps_a_third_of_the_callers_time_for_reconciliation() {
        let opts = CallOptions::with_timeout(Duration::from_secs(9));
        let post = post_options(&opts).remaining().expect("deadline");
        assert!(post <= Duration::from_secs(6) && post > Duration::from_millis(5_900));
        assert!(post_options(&CallOptions::default()).deadline.is_none());
        let reconcile = reconcile_options(&CallOptions::with_timeout(Duration::ZERO));
        assert!(reconcile.remaining().expect("deadline") > Duration::from_secs(1));
    }
}
