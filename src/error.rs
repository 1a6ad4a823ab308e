//! The service's one error vocabulary, [`ServiceError`], and its single mapping to
//! `tonic::Status` with `google.rpc` details. Every reason, its
//! metadata and what a caller should do: docs/errors.md.
//!
//! Transport-shaped failures from the Defender client ([`DefenderError`]) are classified here,
//! once, so every RPC reports the same situation with the same code and `reason`.

use std::collections::HashMap;
use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::defender::DefenderError;

/// The `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "defenderbridge";

/// Stable `ErrorInfo.reason` values (listed in the proto package comment too).
pub mod reason {
    /// Bad input; no upstream call was made.
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    /// Machine, action or software not found.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The Defender app lacks an application permission.
    pub const MISSING_APP_PERMISSION: &str = "MISSING_APP_PERMISSION";
    /// The caller's verified identity lacks the role the RPC needs (metadata `required_role`).
    pub const CALLER_NOT_AUTHORIZED: &str = "CALLER_NOT_AUTHORIZED";
    /// No caller credentials, or credentials that do not verify (callers are configured).
    pub const CALLER_NOT_AUTHENTICATED: &str = "CALLER_NOT_AUTHENTICATED";
    /// The caller's own rate or concurrency limit is spent (not Defender's: see `RATE_LIMITED`).
    pub const CALLER_RATE_LIMITED: &str = "CALLER_RATE_LIMITED";
    /// The same action is already pending on the machine.
    pub const ACTION_ALREADY_PENDING: &str = "ACTION_ALREADY_PENDING";
    /// Defender throttled us, or the local rate budget is spent before the deadline.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// Defender failed (5xx, timeout, connection).
    pub const UPSTREAM_UNAVAILABLE: &str = "UPSTREAM_UNAVAILABLE";
    /// The token request was rejected.
    pub const AUTHENTICATION_FAILED: &str = "AUTHENTICATION_FAILED";
    /// The integration is disabled in config.
    pub const INTEGRATION_DISABLED: &str = "INTEGRATION_DISABLED";
    /// The caller's deadline passed.
    pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
    /// Something unexpected inside the service or in Defender's answer.
    pub const INTERNAL: &str = "INTERNAL";
    /// The audit log could not be written, so the action was refused (or, if it was already
    /// taken, its success is not reported silently).
    pub const AUDIT_LOG_UNAVAILABLE: &str = "AUDIT_LOG_UNAVAILABLE";
    /// The server is shutting down and ended the stream; metadata `resumable` says whether
    /// calling again continues where it stopped (`true`) or starts over (`false`).
    pub const SERVER_SHUTTING_DOWN: &str = "SERVER_SHUTTING_DOWN";
}

/// Longest piece of caller input repeated in an error message ([`echo`]).
pub const MAX_ECHO_CHARS: usize = 128;
/// Longest field description of an [`ServiceError::InvalidField`]: a safety net, so no echo
/// of caller input that escaped [`echo`] can make an error as large as the request.
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// `input` as it may appear in an error message: at most [`MAX_ECHO_CHARS`] characters, cut
/// with `...` (a 4 MB field must not come back three times in the status).
pub fn echo(input: &str) -> String {
    truncate_chars(input, MAX_ECHO_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
    }
}

/// What is known about an action request whose answer from Defender was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionTaken {
    /// Defender's action list was read and holds no such action: Defender did not act.
    No,
    /// Defender's action list could not be read: it may have acted.
    Unknown,
    /// The request may still reach Defender late: its action list does not show it yet, and the
    /// service keeps looking for `settles_in` more (the settle window). Until then a retry with
    /// the same `request_id` waits for the outcome and never sends the request again.
    Settling {
        /// Time left in the settle window when the error was made.
        settles_in: Duration,
    },
}

impl ActionTaken {
    /// The `action_taken` metadata value: `false`, or `unknown` (also while settling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "false",
            Self::Unknown | Self::Settling { .. } => "unknown",
        }
    }
}

/// Everything that can go wrong in an RPC, in the service's own words. `Clone` so that one
/// upstream failure can answer every caller waiting on the same cache load.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// A request field is invalid.
    #[error("invalid `{field}`: {description}")]
    InvalidField {
        /// The request field (proto name, dotted path for nested fields).
        field: String,
        /// What is wrong and what is accepted.
        description: String,
    },
    /// A Defender resource does not exist.
    #[error("{resource_type} `{name}` was not found in Defender")]
    NotFound {
        /// `machine`, `machine_action`, `software`, `alert`.
        resource_type: &'static str,
        /// The id or name looked up.
        name: String,
    },
    /// The Defender application lacks a permission.
    #[error(
        "the Defender application lacks the permission {}: add it under API permissions ({}) and grant admin consent",
        permissions.join(" or "),
        permission_api(permissions)
    )]
    MissingAppPermission {
        /// Permissions any one of which would allow the call.
        permissions: Vec<String>,
    },
    /// The caller's verified identity lacks the role this RPC needs.
    #[error(
        "caller `{identity}` is not authorized for {method}: it needs the role `{required_role}`; ask the service's operator to grant it in the callers file"
    )]
    CallerNotAuthorized {
        /// The verified identity (`key:NAME`, `cert:IDENTITY`, `jwt:SUB`).
        identity: String,
        /// The gRPC method.
        method: String,
        /// The role the method needs (`authenticated` for reflection).
        required_role: String,
    },
    /// No caller credentials, or credentials that do not verify. The message says which kind
    /// of failure it was, never the credential.
    #[error("caller is not authenticated: {0}")]
    CallerNotAuthenticated(String),
    /// The caller's own rate or concurrency limit is spent.
    #[error(
        "caller `{identity}` has spent its {limit} ({detail}); retry after {}s",
        retry_after.as_secs_f64().ceil()
    )]
    CallerRateLimited {
        /// The verified identity.
        identity: String,
        /// `rate_per_minute`, `max_concurrent`, `heavy_rate_per_minute` or
        /// `heavy_max_concurrent`.
        limit: &'static str,
        /// The limit's value and what it applies to.
        detail: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// The same action is already pending on the machine.
    #[error("a {action} action is already pending on machine `{machine_id}`{}", pending_action_id.as_ref().map(|id| format!(" (action {id})")).unwrap_or_default())]
    ActionAlreadyPending {
        /// The machine.
        machine_id: String,
        /// The action type.
        action: String,
        /// The pending action's id, when it could be found.
        pending_action_id: Option<String>,
    },
    /// Throttled upstream or by the local budget.
    #[error("Defender rate limit reached for {quota}: retry after {}s", retry_after.as_secs_f64().ceil())]
    RateLimited {
        /// Which quota (API family, or `cpu` for hunting CPU time).
        quota: String,
        /// When to retry.
        retry_after: Duration,
        /// Whether the limit was hunting CPU time rather than call count.
        cpu_quota: bool,
    },
    /// Defender is failing.
    #[error("Defender is unavailable: {message}; retry later")]
    UpstreamUnavailable {
        /// What failed (no secrets).
        message: String,
        /// Suggested wait before retrying.
        retry_after: Option<Duration>,
    },
    /// Token request rejected.
    #[error("authentication with Entra failed{}: {message}", aadsts_code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    AuthenticationFailed {
        /// The AADSTS code, e.g. `AADSTS7000215`.
        aadsts_code: Option<String>,
        /// Entra's description and what to do.
        message: String,
    },
    /// The integration is disabled.
    #[error(
        "the Microsoft Defender integration is disabled: enable it (`enabled = true` or DEFENDER_BRIDGE_ENABLED=true) and restart"
    )]
    IntegrationDisabled,
    /// An action request failed after it may have reached Defender (timeout, lost connection,
    /// 5xx), and the service looked for the action in Defender's list instead of retrying.
    #[error("{}", action_not_confirmed_message(machine_id, action, *taken, detail))]
    ActionNotConfirmed {
        /// The machine.
        machine_id: String,
        /// The action type (Defender's name, e.g. `Isolate`).
        action: String,
        /// Whether Defender acted, as far as could be found out.
        taken: ActionTaken,
        /// What failed (no secrets).
        detail: String,
    },
    /// The audit log could not be written.
    #[error("{}", audit_message(detail, action_id.as_deref()))]
    AuditLogUnavailable {
        /// What failed.
        detail: String,
        /// The Defender action that was taken before the outcome record failed, if any.
        action_id: Option<String>,
    },
    /// The caller's deadline passed before Defender answered.
    #[error("the deadline passed before Defender answered; retry with a longer deadline")]
    DeadlineExceeded,
    /// The server is shutting down and ended a stream before its end.
    #[error("{}", shutting_down_message(*resumable))]
    ShuttingDown {
        /// Calling the RPC again continues where the stream stopped (nothing is lost).
        resumable: bool,
    },
    /// Unexpected internal or upstream failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// A server-wide limit on open streams of one RPC is reached (`max_fleet_streams`).
    #[error(
        "the server already serves {limit} {rpc} streams, its limit ({setting}); retry in a few seconds, or raise the limit"
    )]
    StreamLimitReached {
        /// The RPC.
        rpc: &'static str,
        /// The configured limit.
        limit: usize,
        /// The setting that holds it.
        setting: &'static str,
    },
}

impl ServiceError {
    /// Shorthand for [`ServiceError::InvalidField`].
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidField {
            field: truncate_chars(&field.into(), MAX_ECHO_CHARS),
            description: truncate_chars(&description.into(), MAX_DESCRIPTION_CHARS),
        }
    }

    /// A Defender failure while reading `resource_type` `name`: a 404 becomes
    /// [`ServiceError::NotFound`] naming that resource (Defender's own message names whatever it
    /// looked up); everything else maps as usual.
    pub fn from_defender(err: DefenderError, resource_type: &'static str, name: &str) -> Self {
        match err {
            DefenderError::NotFound { .. } => Self::NotFound {
                resource_type,
                name: echo(name),
            },
            other => other.into(),
        }
    }

    /// True for the failures that a stale cached answer may stand in for: Defender unavailable,
    /// throttled, or too slow for the caller's deadline (UNAVAILABLE, RESOURCE_EXHAUSTED,
    /// DEADLINE_EXCEEDED). The read path keeps part of the deadline for this fallback.
    pub fn allows_stale(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnavailable { .. } | Self::RateLimited { .. } | Self::DeadlineExceeded
        )
    }

    /// The `ErrorInfo.metadata` of this error (also used for per-item batch errors).
    pub fn metadata(&self) -> HashMap<String, String> {
        self.details()
            .error_info()
            .map(|info| info.metadata.clone())
            .unwrap_or_default()
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidField { .. } => Code::InvalidArgument,
            Self::NotFound { .. } => Code::NotFound,
            Self::MissingAppPermission { .. } | Self::CallerNotAuthorized { .. } => {
                Code::PermissionDenied
            }
            Self::CallerNotAuthenticated(_) => Code::Unauthenticated,
            Self::CallerRateLimited { .. } => Code::ResourceExhausted,
            Self::ActionAlreadyPending { .. } => Code::AlreadyExists,
            Self::RateLimited { .. } => Code::ResourceExhausted,
            Self::UpstreamUnavailable { .. } => Code::Unavailable,
            Self::AuthenticationFailed { .. } | Self::IntegrationDisabled => {
                Code::FailedPrecondition
            }
            Self::ActionNotConfirmed { .. } => Code::Unavailable,
            Self::AuditLogUnavailable {
                action_id: None, ..
            } => Code::Unavailable,
            Self::AuditLogUnavailable { .. } => Code::Internal,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::ShuttingDown { .. } => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
            Self::StreamLimitReached { .. } => Code::ResourceExhausted,
        }
    }

    /// The stable `ErrorInfo.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => reason::INVALID_FIELD,
            Self::NotFound { .. } => reason::NOT_FOUND,
            Self::MissingAppPermission { .. } => reason::MISSING_APP_PERMISSION,
            Self::CallerNotAuthorized { .. } => reason::CALLER_NOT_AUTHORIZED,
            Self::CallerNotAuthenticated(_) => reason::CALLER_NOT_AUTHENTICATED,
            Self::CallerRateLimited { .. } => reason::CALLER_RATE_LIMITED,
            Self::ActionAlreadyPending { .. } => reason::ACTION_ALREADY_PENDING,
            Self::RateLimited { .. } => reason::RATE_LIMITED,
            Self::UpstreamUnavailable { .. } => reason::UPSTREAM_UNAVAILABLE,
            Self::AuthenticationFailed { .. } => reason::AUTHENTICATION_FAILED,
            Self::IntegrationDisabled => reason::INTEGRATION_DISABLED,
            Self::ActionNotConfirmed { .. } => reason::UPSTREAM_UNAVAILABLE,
            Self::AuditLogUnavailable { .. } => reason::AUDIT_LOG_UNAVAILABLE,
            Self::DeadlineExceeded => reason::DEADLINE_EXCEEDED,
            Self::ShuttingDown { .. } => reason::SERVER_SHUTTING_DOWN,
            Self::Internal(_) => reason::INTERNAL,
            // A local budget, like Defender's: RESOURCE_EXHAUSTED with RetryInfo; the `quota`
            // metadata tells the two apart.
            Self::StreamLimitReached { .. } => reason::RATE_LIMITED,
        }
    }

    /// The `ErrorInfo.metadata` and the other details for this error.
    fn details(&self) -> ErrorDetails {
        let mut metadata = HashMap::new();
        let mut details = ErrorDetails::new();
        match self {
            Self::InvalidField { field, description } => {
                metadata.insert("field".into(), field.clone());
                details.add_bad_request_violation(field.clone(), description.clone());
            }
            Self::NotFound {
                resource_type,
                name,
            } => {
                metadata.insert("resource_type".into(), (*resource_type).into());
                metadata.insert("resource_name".into(), name.clone());
                details.set_resource_info(
                    *resource_type,
                    name.clone(),
                    "Microsoft Defender for Endpoint",
                    self.to_string(),
                );
            }
            Self::MissingAppPermission { permissions } => {
                metadata.insert(
                    "permission".into(),
                    permissions.first().cloned().unwrap_or_default(),
                );
                metadata.insert("permissions".into(), permissions.join(","));
            }
            Self::ActionAlreadyPending {
                machine_id,
                action,
                pending_action_id,
            } => {
                metadata.insert("machine_id".into(), machine_id.clone());
                metadata.insert("action_type".into(), action.clone());
                if let Some(id) = pending_action_id {
                    metadata.insert("action_id".into(), id.clone());
                }
            }
            Self::RateLimited {
                quota,
                retry_after,
                cpu_quota,
            } => {
                metadata.insert("quota".into(), quota.clone());
                metadata.insert("cpu_quota".into(), cpu_quota.to_string());
                details.set_retry_info(Some(*retry_after));
                let subject = if *cpu_quota {
                    "defender:advanced-hunting-cpu".to_string()
                } else {
                    format!("defender:{quota}")
                };
                details.add_quota_failure_violation(subject, self.to_string());
            }
            Self::UpstreamUnavailable { retry_after, .. } => {
                details.set_retry_info(Some(retry_after.unwrap_or(Duration::from_secs(1))));
            }
            Self::AuthenticationFailed { aadsts_code, .. } => {
                if let Some(code) = aadsts_code {
                    metadata.insert("aadsts_code".into(), code.clone());
                }
            }
            Self::ActionNotConfirmed {
                machine_id,
                action,
                taken,
                ..
            } => {
                metadata.insert("machine_id".into(), machine_id.clone());
                metadata.insert("action_type".into(), action.clone());
                metadata.insert("action_taken".into(), taken.as_str().into());
                if let ActionTaken::Settling { settles_in } = taken {
                    metadata.insert(
                        "settles_in_seconds".into(),
                        settles_in.as_secs().max(1).to_string(),
                    );
                }
                details.set_retry_info(Some(match taken {
                    ActionTaken::No => Duration::from_secs(1),
                    ActionTaken::Unknown | ActionTaken::Settling { .. } => Duration::from_secs(5),
                }));
            }
            Self::AuditLogUnavailable { action_id, .. } => {
                if let Some(id) = action_id {
                    metadata.insert("action_id".into(), id.clone());
                }
            }
            Self::StreamLimitReached {
                rpc,
                limit,
                setting,
            } => {
                metadata.insert("quota".into(), format!("server:{rpc}"));
                metadata.insert("limit".into(), limit.to_string());
                metadata.insert("setting".into(), (*setting).into());
                details.set_retry_info(Some(Duration::from_secs(5)));
                details.add_quota_failure_violation(format!("server:{rpc}"), self.to_string());
            }
            Self::ShuttingDown { resumable } => {
                metadata.insert("resumable".into(), resumable.to_string());
                details.set_retry_info(Some(Duration::from_secs(1)));
            }
            Self::CallerNotAuthorized {
                identity,
                required_role,
                ..
            } => {
                metadata.insert("required_role".into(), required_role.clone());
                metadata.insert("caller".into(), identity.clone());
            }
            Self::CallerRateLimited {
                identity,
                limit,
                retry_after,
                ..
            } => {
                metadata.insert("quota".into(), format!("caller:{limit}"));
                metadata.insert("caller".into(), identity.clone());
                details.set_retry_info(Some(*retry_after));
                details.add_quota_failure_violation(format!("caller:{identity}"), self.to_string());
            }
            Self::CallerNotAuthenticated(_)
            | Self::IntegrationDisabled
            | Self::DeadlineExceeded
            | Self::Internal(_) => {}
        }
        details.set_error_info(self.reason(), ERROR_DOMAIN, metadata);
        details
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(err: ServiceError) -> Self {
        let details = err.details();
        tonic::Status::with_error_details(err.code(), err.to_string(), details)
    }
}

/// The API under which an application permission is listed in the app registration: Graph's
/// hunting permission lives under Microsoft Graph, the others under WindowsDefenderATP.
fn permission_api(permissions: &[String]) -> &'static str {
    if permissions.iter().any(|p| p.starts_with("ThreatHunting.")) {
        "Microsoft Graph"
    } else {
        "WindowsDefenderATP"
    }
}

fn action_not_confirmed_message(
    machine_id: &str,
    action: &str,
    taken: ActionTaken,
    detail: &str,
) -> String {
    match taken {
        ActionTaken::No => format!(
            "Defender did not answer the {action} request for machine `{machine_id}` ({detail}) and \
             its action list holds no such request: Defender did not act. It is safe to retry"
        ),
        ActionTaken::Unknown => format!(
            "Defender did not answer the {action} request for machine `{machine_id}` ({detail}) and \
             its action list could not be read, so it may have acted. Check ListMachineActions for \
             the machine, or retry with the same request_id: the service then looks for the \
             action before acting again"
        ),
        ActionTaken::Settling { settles_in } => format!(
            "Defender did not answer the {action} request for machine `{machine_id}` ({detail}) and \
             its action list does not show it yet, so Defender may have acted or may still act \
             when the request arrives late. The service keeps looking for it for {}s more. \
             Retry with the same request_id: the retry waits for the outcome and never sends \
             the request again",
            settles_in.as_secs().max(1)
        ),
    }
}

fn shutting_down_message(resumable: bool) -> String {
    if resumable {
        "the server is shutting down: call again (another replica answers) to continue where \
         this stream stopped"
            .to_owned()
    } else {
        "the server is shutting down and ended the stream before its end, so what was received \
         is incomplete: call again (another replica answers) to start over"
            .to_owned()
    }
}

fn audit_message(detail: &str, action_id: Option<&str>) -> String {
    match action_id {
        None => format!(
            "the audit log cannot be written ({detail}), so no action was requested from \
             Defender; fix the audit log (DEFENDER_BRIDGE_AUDIT_LOG) and retry"
        ),
        Some(id) => format!(
            "Defender took the action (machine action {id}) but its audit record could not be \
             written ({detail}); do not retry: follow the action with GetMachineAction and fix \
             the audit log (DEFENDER_BRIDGE_AUDIT_LOG)"
        ),
    }
}

/// A plain-language fix for well-known AADSTS codes (used by errors and `check`).
pub fn aadsts_fix(code: Option<&str>) -> &'static str {
    match code.unwrap_or("") {
        "AADSTS7000215" => {
            "the client secret is wrong: copy the secret's Value (not its ID) from the app's Certificates & secrets page"
        }
        "AADSTS7000222" => "the client secret has expired: create a new secret for the app",
        "AADSTS700016" => {
            "no application with this client id exists in the tenant: check DEFENDER_CLIENT_ID and DEFENDER_TENANT_ID"
        }
        "AADSTS90002" | "AADSTS900023" => {
            "the tenant was not found: check DEFENDER_TENANT_ID (the Directory (tenant) ID of the app) and DEFENDER_CLOUD"
        }
        "AADSTS70011" => "the requested scope is invalid for this cloud: check DEFENDER_CLOUD",
        "AADSTS50034" | "AADSTS500011" => {
            "the Defender resource is not available in this tenant: check that Defender for Endpoint is provisioned"
        }
        _ => "check DEFENDER_TENANT_ID, DEFENDER_CLIENT_ID and the client secret",
    }
}

impl From<DefenderError> for ServiceError {
    fn from(err: DefenderError) -> Self {
        match err {
            DefenderError::Authentication {
                aadsts_code,
                description,
                ..
            } => {
                let fix = aadsts_fix(aadsts_code.as_deref());
                // Entra's description can be long (trace ids); keep its first sentence.
                let first = description
                    .split(". ")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                Self::AuthenticationFailed {
                    aadsts_code,
                    message: format!("{first}; {fix}"),
                }
            }
            DefenderError::MissingPermission { required, .. } => Self::MissingAppPermission {
                permissions: required,
            },
            DefenderError::Forbidden { message, .. } => Self::MissingAppPermission {
                permissions: vec![format!("(unknown: Defender said `{message}`)")],
            },
            DefenderError::Unauthorized { message, .. } => Self::AuthenticationFailed {
                aadsts_code: None,
                message: format!(
                    "Defender rejected a fresh token ({message}); check the app's API permissions and admin consent"
                ),
            },
            DefenderError::NotFound { message, .. } => Self::NotFound {
                resource_type: "resource",
                name: message,
            },
            DefenderError::ActiveRequestAlreadyExists { .. } => Self::ActionAlreadyPending {
                machine_id: String::new(),
                action: "machine".into(),
                pending_action_id: None,
            },
            DefenderError::BadRequest { code, message, .. } => Self::InvalidField {
                field: "request".into(),
                description: format!("Defender rejected the request ({code}): {message}"),
            },
            DefenderError::Throttled {
                retry_after,
                cpu_quota,
                ..
            } => Self::RateLimited {
                quota: if cpu_quota {
                    "cpu".into()
                } else {
                    "upstream".into()
                },
                retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
                cpu_quota,
            },
            DefenderError::RateBudgetExhausted {
                family,
                retry_after,
            } => Self::RateLimited {
                quota: family.to_string(),
                retry_after,
                cpu_quota: false,
            },
            DefenderError::Upstream {
                status, message, ..
            } => Self::UpstreamUnavailable {
                message: format!("HTTP {status}: {message}"),
                retry_after: None,
            },
            DefenderError::Transport { message, .. } => Self::UpstreamUnavailable {
                message,
                retry_after: None,
            },
            DefenderError::DeadlineExceeded => Self::DeadlineExceeded,
            // A 2xx answer that does not parse (cut short by a proxy, malformed) is Defender's
            // failure, not ours: UNAVAILABLE, and a stale answer may stand in for it.
            DefenderError::Decode { what, message } => Self::UpstreamUnavailable {
                message: format!(
                    "Defender's answer ({what}) was malformed or cut short: {message}"
                ),
                retry_after: None,
            },
            DefenderError::DisallowedNextLink { host } => Self::UpstreamUnavailable {
                message: format!(
                    "Defender returned a next-page link to `{host}`, which is not a Defender API host; refused"
                ),
                retry_after: None,
            },
            DefenderError::Config(message) => Self::Internal(message),
        }
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
