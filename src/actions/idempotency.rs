//! Never twice: the `request_id` store.
//!
//! A request with a `request_id` runs at most once per (tenant, caller, request_id) in this
//! process. The caller is the verified identity when callers are configured: ids are the
//! caller's own, so one caller cannot claim another's predictable id (`ticket-4711`) first and
//! make the real request fail. Without caller authentication every caller shares one scope.
//!
//! - While it runs, later requests with the same key wait for its result (single flight), so two
//!   concurrent retries make one Defender POST.
//! - Once it has succeeded, the result is kept for [`IDEMPOTENCY_TTL`] (at most
//!   [`IDEMPOTENCY_MAX_ENTRIES`] keys, least recently used evicted first) and returned again.
//! - A failure is handed to every waiting request but not kept: Defender did not act (or the
//!   service could not tell, in which case the action code looks for the action by its stamped
//!   `request_id` before acting again), so a retry may try again.
//! - A key reused with other parameters is INVALID_ARGUMENT.
//!
//! The work runs on its own task: a caller that gives up (deadline, disconnect) does not cancel
//! a POST half-way, and its outcome is still recorded and audited. Across restarts and replicas
//! this store knows nothing; there the stamped `request_id` in Defender's own action list takes
//! over (see `reconcile`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::future::Cache;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::defender::MachineAction;
use crate::error::ServiceError;

/// How long a successful result is kept for its `request_id`.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most `request_id`s remembered at once. Defender allows 1,500 action requests per hour and
/// tenant, so a day holds at most 36,000 of one tenant.
pub const IDEMPOTENCY_MAX_ENTRIES: u64 = 100_000;
/// Longest part of a waiting retry's deadline kept back to answer in.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// One request's key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    tenant: String,
    scope: Option<String>,
    request_id: String,
}

impl IdempotencyKey {
    /// The key of `request_id` in `tenant` (tenant compared case-insensitively), in the shared
    /// scope of unauthenticated callers.
    pub fn new(tenant: &str, request_id: &str) -> Self {
        Self::scoped(tenant, None, request_id)
    }

    /// The key of `request_id` of the caller `scope` (its verified identity; `None`: the
    /// shared scope) in `tenant`.
    pub fn scoped(tenant: &str, scope: Option<&str>, request_id: &str) -> Self {
        Self {
            tenant: tenant.to_ascii_lowercase(),
            scope: scope.map(str::to_string),
            request_id: request_id.to_string(),
        }
    }
}

/// What one run produced, with the parameters it ran with.
#[derive(Clone, Debug)]
struct Settled {
    fingerprint: String,
    result: Result<MachineAction, ServiceError>,
}

/// What a running request has said so far.
#[derive(Clone, Debug)]
enum Progress {
    /// The first caller's answer while the outcome is still being settled; the run goes on.
    Unsettled {
        fingerprint: String,
        error: ServiceError,
        look_now: Arc<Notify>,
    },
    /// The run's final result.
    Settled(Arc<Settled>),
}

type Slot = watch::Receiver<Option<Progress>>;

/// How a request was answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The action.
    pub action: MachineAction,
    /// True when it is an earlier request's result (no work was done for this one).
    pub replayed: bool,
}

/// Handed to a run: lets it answer its caller before its outcome is settled (see
/// [`Interim::unsettled`]) and be asked to look again by a waiting retry.
pub struct Interim {
    fingerprint: String,
    tx: Arc<watch::Sender<Option<Progress>>>,
    look_now: Arc<Notify>,
}

impl Interim {
    /// Answers the first caller with `error` while the run goes on settling the outcome. Later
    /// requests with the same key wait for the settled result instead (until their deadline).
    pub fn unsettled(&self, error: ServiceError) {
        let progress = Progress::Unsettled {
            fingerprint: self.fingerprint.clone(),
            error,
            look_now: Arc::clone(&self.look_now),
        };
        self.tx.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(progress);
            }
            first
        });
    }

    /// Resolves when a waiting retry asks the run to look for the outcome now.
    pub async fn look_requested(&self) {
        self.look_now.notified().await;
    }
}

/// The `request_id` store (see the module docs).
pub struct IdempotencyStore {
    done: Cache<IdempotencyKey, Arc<Settled>>,
    in_flight: Arc<Mutex<HashMap<IdempotencyKey, Slot>>>,
}

impl std::fmt::Debug for IdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyStore")
            .field("remembered", &self.done.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for IdempotencyStore {
    fn default() -> Self {
        Self::new(IDEMPOTENCY_TTL, IDEMPOTENCY_MAX_ENTRIES)
    }
}

impl IdempotencyStore {
    /// A store keeping results for `ttl`, at most `max_entries` of them.
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            done: Cache::builder()
                .max_capacity(max_entries.max(1))
                .time_to_live(ttl)
                .build(),
            in_flight: Arc::default(),
        }
    }

    /// Runs `work` on its own task unless `key` already ran (or is running) with the same
    /// `fingerprint`, in which case that result is returned. Without a key, `work` just runs.
    ///
    /// The first caller gets the run's result, or its [`Interim::unsettled`] answer if that
    /// comes first. A request that joins a running key waits for the settled result until
    /// `deadline` (less a margin to answer in), then gets the unsettled answer if there is one.
    pub async fn run<W, F>(
        &self,
        key: Option<IdempotencyKey>,
        fingerprint: String,
        deadline: Option<Instant>,
        work: W,
    ) -> Result<Answer, ServiceError>
    where
        W: FnOnce(Interim) -> F,
        F: Future<Output = Result<MachineAction, ServiceError>> + Send + 'static,
    {
        let Some(key) = key else {
            let (tx, rx) = watch::channel(None);
            spawn_run(tx, fingerprint.clone(), work, |_| async {});
            return first_answer(rx, &fingerprint).await;
        };
        match self.join(&key) {
            Some(slot) => return wait_settled(slot, &fingerprint, deadline).await,
            None => {
                if let Some(settled) = self.done.get(&key).await {
                    return answer(&settled, &fingerprint, true);
                }
            }
        }
        match self.lead(key, fingerprint.clone(), work) {
            (slot, false) => first_answer(slot, &fingerprint).await,
            (slot, true) => wait_settled(slot, &fingerprint, deadline).await,
        }
    }

    /// A running request's slot, if any.
    fn join(&self, key: &IdempotencyKey) -> Option<Slot> {
        lock(&self.in_flight).get(key).cloned()
    }

    /// Starts `work` for `key`, unless a concurrent request started it first (then joins it:
    /// the flag is true).
    fn lead<W, F>(&self, key: IdempotencyKey, fingerprint: String, work: W) -> (Slot, bool)
    where
        W: FnOnce(Interim) -> F,
        F: Future<Output = Result<MachineAction, ServiceError>> + Send + 'static,
    {
        let (tx, rx) = {
            let mut in_flight = lock(&self.in_flight);
            if let Some(slot) = in_flight.get(&key) {
                return (slot.clone(), true);
            }
            let (tx, rx) = watch::channel(None);
            in_flight.insert(key.clone(), rx.clone());
            (tx, rx)
        };
        let done = self.done.clone();
        let guard = InFlightGuard {
            map: Arc::clone(&self.in_flight),
            key: key.clone(),
        };
        spawn_run(
            tx,
            fingerprint,
            work,
            move |settled: Arc<Settled>| async move {
                // Remember a success before leaving the in-flight map, so that a request arriving
                // in between finds one or the other.
                if settled.result.is_ok() {
                    done.insert(key, settled).await;
                }
                drop(guard);
            },
        );
        (rx, false)
    }
}

/// Runs `work` on its own task, publishes its result, then calls `after` with it.
fn spawn_run<W, F, A, AF>(
    tx: watch::Sender<Option<Progress>>,
    fingerprint: String,
    work: W,
    after: A,
) where
    W: FnOnce(Interim) -> F,
    F: Future<Output = Result<MachineAction, ServiceError>> + Send + 'static,
    A: FnOnce(Arc<Settled>) -> AF + Send + 'static,
    AF: Future<Output = ()> + Send,
{
    let tx = Arc::new(tx);
    let interim = Interim {
        fingerprint: fingerprint.clone(),
        tx: Arc::clone(&tx),
        look_now: Arc::default(),
    };
    let work = work(interim);
    // Part of the first caller's RPC: its Defender requests count in that call's access line.
    tokio::spawn(crate::metrics::in_current_call(async move {
        let result = work.await;
        let settled = Arc::new(Settled {
            fingerprint,
            result,
        });
        // `after` remembers a success before the key leaves the in-flight map, so a request
        // arriving in between finds one or the other; a failure is not kept (it may run again).
        let done = Arc::clone(&settled);
        after(done).await;
        tx.send_replace(Some(Progress::Settled(settled)));
    }));
}

/// The first caller's answer: the settled result or the unsettled answer, whichever comes first.
async fn first_answer(mut slot: Slot, fingerprint: &str) -> Result<Answer, ServiceError> {
    let progress = match slot.wait_for(Option::is_some).await {
        Ok(value) => value.clone(),
        Err(_) => None,
    };
    match progress {
        Some(Progress::Settled(settled)) => answer(&settled, fingerprint, false),
        Some(Progress::Unsettled { error, .. }) => Err(error),
        None => Err(task_failed("the request's task ended without a result")),
    }
}

/// A joining request's answer: the settled result, waited for until `deadline` less a margin;
/// then the unsettled answer, if any. While it waits, it asks the run to look now.
async fn wait_settled(
    mut slot: Slot,
    fingerprint: &str,
    deadline: Option<Instant>,
) -> Result<Answer, ServiceError> {
    let give_up = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        Instant::now() + left.saturating_sub((left / 10).min(ANSWER_MARGIN))
    });
    if let Some(Progress::Unsettled { look_now, .. }) = slot.borrow().clone() {
        look_now.notify_one();
    }
    let settled = async {
        match slot
            .wait_for(|p| matches!(p, Some(Progress::Settled(_))))
            .await
        {
            Ok(value) => value.clone(),
            Err(_) => None,
        }
    };
    let waited = match give_up {
        Some(at) => tokio::time::timeout_at(at, settled).await.ok(),
        None => Some(settled.await),
    };
    match waited {
        Some(Some(Progress::Settled(settled))) => answer(&settled, fingerprint, true),
        Some(_) => Err(task_failed("the request's task ended without a result")),
        None => match slot.borrow().clone() {
            Some(Progress::Unsettled {
                fingerprint: first,
                error,
                ..
            }) => {
                if first != fingerprint {
                    return Err(reused_with_other_parameters());
                }
                Err(error)
            }
            _ => Err(ServiceError::DeadlineExceeded),
        },
    }
}

/// Removes a key from the in-flight map when its task ends, even by panic.
struct InFlightGuard {
    map: Arc<Mutex<HashMap<IdempotencyKey, Slot>>>,
    key: IdempotencyKey,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        lock(&self.map).remove(&self.key);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer(settled: &Settled, fingerprint: &str, replayed: bool) -> Result<Answer, ServiceError> {
    if settled.fingerprint != fingerprint {
        return Err(reused_with_other_parameters());
    }
    settled
        .result
        .clone()
        .map(|action| Answer { action, replayed })
}

fn reused_with_other_parameters() -> ServiceError {
    ServiceError::invalid(
        "request_id",
        "was already used with other parameters (RPC, machine, type or comment): use a new \
         request_id for a different request",
    )
}

fn task_failed(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("action task failed: {err}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn action(id: &str) -> MachineAction {
        MachineAction {
            id: Some(id.into()),
            ..MachineAction::default()
        }
    }

    fn counted(
        runs: &Arc<AtomicUsize>,
        result: Result<MachineAction, ServiceError>,
    ) -> impl Future<Output = Result<MachineAction, ServiceError>> + Send + 'static {
        let runs = Arc::clone(runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            result
        }
    }

    #[tokio::test]
    async fn a_repeated_key_returns_the_first_result_without_running_again() {
        let store = IdempotencyStore::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("T", "r1"));
        let first = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("a1")))
            })
            .await
            .expect("ok");
        let second = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("a2")))
            })
            .await
            .expect("ok");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!first.replayed);
        assert!(second.replayed);
        assert_eq!(second.action.id.as_deref(), Some("a1"));
    }

    #[tokio::test]
    async fn concurrent_requests_with_one_key_share_one_run() {
        let store = Arc::new(IdempotencyStore::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, runs) = (Arc::clone(&store), Arc::clone(&runs));
            tasks.push(tokio::spawn(async move {
                store
                    .run(
                        Some(IdempotencyKey::new("t", "same")),
                        "fp".into(),
                        None,
                        |_| counted(&runs, Ok(action(&format!("a{i}")))),
                    )
                    .await
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("joined").expect("ok").action.id);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
    }

    #[tokio::test]
    async fn failures_are_not_remembered() {
        let store = IdempotencyStore::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("t", "r"));
        let failed = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Err(ServiceError::Internal("x".into())))
            })
            .await;
        assert!(failed.is_err());
        let retried = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("a")))
            })
            .await;
        assert!(retried.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_key_reused_with_other_parameters_is_invalid() {
        let store = IdempotencyStore::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("t", "r"));
        store
            .run(key(), "fp1".into(), None, |_| {
                counted(&runs, Ok(action("a")))
            })
            .await
            .expect("ok");
        let err = store
            .run(key(), "fp2".into(), None, |_| {
                counted(&runs, Ok(action("b")))
            })
            .await
            .expect_err("different parameters");
        assert!(
            matches!(err, ServiceError::InvalidField { ref field, .. } if field == "request_id")
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_work() {
        let store = Arc::new(IdempotencyStore::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("t", "r"));
        let abandoned = tokio::time::timeout(
            Duration::from_millis(5),
            store.run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("a")))
            }),
        )
        .await;
        assert!(abandoned.is_err(), "gave up early");
        let later = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("b")))
            })
            .await
            .expect("ok");
        assert_eq!(later.action.id.as_deref(), Some("a"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    fn not_confirmed() -> ServiceError {
        ServiceError::ActionNotConfirmed {
            machine_id: "m".into(),
            action: "Isolate".into(),
            taken: crate::error::ActionTaken::Settling {
                settles_in: Duration::from_secs(60),
            },
            detail: "no answer".into(),
        }
    }

    /// Answers "unsettled" at once, then settles with `result` after a retry asked it to look
    /// (or after `settle_after` without one).
    fn settling(
        runs: &Arc<AtomicUsize>,
        settle_after: Duration,
        result: Result<MachineAction, ServiceError>,
    ) -> impl FnOnce(
        Interim,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<MachineAction, ServiceError>> + Send>,
    > {
        let runs = Arc::clone(runs);
        move |interim: Interim| {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                interim.unsettled(not_confirmed());
                tokio::select! {
                    () = interim.look_requested() => {}
                    () = tokio::time::sleep(settle_after) => {}
                }
                result
            })
        }
    }

    #[tokio::test]
    async fn an_unsettled_answer_reaches_the_first_caller_while_the_run_goes_on() {
        let store = IdempotencyStore::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("t", "r"));
        let first = store
            .run(
                key(),
                "fp".into(),
                None,
                settling(&runs, Duration::from_secs(3600), Ok(action("late"))),
            )
            .await
            .expect_err("unsettled");
        assert!(matches!(first, ServiceError::ActionNotConfirmed { .. }));
        // A retry with a short deadline gets the same answer and does not run again.
        let deadline = Instant::now() + Duration::from_millis(50);
        let impatient = store
            .run(
                key(),
                "fp".into(),
                Some(deadline),
                settling(&runs, Duration::ZERO, Ok(action("second"))),
            )
            .await;
        // Its arrival asked the run to look now, which settled it with the late action; either
        // it saw that in time or it got the unsettled answer.
        match impatient {
            Ok(answer) => assert_eq!(answer.action.id.as_deref(), Some("late")),
            Err(err) => assert!(matches!(err, ServiceError::ActionNotConfirmed { .. })),
        }
        let patient = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("x")))
            })
            .await
            .expect("settled");
        assert_eq!(patient.action.id.as_deref(), Some("late"));
        assert!(patient.replayed);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "never run twice");
    }

    #[tokio::test]
    async fn a_retry_waits_for_the_settled_outcome_until_its_deadline() {
        let store = Arc::new(IdempotencyStore::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = || Some(IdempotencyKey::new("t", "r"));
        // Settles as "not taken" after 300 ms whatever happens; nobody asks it to look early
        // because the only retry has a deadline that ends first.
        let slow = {
            let runs = Arc::clone(&runs);
            move |interim: Interim| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                interim.unsettled(not_confirmed());
                tokio::time::sleep(Duration::from_millis(300)).await;
                Err::<MachineAction, _>(ServiceError::Internal("not taken".into()))
            }
        };
        let first = store.run(key(), "fp".into(), None, slow).await;
        assert!(matches!(
            first,
            Err(ServiceError::ActionNotConfirmed { .. })
        ));
        let other_params = store
            .run(
                key(),
                "other".into(),
                Some(Instant::now() + Duration::from_millis(20)),
                |_| counted(&runs, Ok(action("y"))),
            )
            .await
            .expect_err("different parameters");
        assert!(matches!(other_params, ServiceError::InvalidField { .. }));
        let settled = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("y")))
            })
            .await
            .expect_err("the settled failure");
        assert!(matches!(settled, ServiceError::Internal(_)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Once settled as a failure, the key may run again.
        let again = store
            .run(key(), "fp".into(), None, |_| {
                counted(&runs, Ok(action("z")))
            })
            .await
            .expect("runs again");
        assert_eq!(again.action.id.as_deref(), Some("z"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
