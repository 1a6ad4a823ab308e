//! `WatchMachineAction`: one upstream poll per action, however many watch it.
//!
//! The first watcher of an action starts a poller task that GETs the action and publishes it on
//! a `tokio::sync::watch` channel whenever its status changes; later watchers subscribe to the
//! same channel and get the current state at once. The poller stops at a terminal status, on a
//! permanent error (not found, missing permission), or when the last watcher has gone.
//!
//! Polling cost: the interval is the shortest any watcher asked for (2 s to 5 min, default 5 s),
//! stretched by half each time the status did not change (up to 4 times the interval, at most
//! 60 s unless the interval itself is longer) and reset on a change. All pollers together stay
//! within half of the `machineactions` per-minute budget: with `n` actions watched, each polls
//! at most every `n × 60 s / (per_minute / 2)`. Throttling and transient failures back off
//! (honouring `Retry-After`) and are not shown to watchers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::defender::{
    ActionStatus, ApiFamily, CallOptions, DefenderClient, DefenderError, MachineAction,
};
use crate::error::ServiceError;

/// Poll interval when the caller gives none.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Shortest poll interval.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest poll interval.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);
/// Longest wait between polls of an unchanged action (unless the interval is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait for one GET (rate budget included).
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// What watchers see: nothing yet, the latest action, or the error that ended the watch.
pub type Snapshot = Option<Result<Arc<MachineAction>, ServiceError>>;

/// Clamps a requested interval into 2 s – 5 min; `None` or zero means 5 s.
pub fn poll_interval(requested: Option<Duration>) -> Duration {
    match requested {
        None => DEFAULT_POLL_INTERVAL,
        Some(d) if d.is_zero() => DEFAULT_POLL_INTERVAL,
        Some(d) => d.clamp(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct WatchKey {
    tenant: String,
    action_id: String,
}

struct Poller {
    tx: watch::Sender<Snapshot>,
    interval_ms: AtomicU64,
}

/// The pollers of every watched action.
#[derive(Default)]
pub struct WatchHub {
    pollers: Mutex<HashMap<WatchKey, Arc<Poller>>>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("pollers", &self.active())
            .finish()
    }
}

impl WatchHub {
    /// Number of actions being polled.
    pub fn active(&self) -> usize {
        lock(&self.pollers).len()
    }

    /// Subscribes to `action_id`, starting its poller if none runs.
    pub fn subscribe(
        self: &Arc<Self>,
        client: &DefenderClient,
        action_id: &str,
        interval: Duration,
    ) -> watch::Receiver<Snapshot> {
        let key = WatchKey {
            tenant: client.settings().tenant_id.to_ascii_lowercase(),
            action_id: action_id.to_ascii_lowercase(),
        };
        let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let mut pollers = lock(&self.pollers);
        if let Some(poller) = pollers.get(&key) {
            poller.interval_ms.fetch_min(millis, Ordering::Relaxed);
            return poller.tx.subscribe();
        }
        let (tx, rx) = watch::channel(None);
        let poller = Arc::new(Poller {
            tx,
            interval_ms: AtomicU64::new(millis),
        });
        pollers.insert(key.clone(), Arc::clone(&poller));
        drop(pollers);
        tokio::spawn(poll(Arc::clone(self), client.clone(), key, poller));
        rx
    }

    /// Hands a fresher state of an action (e.g. a cancellation's answer) to its watchers, if any.
    pub fn publish(&self, tenant: &str, action: &MachineAction) {
        let Some(id) = action.id.as_deref() else {
            return;
        };
        let key = WatchKey {
            tenant: tenant.to_ascii_lowercase(),
            action_id: id.to_ascii_lowercase(),
        };
        if let Some(poller) = lock(&self.pollers).get(&key) {
            publish(&poller.tx, action);
        }
    }

    /// Removes `poller` if it should stop: always when `finished`, else when nobody watches.
    fn retire(&self, key: &WatchKey, poller: &Arc<Poller>, finished: bool) -> bool {
        let mut pollers = lock(&self.pollers);
        if !finished && poller.tx.receiver_count() > 0 {
            return false;
        }
        if pollers.get(key).is_some_and(|p| Arc::ptr_eq(p, poller)) {
            pollers.remove(key);
        }
        true
    }

    /// The spacing that keeps `n` pollers within half of the per-minute budget.
    fn budget_floor(&self) -> Duration {
        let per_minute = u64::from(ApiFamily::MachineActions.per_minute().max(2) / 2);
        let n = u64::try_from(self.active()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(n.saturating_mul(60_000) / per_minute)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publishes `action` when its status differs from the last one published. True when it did.
fn publish(tx: &watch::Sender<Snapshot>, action: &MachineAction) -> bool {
    tx.send_if_modified(|current| {
        let changed = match current {
            Some(Ok(last)) => last.status != action.status,
            _ => true,
        };
        if changed {
            *current = Some(Ok(Arc::new(action.clone())));
        }
        changed
    })
}

fn is_terminal(action: &MachineAction) -> bool {
    action.status.as_ref().is_some_and(|s| s.is_terminal())
}

/// Whether a failed poll may be tried again later (and is not shown to watchers).
fn transient(err: &DefenderError) -> bool {
    err.is_retryable() || matches!(err, DefenderError::Transport { .. })
}

async fn poll(hub: Arc<WatchHub>, client: DefenderClient, key: WatchKey, poller: Arc<Poller>) {
    let mut unchanged = 0u32;
    let mut failures = 0u32;
    loop {
        let base = Duration::from_millis(poller.interval_ms.load(Ordering::Relaxed));
        let opts = CallOptions::with_timeout(POLL_TIMEOUT);
        let mut wait = match client.get_machine_action(&key.action_id, &opts).await {
            Ok(action) => {
                failures = 0;
                if publish(&poller.tx, &action) {
                    unchanged = 0;
                } else {
                    unchanged = unchanged.saturating_add(1);
                }
                if is_terminal(&action) {
                    hub.retire(&key, &poller, true);
                    return;
                }
                backoff(base, unchanged)
            }
            Err(err) if transient(&err) => {
                failures = failures.saturating_add(1);
                tracing::debug!(action_id = %key.action_id, error = %err, "watch poll failed; backing off");
                let exp = base.saturating_mul(2u32.saturating_pow(failures.min(5)));
                err.retry_after()
                    .unwrap_or_default()
                    .max(exp.min(MAX_BACKOFF.max(base)))
            }
            Err(err) => {
                let err = ServiceError::from_defender(err, "machine_action", &key.action_id);
                poller.tx.send_replace(Some(Err(err)));
                hub.retire(&key, &poller, true);
                return;
            }
        };
        wait = wait.max(hub.budget_floor());
        if hub.retire(&key, &poller, false) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(Instant::now() + wait) => {}
            () = poller.tx.closed() => {
                if hub.retire(&key, &poller, false) {
                    return;
                }
            }
        }
    }
}

/// One watcher's stream: the current state first, then the action each time its status changes;
/// it ends after a terminal status, after an error, or at `deadline` (DEADLINE_EXCEEDED).
pub fn follow(
    rx: watch::Receiver<Snapshot>,
    deadline: Instant,
) -> impl Stream<Item = Result<MachineAction, ServiceError>> + Send + 'static {
    let state = Follow {
        rx,
        last: None,
        deadline,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let snapshot = st.rx.borrow_and_update().clone();
            match snapshot {
                Some(Ok(action)) if st.last.as_ref() != Some(&action.status) => {
                    st.last = Some(action.status.clone());
                    st.done = is_terminal(&action);
                    return Some((Ok((*action).clone()), st));
                }
                Some(Err(err)) => {
                    st.done = true;
                    return Some((Err(err), st));
                }
                _ => {}
            }
            tokio::select! {
                changed = st.rx.changed() => {
                    if changed.is_err() {
                        st.done = true;
                        let err = ServiceError::UpstreamUnavailable {
                            message: "the watch of this action stopped unexpectedly; watch again".into(),
                            retry_after: None,
                        };
                        return Some((Err(err), st));
                    }
                }
                () = tokio::time::sleep_until(st.deadline) => {
                    st.done = true;
                    return Some((Err(ServiceError::DeadlineExceeded), st));
                }
            }
        }
    })
}

struct Follow {
    rx: watch::Receiver<Snapshot>,
    last: Option<Option<ActionStatus>>,
    deadline: Instant,
    done: bool,
}

/// The wait after `unchanged` polls without a status change.
fn backoff(base: Duration, unchanged: u32) -> Duration {
    let cap = base.max((base * 4).min(MAX_BACKOFF));
    let mut wait = base;
    for _ in 0..unchanged.min(8) {
        wait = (wait * 3 / 2).min(cap);
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_defaults_to_five_seconds_and_is_clamped() {
        assert_eq!(poll_interval(None), Duration::from_secs(5));
        assert_eq!(poll_interval(Some(Duration::ZERO)), Duration::from_secs(5));
        assert_eq!(
            poll_interval(Some(Duration::from_millis(10))),
            Duration::from_secs(2)
        );
        assert_eq!(
            poll_interval(Some(Duration::from_secs(3600))),
            Duration::from_secs(300)
        );
        assert_eq!(
            poll_interval(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn backoff_grows_while_unchanged_and_is_capped() {
        let base = Duration::from_secs(2);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 1), Duration::from_secs(3));
        assert!(backoff(base, 2) > backoff(base, 1));
        assert_eq!(backoff(base, 50), Duration::from_secs(8));
        let long = Duration::from_secs(120);
        assert_eq!(backoff(long, 10), long);
    }

    #[test]
    fn only_status_changes_are_published() {
        let (tx, _rx) = watch::channel(None);
        let mut a = MachineAction {
            id: Some("x".into()),
            status: Some(crate::defender::ActionStatus::Pending),
            ..MachineAction::default()
        };
        assert!(publish(&tx, &a));
        a.title = Some("other field".into());
        assert!(!publish(&tx, &a));
        a.status = Some(crate::defender::ActionStatus::InProgress);
        assert!(publish(&tx, &a));
    }

    #[test]
    fn the_budget_floor_grows_with_the_number_of_watched_actions() {
        let hub = WatchHub::default();
        let one = hub.budget_floor();
        for i in 0..10 {
            let (tx, _) = watch::channel(None);
            lock(&hub.pollers).insert(
                WatchKey {
                    tenant: "t".into(),
                    action_id: i.to_string(),
                },
                Arc::new(Poller {
                    tx,
                    interval_ms: AtomicU64::new(0),
                }),
            );
        }
        assert_eq!(hub.budget_floor(), one * 10);
    }
}
