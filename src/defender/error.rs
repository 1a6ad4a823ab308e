//! The failures the Defender client reports, one variant per thing a caller reacts to differently.
//!
//! These are transport-shaped (HTTP status, Defender error codes, token errors); the service layer
//! maps them onto gRPC statuses once. Messages never carry tokens or secrets: they are built only
//! from Defender's and Entra's error bodies and from our own text.

use std::time::Duration;

use super::budget::ApiFamily;

/// Longest piece of an upstream error body kept in a message, so a huge HTML error page does not
/// end up in logs and gRPC statuses.
pub(crate) const MAX_MESSAGE_CHARS: usize = 1000;

/// Everything that can go wrong talking to Defender, Microsoft Graph or Entra ID.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DefenderError {
    /// The token endpoint rejected the client credentials (bad secret, unknown tenant or app).
    #[error("token request rejected (HTTP {status}, {error}): {description}")]
    Authentication {
        /// HTTP status of the token endpoint's answer.
        status: u16,
        /// OAuth2 `error` (e.g. `invalid_client`).
        error: String,
        /// The Entra error code, e.g. `AADSTS7000215`, when one was given.
        aadsts_code: Option<String>,
        /// Entra's `error_description` (no secret: Entra never echoes it).
        description: String,
    },
    /// Defender answered 403 because the app lacks an application permission (role).
    #[error("the Defender app lacks an application permission: required one of [{}], granted [{}]", required.join(", "), granted.join(", "))]
    MissingPermission {
        /// Roles the API accepts (any one of them is enough).
        required: Vec<String>,
        /// Roles the token carried, as Defender reported them (may be empty).
        granted: Vec<String>,
        /// Defender's message, verbatim.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// Any other 403.
    #[error("forbidden by Defender ({code}): {message}")]
    Forbidden {
        /// Defender's error code, e.g. `DisabledFeature`.
        code: String,
        /// Defender's message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// 401 even after the token was refreshed once.
    #[error("Defender rejected the access token: {message}")]
    Unauthorized {
        /// Defender's message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// 404: the machine, action, software... does not exist (or is outside retention).
    #[error("not found ({code}): {message}")]
    NotFound {
        /// Defender's error code, e.g. `ResourceNotFound`.
        code: String,
        /// Defender's message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// 400 `ActiveRequestAlreadyExists`: the same action is already pending on the machine.
    #[error("an action of this type is already pending on the machine: {message}")]
    ActiveRequestAlreadyExists {
        /// Defender's message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// Any other 400 (bad filter, bad body, unsupported OS...), or input refused locally
    /// (code `InvalidInput`, no target) before any request was made.
    #[error("bad request ({code}): {message}")]
    BadRequest {
        /// Defender's error code, e.g. `InvalidRequestBody`, or `InvalidInput` when refused locally.
        code: String,
        /// Defender's (or our) message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// 429 and the retries ran out (or `Retry-After` went past the deadline).
    #[error("throttled by Defender{}: {message}", if *cpu_quota { " (CPU quota)" } else { "" })]
    Throttled {
        /// Defender's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The body says a CPU/resource quota (advanced hunting), not the call count, was hit.
        cpu_quota: bool,
        /// Defender's message.
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// The local rate budget could not admit the call before the caller's deadline.
    #[error("local rate budget for {family} is spent; retry in {retry_after:?}")]
    RateBudgetExhausted {
        /// The API family whose budget is spent.
        family: ApiFamily,
        /// When a permit will be free.
        retry_after: Duration,
    },
    /// 5xx after retries, or a status this client does not expect.
    #[error("Defender failed (HTTP {status}): {message}")]
    Upstream {
        /// HTTP status.
        status: u16,
        /// Defender's error code, when the body had one.
        code: Option<String>,
        /// Defender's message (or the start of the body).
        message: String,
        /// Defender's correlation id.
        target: Option<String>,
    },
    /// Connection error or timeout.
    #[error("transport error{}{}: {message}", if *timeout { " (timeout)" } else { "" }, if *ambiguous { " (the request may have reached Defender)" } else { "" })]
    Transport {
        /// What failed, without URLs or headers.
        message: String,
        /// The attempt timed out.
        timeout: bool,
        /// A non-idempotent POST may have reached Defender: reconcile before acting again.
        ambiguous: bool,
    },
    /// The caller's deadline passed before an answer.
    #[error("deadline exceeded before Defender answered")]
    DeadlineExceeded,
    /// A 2xx answer whose body did not have the expected shape.
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was being decoded (e.g. `machine`, `token response`).
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// A paging link pointed outside the configured API origin and the cloud's Defender domains;
    /// no request (and so no token) was sent.
    #[error("refused to follow a paging link to `{host}`: not a Defender API host of this cloud")]
    DisallowedNextLink {
        /// The refused link's host (the link itself is not kept).
        host: String,
    },
    /// The client settings are invalid.
    #[error("invalid Defender client settings: {0}")]
    Config(String),
}

impl DefenderError {
    /// How long the caller should wait before trying again, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => *retry_after,
            Self::RateBudgetExhausted { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether the same call may succeed if simply tried again later. An ambiguous transport
    /// failure is not retryable: the action may have happened, so reconcile first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::RateBudgetExhausted { .. } | Self::DeadlineExceeded => {
                true
            }
            Self::Upstream { status, .. } => *status >= 500 || *status == 408,
            Self::Transport { ambiguous, .. } => !ambiguous,
            _ => false,
        }
    }

    /// Defender's correlation id (`error.target`), for logs and support cases.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::MissingPermission { target, .. }
            | Self::Forbidden { target, .. }
            | Self::Unauthorized { target, .. }
            | Self::NotFound { target, .. }
            | Self::ActiveRequestAlreadyExists { target, .. }
            | Self::BadRequest { target, .. }
            | Self::Throttled { target, .. }
            | Self::Upstream { target, .. } => target.as_deref(),
            _ => None,
        }
    }

    /// A local refusal of caller input, made before any request.
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "InvalidInput".to_owned(),
            message: message.into(),
            target: None,
        }
    }

    pub(crate) fn decode(what: &str, err: impl std::fmt::Display) -> Self {
        Self::Decode {
            what: what.to_owned(),
            message: truncate(&err.to_string()),
        }
    }
}

/// Cuts upstream text to [`MAX_MESSAGE_CHARS`] characters (on a char boundary).
pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Reads the two known wordings of Defender's missing-role 403 into (required, granted):
/// "Missing application roles. API required roles: A,B, application roles: C." and
/// "The application does not have any of the required application permissions (A, B) to access
/// the resource.". `None` when the message is in neither form.
pub(crate) fn parse_missing_roles(message: &str) -> Option<(Vec<String>, Vec<String>)> {
    const REQUIRED: &str = "required roles:";
    const GRANTED: &str = "application roles:";
    let lower = message.to_ascii_lowercase();
    if let Some(start) = lower.find(REQUIRED) {
        let rest_start = start + REQUIRED.len();
        let (required_text, granted_text) = match lower[rest_start..].find(GRANTED) {
            Some(offset) => (
                &message[rest_start..rest_start + offset],
                &message[rest_start + offset + GRANTED.len()..],
            ),
            None => (&message[rest_start..], ""),
        };
        return Some((split_roles(required_text), split_roles(granted_text)));
    }
    const LEGACY: &str = "required application permissions (";
    if let Some(start) = lower.find(LEGACY) {
        let rest = &message[start + LEGACY.len()..];
        let inner = rest.split(')').next().unwrap_or_default();
        return Some((split_roles(inner), Vec::new()));
    }
    None
}

fn split_roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(|role| role.trim().trim_end_matches('.').trim())
        .filter(|role| !role.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_roles_current_wording_is_parsed() {
        let (required, granted) = parse_missing_roles(
            "Missing application roles. API required roles: Machine.Read.All,Machine.ReadWrite.All, application roles: Machine.Isolate.",
        )
        .expect("parsed");
        assert_eq!(required, ["Machine.Read.All", "Machine.ReadWrite.All"]);
        assert_eq!(granted, ["Machine.Isolate"]);
    }

    #[test]
    fn missing_roles_with_no_granted_roles_gives_empty_list() {
        let (required, granted) = parse_missing_roles(
            "Missing application roles. API required roles: Alert.Read.All, application roles: .",
        )
        .expect("parsed");
        assert_eq!(required, ["Alert.Read.All"]);
        assert!(granted.is_empty());
    }

    #[test]
    fn missing_roles_legacy_wording_is_parsed() {
        let (required, granted) = parse_missing_roles(
            "The application does not have any of the required application permissions (Machine.Read.All, Machine.ReadWrite.All) to access the resource.",
        )
        .expect("parsed");
        assert_eq!(required, ["Machine.Read.All", "Machine.ReadWrite.All"]);
        assert!(granted.is_empty());
    }

    #[test]
    fn other_forbidden_messages_are_not_missing_roles() {
        assert!(parse_missing_roles("Feature is disabled").is_none());
    }

    #[test]
    fn truncate_cuts_long_text_on_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = truncate(&long);
        assert!(cut.ends_with("..."));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 3);
    }

    #[test]
    fn ambiguous_transport_errors_are_not_retryable() {
        let err = DefenderError::Transport {
            message: "x".into(),
            timeout: true,
            ambiguous: true,
        };
        assert!(!err.is_retryable());
        let err = DefenderError::Transport {
            message: "x".into(),
            timeout: false,
            ambiguous: false,
        };
        assert!(err.is_retryable());
    }
}
