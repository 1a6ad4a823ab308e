//! Fault injection: a queue of faults applied to matching requests before normal handling, so
//! tests can script upstream failures (5xx, 429 with Retry-After, revoked tokens, token
//! endpoint errors, slowness, hangs) and count exactly how often the client hit them.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fault to apply to the next `count` matching requests.
///
/// JSON form (for `POST /_sim/faults`), e.g.
/// `{"kind":{"Status":{"status":503,"retry_after":"2"}},"count":1,"path_contains":"/api/machines"}`,
/// `{"kind":"Unauthorized","count":1}`, `{"kind":{"TokenError":{"aadsts":7000215}}}`,
/// `{"kind":{"Latency":{"millis":500}},"count":3}`, `{"kind":"Hang"}`. `count` defaults to 1.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it hits.
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path contains this.
    #[serde(default)]
    pub path_contains: Option<String>,
}

fn one() -> u32 {
    1
}

/// The kinds of fault.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status (Defender's error body for it) and optional `Retry-After`.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value: seconds or an HTTP date.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// 401 with Defender's body, as if the token had been revoked (API routes only).
    Unauthorized,
    /// The token endpoint fails with this AADSTS code: 7000215 invalid secret (401),
    /// 90002 tenant not found (400), 700016 app not found (400), 7000222 expired secret (401).
    TokenError {
        /// The AADSTS number.
        aadsts: u32,
    },
    /// Delay the request, then handle it normally. A POST is handled after the delay even if
    /// the client gave up meanwhile: a request that reaches Defender late (held by a proxy).
    Latency {
        /// Milliseconds.
        millis: u64,
    },
    /// Accept the request and do not answer within 60 s (the request is not handled).
    Hang,
    /// 429 for advanced hunting's CPU-time quota rather than its call count, with an optional
    /// `Retry-After`. The body's wording is ours: Microsoft documents only that the body says
    /// which quota was hit. JSON: `{"kind":{"CpuQuota":{"retry_after":"600"}}}`.
    CpuQuota {
        /// `Retry-After` header value.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Handle the request normally, then hold the answer back for `millis`: the work is done
    /// (an action is created) even if the client gives up first, as when Defender acted but its
    /// answer was lost.
    SlowResponse {
        /// Milliseconds.
        millis: u64,
    },
    /// Handle the request normally, then send a 2xx answer with only the first half of its body
    /// (a complete HTTP answer whose JSON stops mid-way, as when a proxy cut it). Other
    /// statuses pass unchanged. JSON: `{"kind":"CutBody"}`.
    CutBody,
    /// Handle a list request normally, but give its answer a same-origin nextLink to
    /// `$skip={skip}` even when the page held everything, so the next page repeats items (a
    /// faulty upstream). API routes only. JSON:
    /// `{"kind":{"RepeatPage":{"skip":1}},"path_contains":"/api/machines"}`.
    RepeatPage {
        /// The `$skip` the nextLink points at.
        skip: usize,
    },
}

impl Fault {
    fn applies_to(&self, path: &str, is_token_endpoint: bool) -> bool {
        let kind_ok = match self.kind {
            FaultKind::TokenError { .. } => is_token_endpoint,
            FaultKind::Unauthorized | FaultKind::CpuQuota { .. } | FaultKind::RepeatPage { .. } => {
                !is_token_endpoint
            }
            _ => true,
        };
        kind_ok
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// What the queue decided for one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Extra delay from latency faults.
    pub delay: Duration,
    /// Delay between handling the request and answering (slow-response faults).
    pub delay_answer: Duration,
    /// Cut a 2xx answer's body in half.
    pub cut_body: bool,
    /// The fault that answers instead of the normal handler.
    pub terminal: Option<FaultKind>,
    /// The `$skip` of a forced nextLink (repeat-page faults).
    pub next_link_skip: Option<usize>,
}

/// Faults in queue order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    queue: VecDeque<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.queue.push_back(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Walks the queue in order: every matching latency (slow-response) fault adds its delay
    /// before (after) handling, a cut-body fault marks the answer for cutting, the first matching other fault answers the request; each
    /// applied fault loses one use.
    pub(crate) fn take(&mut self, path: &str, is_token_endpoint: bool) -> Applied {
        let mut applied = Applied::default();
        for fault in &mut self.queue {
            if fault.count == 0 || !fault.applies_to(path, is_token_endpoint) {
                continue;
            }
            fault.count -= 1;
            match &fault.kind {
                FaultKind::Latency { millis } => applied.delay += Duration::from_millis(*millis),
                FaultKind::SlowResponse { millis } => {
                    applied.delay_answer += Duration::from_millis(*millis);
                }
                FaultKind::CutBody => applied.cut_body = true,
                FaultKind::RepeatPage { skip } => applied.next_link_skip = Some(*skip),
                other => {
                    applied.terminal = Some(other.clone());
                    break;
                }
            }
        }
        self.queue.retain(|f| f.count > 0);
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, count: u32, path: Option<&str>) -> Fault {
        Fault {
            kind: FaultKind::Status {
                status: code,
                retry_after: None,
            },
            count,
            path_contains: path.map(str::to_string),
        }
    }

    #[test]
    fn a_fault_applies_exactly_count_times() {
        let mut q = FaultQueue::default();
        q.push(status(503, 2, None));
        assert!(q.take("/api/machines", false).terminal.is_some());
        assert!(q.take("/api/machines", false).terminal.is_some());
        assert_eq!(q.take("/api/machines", false), Applied::default());
    }

    #[test]
    fn path_filter_limits_which_requests_consume_the_fault() {
        let mut q = FaultQueue::default();
        q.push(status(500, 1, Some("/alerts")));
        assert!(q.take("/api/machines", false).terminal.is_none());
        assert!(q.take("/api/alerts", false).terminal.is_some());
        assert!(q.take("/api/alerts", false).terminal.is_none());
    }

    #[test]
    fn faults_apply_in_queue_order_and_latency_stacks() {
        let mut q = FaultQueue::default();
        q.push(Fault {
            kind: FaultKind::Latency { millis: 5 },
            count: 1,
            path_contains: None,
        });
        q.push(status(500, 1, None));
        q.push(status(502, 1, None));
        let first = q.take("/x", false);
        assert_eq!(first.delay, Duration::from_millis(5));
        assert_eq!(
            first.terminal,
            Some(FaultKind::Status {
                status: 500,
                retry_after: None
            })
        );
        assert_eq!(
            q.take("/x", false).terminal,
            Some(FaultKind::Status {
                status: 502,
                retry_after: None
            })
        );
    }

    #[test]
    fn token_errors_only_hit_the_token_endpoint_and_unauthorized_only_the_api() {
        let mut q = FaultQueue::default();
        q.push(Fault {
            kind: FaultKind::TokenError { aadsts: 7000215 },
            count: 1,
            path_contains: None,
        });
        q.push(Fault {
            kind: FaultKind::Unauthorized,
            count: 1,
            path_contains: None,
        });
        assert_eq!(
            q.take("/api/machines", false).terminal,
            Some(FaultKind::Unauthorized)
        );
        assert_eq!(
            q.take("/t/oauth2/v2.0/token", true).terminal,
            Some(FaultKind::TokenError { aadsts: 7000215 })
        );
    }

    #[test]
    fn slow_response_delays_the_answer_without_replacing_the_handler() {
        let mut q = FaultQueue::default();
        q.push(Fault {
            kind: FaultKind::SlowResponse { millis: 7 },
            count: 1,
            path_contains: Some("/isolate".into()),
        });
        assert_eq!(q.take("/api/machines/x", false), Applied::default());
        let applied = q.take("/api/machines/x/isolate", false);
        assert_eq!(applied.delay_answer, Duration::from_millis(7));
        assert!(applied.terminal.is_none());
        assert_eq!(q.take("/api/machines/x/isolate", false), Applied::default());
    }

    #[test]
    fn json_form_defaults_count_to_one() {
        let f: Fault = serde_json::from_str(r#"{"kind":"Hang"}"#).expect("json");
        assert_eq!(f.count, 1);
        let f: Fault = serde_json::from_str(
            r#"{"kind":{"Status":{"status":429,"retry_after":"3"}},"count":2}"#,
        )
        .expect("json");
        assert_eq!(
            f.kind,
            FaultKind::Status {
                status: 429,
                retry_after: Some("3".into())
            }
        );
    }
}
