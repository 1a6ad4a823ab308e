//! The tonic service implementations. Each handler is thin: validate, convert proto to domain
//! types, call plain Rust code, convert back; failures become [`ServiceError`] and are turned
//! into `tonic::Status` exactly once, by `From<ServiceError>`.

mod action;
mod action_convert;
mod convert;
mod grpc_raw;
mod investigation;
mod risk;
mod risk_convert;
mod risk_requests;
mod risk_server;

use std::sync::Arc;
use std::time::Duration;

pub use action::ActionApi;
pub use risk::RiskApi;
pub use risk_server::RiskServer;

use crate::defender::{CallOptions, DefenderClient};
use crate::error::{ServiceError, echo};
use crate::server::AppState;

/// Shared gate of every handler: the integration must be enabled and the tenant must be the
/// configured one.
fn defender<'a>(
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

/// The caller's deadline (the `grpc-timeout` header), so upstream retries and rate-budget waits
/// never outlive the call.
fn call_options<T>(request: &tonic::Request<T>) -> CallOptions {
    call_options_of(request.metadata().as_ref())
}

/// [`call_options`] from the request's HTTP headers.
fn call_options_of(headers: &http::HeaderMap) -> CallOptions {
    let deadline = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|d| tokio::time::Instant::now() + d);
    CallOptions { deadline }
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
}
