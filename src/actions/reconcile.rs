//! Finding out from Defender's own action list what happened, instead of acting again.
//!
//! - After an ambiguous failure (the POST may have reached Defender but no answer came back),
//!   the machine's recent actions of that type are listed and ours is recognised by the nonce in
//!   its stamped comment. The list is read up to [`RECONCILE_ATTEMPTS`] times, a little apart,
//!   because a just-created action may take a moment to show up; after that the action is
//!   unsettled and `perform` keeps looking with [`find_once_by_nonce`] until its settle window
//!   ends (a request can reach Defender after the service gave up on it).
//! - Before acting on a `request_id` this process has not seen, the machine's actions of that
//!   type from the last [`ADOPT_WINDOW`] are searched for that `request_id` in a stamp: a retry
//!   after a restart, or one that reached another replica, then returns the earlier action.
//! - On `ActiveRequestAlreadyExists`, the pending action of that type is looked up for its id.
//!
//! Every look-up is a GET (`machineactions` rate family), retried like any read.

use std::time::Duration;

use time::OffsetDateTime;

use super::caller::Stamp;
use crate::defender::{
    ActionStatus, ActionType, CallOptions, DefenderClient, DefenderError, Filter, MachineAction,
    ODataQuery,
};

/// How often the list is read when looking for an action after an ambiguous failure.
pub const RECONCILE_ATTEMPTS: u32 = 3;
/// Pause between those reads (doubling).
pub const RECONCILE_PAUSE: Duration = Duration::from_millis(500);
/// How far back a `request_id` is looked for: as long as the in-process store keeps one.
pub const ADOPT_WINDOW: Duration = super::idempotency::IDEMPOTENCY_TTL;
/// Clock skew allowed between this host and Defender when filtering by creation time.
const SKEW: Duration = Duration::from_secs(300);
/// Most actions read per look-up (one machine, one type, a bounded window: a handful).
const MAX_ITEMS: usize = 1_000;

/// The machine's actions of `kind` created after `since`.
async fn recent(
    client: &DefenderClient,
    machine_id: &str,
    kind: &ActionType,
    since: OffsetDateTime,
    opts: &CallOptions,
) -> Result<Vec<MachineAction>, DefenderError> {
    let filter = Filter::eq("machineId", machine_id)
        .and(Filter::eq("type", &kind.to_string()))
        .and(Filter::gt_time("creationDateTimeUtc", since - SKEW));
    let first = client
        .list_machine_actions(&ODataQuery::filtered(filter.to_string()), opts)
        .await?;
    let all = client
        .collect_all(
            first,
            crate::defender::ApiFamily::MachineActions,
            MAX_ITEMS,
            opts,
        )
        .await?;
    Ok(all.items)
}

fn stamp_of(action: &MachineAction) -> Option<Stamp> {
    action.requestor_comment.as_deref().and_then(Stamp::parse)
}

/// After an ambiguous failure: our action (recognised by `nonce`), or `None` when Defender's
/// list shows none after [`RECONCILE_ATTEMPTS`] reads.
pub async fn find_by_nonce(
    client: &DefenderClient,
    machine_id: &str,
    kind: &ActionType,
    nonce: &str,
    sent_at: OffsetDateTime,
    opts: &CallOptions,
) -> Result<Option<MachineAction>, DefenderError> {
    let mut pause = RECONCILE_PAUSE;
    for attempt in 1..=RECONCILE_ATTEMPTS {
        let found = find_once_by_nonce(client, machine_id, kind, nonce, sent_at, opts).await?;
        if found.is_some() {
            return Ok(found);
        }
        if attempt < RECONCILE_ATTEMPTS {
            if opts.remaining().is_some_and(|left| left <= pause) {
                break;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Ok(None)
}

/// One read of the machine's recent actions of `kind`: ours (recognised by `nonce`), if there.
pub async fn find_once_by_nonce(
    client: &DefenderClient,
    machine_id: &str,
    kind: &ActionType,
    nonce: &str,
    sent_at: OffsetDateTime,
    opts: &CallOptions,
) -> Result<Option<MachineAction>, DefenderError> {
    Ok(recent(client, machine_id, kind, sent_at, opts)
        .await?
        .into_iter()
        .find(|a| stamp_of(a).is_some_and(|s| s.nonce.as_deref() == Some(nonce))))
}

/// Before acting: an earlier action of this machine and type stamped with `request_id` by the
/// same caller (`caller_scope`, the verified identity as stamped; `None` without caller
/// authentication: any caller's).
pub async fn find_by_request_id(
    client: &DefenderClient,
    machine_id: &str,
    kind: &ActionType,
    request_id: &str,
    caller_scope: Option<&str>,
    opts: &CallOptions,
) -> Result<Option<(MachineAction, Stamp)>, DefenderError> {
    let since = OffsetDateTime::now_utc() - ADOPT_WINDOW;
    Ok(recent(client, machine_id, kind, since, opts)
        .await?
        .into_iter()
        .filter_map(|a| stamp_of(&a).map(|s| (a, s)))
        .find(|(_, s)| {
            s.request_id.as_deref() == Some(request_id)
                && caller_scope.is_none_or(|scope| s.caller.as_deref() == Some(scope))
        }))
}

/// The id of the machine's pending (or in-progress) action of `kind`, newest first.
pub async fn find_pending(
    client: &DefenderClient,
    machine_id: &str,
    kind: &ActionType,
    opts: &CallOptions,
) -> Result<Option<String>, DefenderError> {
    let active = Filter::eq("status", "Pending").or(Filter::eq("status", "InProgress"));
    let filter = Filter::eq("machineId", machine_id)
        .and(Filter::eq("type", &kind.to_string()))
        .and(active);
    let page = client
        .list_machine_actions(&ODataQuery::filtered(filter.to_string()), opts)
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|a| {
            matches!(
                a.status,
                Some(ActionStatus::Pending | ActionStatus::InProgress)
            )
        })
        .max_by_key(|a| a.creation_date_time_utc.clone())
        .and_then(|a| a.id))
}
