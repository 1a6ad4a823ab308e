//! The tonic service implementations. Each handler is thin: validate, convert proto to domain
//! types, call plain Rust code, convert back; failures become [`ServiceError`] and are turned
//! into `tonic::Status` exactly once, by `From<ServiceError>`.
//!
//! Which file holds what:
//! - `risk/`: `RiskService`.
//!   - `mod.rs`: [`RiskHandlers`], the generated trait's implementation (one handler per RPC).
//!   - `requests.rs`: its requests, proto → validated domain types (bad input costs no
//!     upstream call).
//!   - `responses.rs`: its answers, domain → proto (entities, risk, the encoded risk frame).
//!   - `software_and_hunting.rs`: the `GetSoftware`, `ListSoftwareMachines` and
//!     `RunHuntingQuery` handlers, whose domain code is [`crate::software`] and
//!     [`crate::hunting`].
//!   - `connection.rs`: `CheckConnection`'s answer, domain → proto.
//!   - `fast_path.rs`: [`FastPathRiskServer`], the generated server with `GetEndpointRisk` cache
//!     hits answered from pre-encoded bytes; `grpc_raw.rs`: the unary gRPC exchange it uses.
//! - `action/`: `ActionService`.
//!   - `mod.rs`: [`ActionHandlers`], the generated trait's implementation.
//!   - `messages.rs`: its requests and answers, proto ↔ [`crate::actions`] types.
//! - `shutdown.rs`: server streams that end with a status when the server shuts down.
//! - this file: what every handler shares: `tenant_client` (the gate: integration enabled,
//!   tenant the configured one), the call's deadline from `grpc-timeout`, [`ResponseStream`].

mod action;
mod risk;
mod shutdown;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tonic::Status;

pub use action::ActionHandlers;
pub use risk::RiskHandlers;
pub use risk::fast_path::FastPathRiskServer;
pub use risk::table_answers::TablePortalEncoder;

use crate::defender::{CallOptions, DefenderClient};
use crate::error::{ServiceError, echo};
use crate::state::AppState;

/// A boxed server stream.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The Defender client of a request's `tenant`: the gate of every handler. The integration must
/// be enabled and the tenant must be the configured one (or empty).
fn tenant_client<'a>(
    state: &'a Arc<AppState>,
    tenant: &str,
) -> Result<&'a DefenderClient, ServiceError> {
    let client = state
        .defender
        .as_ref()
        .ok_or(ServiceError::IntegrationDisabled)?;
    let tenant = tenant.trim();
    if !tenant.is_empty() && !tenant.eq_ignore_ascii_case(&client.settings().tenant_id) {
        return Err(ServiceError::invalid(
            "tenant",
            format!(
                "tenant `{}` is not configured on this service; leave it empty for the configured tenant",
                echo(tenant)
            ),
        ));
    }
    Ok(client)
}

/// A unary call's deadline: the caller's (the `grpc-timeout` header), or the configured default
/// when it sent none, so upstream retries and rate-budget waits never outlive the call and one
/// call's total wait is bounded once, however many API families it needs.
fn call_options<T>(state: &AppState, request: &tonic::Request<T>) -> CallOptions {
    call_options_of(
        request.metadata().as_ref(),
        Some(state.config.default_deadline),
    )
}

/// The caller's deadline only: for streams (which may rightly run for long) and for acting on
/// machines (an action's own timeouts and reconciliation bound it).
fn caller_options<T>(request: &tonic::Request<T>) -> CallOptions {
    call_options_of(request.metadata().as_ref(), None)
}

/// [`call_options`] from the request's HTTP headers. The handler's deadline is a little
/// earlier than the caller's ([`answer_margin`]), so that the service answers (a stale value,
/// or an error with details) before the caller gives up and before tonic cuts the call with a
/// bare status.
fn call_options_of(headers: &http::HeaderMap, default: Option<Duration>) -> CallOptions {
    let timeout = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .or(default);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + (t - answer_margin(t)));
    CallOptions { deadline }
}

/// How much sooner than the caller's deadline a handler aims to answer: a tenth of the timeout,
/// between 100 ms and 1 s (at most half the timeout). The caller's clock started before ours
/// (transit; some clients round the header up), and the answer must travel back.
fn answer_margin(timeout: Duration) -> Duration {
    (timeout / 10)
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
        .min(timeout / 2)
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_parse() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
    }

    #[test]
    fn the_handler_answers_a_margin_before_the_callers_deadline() {
        assert_eq!(
            answer_margin(Duration::from_secs(5)),
            Duration::from_millis(500)
        );
        assert_eq!(
            answer_margin(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(
            answer_margin(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
        assert_eq!(
            answer_margin(Duration::from_millis(100)),
            Duration::from_millis(50)
        );
        let mut headers = http::HeaderMap::new();
        let default = Some(Duration::from_secs(30));
        let before = tokio::time::Instant::now();
        let opts = call_options_of(&headers, default);
        let deadline = opts.deadline.expect("the default applies");
        assert!(deadline >= before + Duration::from_secs(29));
        assert!(call_options_of(&headers, None).deadline.is_none());
        headers.insert("grpc-timeout", http::HeaderValue::from_static("5S"));
        let deadline = call_options_of(&headers, default)
            .deadline
            .expect("deadline");
        assert!(deadline <= tokio::time::Instant::now() + Duration::from_millis(4500));
    }
}
