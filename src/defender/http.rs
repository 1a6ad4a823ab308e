//! Sending one logical call to Defender or Graph: rate budget, bearer token, per-attempt timeout,
//! error classification, the one re-token on 401, and retries with backoff.
//!
//! Retry rules: GETs are retried on 429, 408, 5xx, connection errors and timeouts; the hunting
//! POSTs are read-only, so they are retried too, except after a timeout (a query that ran out of
//! time would likely do so again and burn the tenant's CPU quota). Action POSTs (isolate,
//! unisolate, scan, cancel) are never retried: a failure after the request may have been written
//! is reported as `Transport { ambiguous: true }` for the caller to reconcile. Sleeps honour
//! `Retry-After`, and a retry or budget wait is only scheduled when an attempt can still finish
//! before the caller's deadline.

use std::time::{Duration, SystemTime};

use rand::Rng as _;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use secrecy::ExposeSecret as _;
use tracing::Instrument as _;
use url::Url;

use super::auth::{AccessToken, TokenProvider, TokenScope};
use super::budget::{ApiFamily, Permit, RateBudget};
use super::error::{DefenderError, parse_missing_roles, truncate};
use super::models::{ErrorBody, ErrorDetail};
use super::settings::{CallOptions, RetryPolicy};
use super::stats::{Outcome, UpstreamStats};

/// Largest response body accepted (hunting allows 124 MB; a 10,000-machine page is ~20 MB).
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Without a caller deadline, the longest wait for the local rate budget: an hour-long wait (the
/// hourly quota, or a 429 with a long `Retry-After`) is reported as `RateBudgetExhausted` with
/// its `retry_after` instead of stalling the caller. (The service always passes a deadline: the
/// caller's, or its default one.)
const MAX_BUDGET_WAIT_WITHOUT_DEADLINE: Duration = Duration::from_secs(120);

/// The least time an attempt is given: a retry or a budget wait that would leave less than this
/// before the deadline is not scheduled (the caller gets the failure, or a stale answer, now).
pub(crate) const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(500);

/// How a call may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// GETs: every transient failure.
    Idempotent,
    /// Read-only POSTs (hunting): transient failures except timeouts.
    ReadOnly,
    /// Action POSTs: never.
    Never,
}

/// One logical call.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) family: ApiFamily,
    pub(crate) scope: TokenScope,
    pub(crate) body: Option<&'a serde_json::Value>,
    pub(crate) retry: RetryClass,
    pub(crate) timeout: Duration,
}

/// What a successful attempt hands back: the whole body, or (for [`Executor::open`]) the
/// response with its body still unread, so a large result can be decoded as it arrives.
enum Answer {
    Body(Vec<u8>),
    Open(reqwest::Response),
}

/// Why one attempt failed.
enum Failure {
    /// 401: re-token once.
    Unauthorized(DefenderError),
    /// Worth another attempt if the retry class and budget allow.
    Transient {
        error: DefenderError,
        retry_after: Option<Duration>,
        timed_out: bool,
    },
    /// Final.
    Fatal(DefenderError),
}

/// The shared machinery of every call of one client.
pub(crate) struct Executor {
    pub(crate) http: reqwest::Client,
    pub(crate) tokens: TokenProvider,
    pub(crate) budget: std::sync::Arc<RateBudget>,
    pub(crate) stats: UpstreamStats,
    pub(crate) tenant: String,
    pub(crate) retry: RetryPolicy,
}

impl Executor {
    /// Runs `call` to a 2xx body or a classified error.
    pub(crate) async fn execute(
        &self,
        call: &Call<'_>,
        opts: &CallOptions,
    ) -> Result<Vec<u8>, DefenderError> {
        match self.traced(call, opts, false).await? {
            Answer::Body(body) => Ok(body),
            Answer::Open(_) => Err(DefenderError::Config("internal: unread body".into())),
        }
    }

    /// Like [`Executor::execute`] (budget, token, retries until an answer), but a 2xx response
    /// is returned with its body unread: the caller streams it. Errors are read and classified
    /// as usual. Only the wait for the response head is under the call's timeout; the caller
    /// bounds the body read.
    pub(crate) async fn open(
        &self,
        call: &Call<'_>,
        opts: &CallOptions,
    ) -> Result<reqwest::Response, DefenderError> {
        match self.traced(call, opts, true).await? {
            Answer::Open(response) => Ok(response),
            Answer::Body(_) => Err(DefenderError::Config("internal: body already read".into())),
        }
    }

    async fn traced(
        &self,
        call: &Call<'_>,
        opts: &CallOptions,
        open: bool,
    ) -> Result<Answer, DefenderError> {
        let span = tracing::debug_span!(
            "defender_request",
            method = %call.method,
            family = %call.family,
            path = call.url.path(),
            streamed = open,
        );
        self.execute_inner(call, opts, open).instrument(span).await
    }

    async fn execute_inner(
        &self,
        call: &Call<'_>,
        opts: &CallOptions,
        open: bool,
    ) -> Result<Answer, DefenderError> {
        let mut retries = 0u32;
        let mut retokened = false;
        loop {
            if opts.remaining().is_some_and(|left| left.is_zero()) {
                return Err(DefenderError::DeadlineExceeded);
            }
            let failure = match self.tokens.token(call.scope, opts).await {
                Ok(token) => {
                    // The budget is taken after the token, right before the send: the time a
                    // token fetch takes must not sit between our count and Defender's.
                    let mut permit = self.permit(call, opts).await?;
                    match self
                        .attempt(call, &token, opts, retries, open, &mut permit)
                        .instrument(attempt_span(call.family.as_str(), &call.method, retries))
                        .await
                    {
                        Ok(answer) => return Ok(answer),
                        Err(Failure::Unauthorized(_)) if !retokened => {
                            tracing::debug!("401 from upstream; fetching a fresh token");
                            self.tokens.invalidate(call.scope, &token).await;
                            retokened = true;
                            continue;
                        }
                        Err(Failure::Unauthorized(err)) => Failure::Fatal(err),
                        Err(other) => other,
                    }
                }
                // Token endpoint trouble (throttling, 5xx, connection) is transient; bad
                // credentials are not.
                Err(
                    err @ (DefenderError::Upstream { .. }
                    | DefenderError::Transport { .. }
                    | DefenderError::Throttled { .. }),
                ) => Failure::Transient {
                    retry_after: err.retry_after(),
                    error: err,
                    timed_out: false,
                },
                Err(err) => Failure::Fatal(err),
            };
            let (error, retry_after) = match failure {
                Failure::Fatal(err) | Failure::Unauthorized(err) => return Err(err),
                Failure::Transient {
                    error,
                    retry_after,
                    timed_out,
                } => {
                    let allowed = match call.retry {
                        RetryClass::Idempotent => true,
                        RetryClass::ReadOnly => !timed_out,
                        RetryClass::Never => false,
                    };
                    if !allowed || retries >= self.retry.max_retries {
                        return Err(error);
                    }
                    (error, retry_after)
                }
            };
            let delay = self.backoff(retries, retry_after);
            if delay > self.retry.max_delay {
                tracing::debug!(
                    delay_ms = delay.as_millis() as u64,
                    "Retry-After exceeds the longest retry wait"
                );
                return Err(error);
            }
            // Never schedule an attempt that cannot finish before the deadline: the caller
            // would be gone, and the time is better left for a fallback (a stale answer).
            if opts
                .remaining()
                .is_some_and(|left| delay + MIN_ATTEMPT_TIME > left)
            {
                tracing::debug!(
                    delay_ms = delay.as_millis() as u64,
                    "a retry could not finish before the deadline"
                );
                return Err(error);
            }
            tracing::debug!(attempt = retries + 1, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            self.stats.record_retry(call.family);
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    /// A rate budget permit for one attempt. A wait is accepted only if an attempt can still
    /// finish after it (before the deadline, or within [`MAX_BUDGET_WAIT_WITHOUT_DEADLINE`]).
    async fn permit(&self, call: &Call<'_>, opts: &CallOptions) -> Result<Permit, DefenderError> {
        let now = tokio::time::Instant::now();
        let latest_start = match opts.deadline {
            Some(deadline) => deadline
                .checked_sub(MIN_ATTEMPT_TIME)
                .unwrap_or(now)
                .max(now),
            None => now + MAX_BUDGET_WAIT_WITHOUT_DEADLINE,
        };
        match self
            .budget
            .acquire(&self.tenant, call.family, Some(latest_start))
            .await
        {
            Ok(permit) => {
                let waited = now.elapsed();
                if !waited.is_zero() {
                    self.stats.record_budget_wait(call.family, waited);
                }
                Ok(permit)
            }
            Err(err) => {
                self.stats.record_budget_refusal(call.family);
                Err(err)
            }
        }
    }

    /// Exponential backoff with full jitter, but never less than `Retry-After`.
    fn backoff(&self, retries: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .retry
            .base_delay
            .saturating_mul(2u32.saturating_pow(retries))
            .min(self.retry.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(rand::rng().random_range(0..=ceiling_ms));
        jittered.max(retry_after.unwrap_or_default())
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        token: &AccessToken,
        opts: &CallOptions,
        retries: u32,
        open: bool,
        permit: &mut Permit,
    ) -> Result<Answer, Failure> {
        let (timeout, limited_by_deadline) = match opts.remaining() {
            Some(left) if left < call.timeout => (left, true),
            _ => (call.timeout, false),
        };
        let is_action = call.retry == RetryClass::Never;
        let started = std::time::Instant::now();
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.bearer.expose_secret())
            .header(ACCEPT, "application/json");
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let exchange = async {
            let mut response = request
                .send()
                .await
                .map_err(|e| transport_error(&e, is_action))?;
            // Defender has the request now: its window counts from no later than this.
            permit.answered();
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(response.headers());
            if open && (200..300).contains(&status) {
                return Ok::<_, DefenderError>((status, retry_after, Answer::Open(response)));
            }
            let body = read_body_capped(&mut response)
                .await
                .map_err(|e| transport_error(&e, is_action))?;
            Ok((status, retry_after, Answer::Body(body)))
        };
        let (status, retry_after, answer) = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                self.stats
                    .record(call.family, Outcome::Transport, started.elapsed());
                tracing::debug!(attempt = retries, "attempt timed out");
                if limited_by_deadline && !is_action {
                    return Err(Failure::Fatal(DefenderError::DeadlineExceeded));
                }
                return Err(Failure::Transient {
                    error: DefenderError::Transport {
                        message: format!("no answer within {} ms", timeout.as_millis()),
                        timeout: true,
                        ambiguous: is_action,
                    },
                    retry_after: None,
                    timed_out: true,
                });
            }
            Ok(Err(error)) => {
                self.stats
                    .record(call.family, Outcome::Transport, started.elapsed());
                tracing::debug!(attempt = retries, error = %error, "attempt failed");
                let timed_out = matches!(error, DefenderError::Transport { timeout: true, .. });
                return Err(Failure::Transient {
                    error,
                    retry_after: None,
                    timed_out,
                });
            }
            Ok(Ok(answer)) => answer,
        };
        self.stats
            .record(call.family, Outcome::Status(status), started.elapsed());
        tracing::Span::current().record("http.response.status_code", status);
        let body = match answer {
            Answer::Body(body) if !(200..300).contains(&status) => body,
            answer => {
                tracing::debug!(status, attempt = retries, "upstream answered");
                return Ok(answer);
            }
        };
        let error = classify(status, &body, retry_after);
        tracing::debug!(status, attempt = retries, correlation_id = error.target().unwrap_or(""), error = %error, "upstream error");
        if status == 429 {
            // Defender's count is authoritative: every caller of this family holds back, not
            // just this one, until its Retry-After (or a default pause when it gave none).
            let wait = retry_after.unwrap_or_else(|| self.budget.default_pause());
            self.budget.block_for(&self.tenant, call.family, wait);
        }
        match status {
            401 => Err(Failure::Unauthorized(error)),
            408 | 429 | 500..=599 => Err(Failure::Transient {
                error,
                retry_after,
                timed_out: false,
            }),
            _ => Err(Failure::Fatal(error)),
        }
    }
}

/// The span of one HTTP attempt (exported as a trace span when OpenTelemetry is on,
/// `crate::telemetry::otel`): the API family, the HTTP method, the attempt (1 for the first) and,
/// once answered, the HTTP status. Never the URL's query, a header or a body.
pub(crate) fn attempt_span(api: &str, method: &Method, retries: u32) -> tracing::Span {
    tracing::debug_span!(
        "defender_call",
        api,
        http.request.method = method.as_str(),
        attempt = retries + 1,
        http.response.status_code = tracing::field::Empty,
    )
}

/// Turns a non-2xx answer into the matching error, keeping Defender's code and `target`.
pub(crate) fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> DefenderError {
    let detail: ErrorDetail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error)
        .unwrap_or_default();
    let message = detail
        .message
        .map(|m| truncate(&m))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            let text = truncate(&String::from_utf8_lossy(body));
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                text
            }
        });
    // Graph puts its correlation id in `innerError.request-id`.
    let target = detail.target.or_else(|| {
        detail
            .inner_error
            .as_ref()
            .and_then(|inner| inner.get("request-id"))
            .and_then(|id| id.as_str())
            .map(str::to_owned)
    });
    let code = detail.code;
    let code_or = |fallback: &str| code.clone().unwrap_or_else(|| fallback.to_owned());
    match status {
        400 if code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("ActiveRequestAlreadyExists"))
            || message.to_ascii_lowercase().contains("already in progress") =>
        {
            DefenderError::ActiveRequestAlreadyExists { message, target }
        }
        400 => DefenderError::BadRequest {
            code: code_or("BadRequest"),
            message,
            target,
        },
        401 => DefenderError::Unauthorized { message, target },
        403 => match parse_missing_roles(&message) {
            Some((required, granted)) => DefenderError::MissingPermission {
                required,
                granted,
                message,
                target,
            },
            None => DefenderError::Forbidden {
                code: code_or("Forbidden"),
                message,
                target,
            },
        },
        404 => DefenderError::NotFound {
            code: code_or("NotFound"),
            message,
            target,
        },
        429 => {
            let lower = message.to_ascii_lowercase();
            DefenderError::Throttled {
                retry_after,
                cpu_quota: lower.contains("cpu") || lower.contains("resource"),
                message,
                target,
            }
        }
        _ => DefenderError::Upstream {
            status,
            code,
            message,
            target,
        },
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Most bytes reserved up front for a body from its announced length.
const PREALLOCATE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Reads a body, refusing more than [`MAX_BODY_BYTES`].
pub(crate) async fn read_body_capped(
    response: &mut reqwest::Response,
) -> Result<Vec<u8>, BodyError> {
    // Sized from Content-Length when given: growing by doubling would hold up to three times a
    // large page while copying. A huge announced length only reserves up to the cap.
    let announced = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(announced.min(PREALLOCATE_MAX_BYTES));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Http)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    Http(reqwest::Error),
    TooLarge,
}

/// What a failed exchange becomes. `ambiguous_if_sent`: the request is an action POST, so any
/// failure other than a refused connection may have happened after Defender received it.
pub(crate) fn transport_error(
    err: &impl TransportFailure,
    ambiguous_if_sent: bool,
) -> DefenderError {
    DefenderError::Transport {
        message: err.describe(),
        timeout: err.is_timeout(),
        ambiguous: ambiguous_if_sent && !err.is_connect(),
    }
}

/// A failure without an HTTP answer.
pub(crate) trait TransportFailure {
    fn describe(&self) -> String;
    fn is_timeout(&self) -> bool;
    fn is_connect(&self) -> bool;
}

impl TransportFailure for reqwest::Error {
    fn describe(&self) -> String {
        // reqwest's own Display names the URL; build the text from the kind and the sources.
        let kind = if self.is_connect() {
            "connection failed"
        } else if self.is_timeout() {
            "timed out"
        } else if self.is_body() || self.is_decode() {
            "reading the response failed"
        } else {
            "sending the request failed"
        };
        let mut parts = vec![kind.to_owned()];
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            parts.push(cause.to_string());
            source = cause.source();
        }
        truncate(&parts.join(": "))
    }
    fn is_timeout(&self) -> bool {
        reqwest::Error::is_timeout(self)
    }
    fn is_connect(&self) -> bool {
        reqwest::Error::is_connect(self)
    }
}

impl TransportFailure for BodyError {
    fn describe(&self) -> String {
        match self {
            BodyError::Http(err) => err.describe(),
            BodyError::TooLarge => format!("response larger than {MAX_BODY_BYTES} bytes"),
        }
    }
    fn is_timeout(&self) -> bool {
        matches!(self, BodyError::Http(err) if err.is_timeout())
    }
    fn is_connect(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
