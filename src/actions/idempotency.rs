//! Never twice: the `request_id` store.
//!
//! A request with a `request_id` runs at most once per (tenant, request_id) in this process:
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
use tokio::sync::watch;

use crate::defender::MachineAction;
use crate::error::ServiceError;

/// How long a successful result is kept for its `request_id`.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most `request_id`s remembered at once. Defender allows 1,500 action requests per hour and
/// tenant, so a day holds at most 36,000 of one tenant.
pub const IDEMPOTENCY_MAX_ENTRIES: u64 = 100_000;

/// One request's key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    tenant: String,
    request_id: String,
}

impl IdempotencyKey {
    /// The key of `request_id` in `tenant` (tenant compared case-insensitively).
    pub fn new(tenant: &str, request_id: &str) -> Self {
        Self {
            tenant: tenant.to_ascii_lowercase(),
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

type Slot = watch::Receiver<Option<Arc<Settled>>>;

/// How a request was answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The action.
    pub action: MachineAction,
    /// True when it is an earlier request's result (no work was done for this one).
    pub replayed: bool,
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
    pub async fn run<F>(
        &self,
        key: Option<IdempotencyKey>,
        fingerprint: String,
        work: F,
    ) -> Result<Answer, ServiceError>
    where
        F: Future<Output = Result<MachineAction, ServiceError>> + Send + 'static,
    {
        let Some(key) = key else {
            let action = tokio::spawn(work).await.map_err(task_failed)??;
            return Ok(Answer {
                action,
                replayed: false,
            });
        };
        let (mut slot, replayed) = match self.join(&key) {
            Some(slot) => (slot, true),
            None => match self.done.get(&key).await {
                Some(settled) => return answer(&settled, &fingerprint, true),
                None => self.lead(key, fingerprint.clone(), work),
            },
        };
        let settled = match slot.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        };
        match settled {
            Some(settled) => answer(&settled, &fingerprint, replayed),
            None => Err(task_failed("the request's task ended without a result")),
        }
    }

    /// A running request's slot, if any.
    fn join(&self, key: &IdempotencyKey) -> Option<Slot> {
        lock(&self.in_flight).get(key).cloned()
    }

    /// Starts `work` for `key`, unless a concurrent request started it first (then joins it).
    fn lead<F>(&self, key: IdempotencyKey, fingerprint: String, work: F) -> (Slot, bool)
    where
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
        tokio::spawn(async move {
            let result = work.await;
            let settled = Arc::new(Settled {
                fingerprint,
                result,
            });
            // Remember a success before leaving the in-flight map, so that a request arriving
            // in between finds one or the other.
            if settled.result.is_ok() {
                done.insert(key, Arc::clone(&settled)).await;
            }
            tx.send_replace(Some(settled));
            drop(guard);
        });
        (rx, false)
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
        return Err(ServiceError::invalid(
            "request_id",
            "was already used with other parameters (RPC, machine, type or comment): use a new \
             request_id for a different request",
        ));
    }
    settled
        .result
        .clone()
        .map(|action| Answer { action, replayed })
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
            .run(key(), "fp".into(), counted(&runs, Ok(action("a1"))))
            .await
            .expect("ok");
        let second = store
            .run(key(), "fp".into(), counted(&runs, Ok(action("a2"))))
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
                        counted(&runs, Ok(action(&format!("a{i}")))),
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
            .run(
                key(),
                "fp".into(),
                counted(&runs, Err(ServiceError::Internal("x".into()))),
            )
            .await;
        assert!(failed.is_err());
        let retried = store
            .run(key(), "fp".into(), counted(&runs, Ok(action("a"))))
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
            .run(key(), "fp1".into(), counted(&runs, Ok(action("a"))))
            .await
            .expect("ok");
        let err = store
            .run(key(), "fp2".into(), counted(&runs, Ok(action("b"))))
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
            store.run(key(), "fp".into(), counted(&runs, Ok(action("a")))),
        )
        .await;
        assert!(abandoned.is_err(), "gave up early");
        let later = store
            .run(key(), "fp".into(), counted(&runs, Ok(action("b"))))
            .await
            .expect("ok");
        assert_eq!(later.action.id.as_deref(), Some("a"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
