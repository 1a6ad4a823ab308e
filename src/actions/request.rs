//! The action requests in the service's own terms, and the checks their fields pass before
//! anything reaches Defender (the accepted forms are those of the proto comments).

use sha2::{Digest, Sha256};

use crate::defender::{ActionType, IsolationType, ScanType};
use crate::error::ServiceError;

/// Longest comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 1_000;
/// Longest `request_id` accepted.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// What to do to a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Defender's isolate.
    Isolate(IsolationType),
    /// Defender's unisolate.
    Release,
    /// Defender's antivirus scan.
    Scan(ScanType),
}

impl ActionKind {
    /// Defender's `type` of the resulting machine action.
    pub fn defender_type(&self) -> ActionType {
        match self {
            Self::Isolate(_) => ActionType::Isolate,
            Self::Release => ActionType::Unisolate,
            Self::Scan(_) => ActionType::RunAntiVirusScan,
        }
    }

    /// Defender's name of the action type, e.g. `Isolate`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Isolate(_) => "Isolate",
            Self::Release => "Unisolate",
            Self::Scan(_) => "RunAntiVirusScan",
        }
    }

    /// Defender's `scope` of the resulting action (`Full`, `Selective`, `Quick`...).
    pub fn scope(&self) -> Option<&'static str> {
        match self {
            Self::Isolate(IsolationType::Full) => Some("Full"),
            Self::Isolate(IsolationType::Selective) => Some("Selective"),
            Self::Isolate(IsolationType::UnManagedDevice) => Some("UnManagedDevice"),
            Self::Release => None,
            Self::Scan(ScanType::Quick) => Some("Quick"),
            Self::Scan(ScanType::Full) => Some("Full"),
        }
    }

    /// The parameters as audited, e.g. `{"isolation_type": "Full"}`.
    pub fn parameters(&self) -> serde_json::Value {
        match (self, self.scope()) {
            (Self::Isolate(_), Some(scope)) => serde_json::json!({ "isolation_type": scope }),
            (Self::Scan(_), Some(scope)) => serde_json::json!({ "scan_type": scope }),
            _ => serde_json::json!({}),
        }
    }
}

/// A validated isolate / release / scan request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    /// The machine (40 hex characters, lower case).
    pub machine_id: String,
    /// The caller's comment (1 to 1,000 characters).
    pub comment: String,
    /// What to do.
    pub kind: ActionKind,
    /// The idempotency key, if given.
    pub request_id: Option<String>,
}

impl ActionRequest {
    /// What a repeated `request_id` must match: the RPC and every parameter.
    pub fn fingerprint(&self) -> String {
        fingerprint(&[
            self.kind.name(),
            &self.machine_id,
            self.kind.scope().unwrap_or(""),
            &self.comment,
        ])
    }
}

/// A validated cancellation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The machine action (a GUID, lower case).
    pub action_id: String,
    /// Why.
    pub comment: String,
    /// The idempotency key, if given.
    pub request_id: Option<String>,
}

impl CancelRequest {
    /// What a repeated `request_id` must match.
    pub fn fingerprint(&self) -> String {
        fingerprint(&["Cancel", &self.action_id, &self.comment])
    }
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A comment: 1 to 1,000 characters, not only whitespace, no control characters other than
/// tab and line breaks. Returned trimmed.
pub fn comment(field: &str, value: &str) -> Result<String, ServiceError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "is required: say why (1 to 1,000 characters); it is recorded in Defender and in the audit log",
        ));
    }
    if trimmed.chars().count() > MAX_COMMENT_CHARS {
        return Err(ServiceError::invalid(
            field,
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ServiceError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// A `request_id`: empty (no de-duplication) or 1 to 64 of `A-Za-z0-9._-`.
pub fn request_id(field: &str, value: &str) -> Result<Option<String>, ServiceError> {
    if value.is_empty() {
        return Ok(None);
    }
    let ok = value.len() <= MAX_REQUEST_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(Some(value.to_string()))
    } else {
        Err(ServiceError::invalid(
            field,
            "must be 1 to 64 characters of letters, digits, '-', '_' and '.' (a UUID is recommended), or empty",
        ))
    }
}

/// A machine action id: a GUID, returned in lower-case hyphenated form.
pub fn action_id(field: &str, value: &str) -> Result<String, ServiceError> {
    uuid::Uuid::parse_str(value.trim())
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| {
            ServiceError::invalid(
                field,
                "must be a machine action id: a GUID such as 7f6a1c1e-0c5b-4c4e-9a57-1f0e6b1a2c3d",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_must_have_text_and_at_most_a_thousand_characters() {
        assert!(comment("comment", "   ").is_err());
        assert!(comment("comment", "").is_err());
        assert_eq!(comment("comment", " why ").expect("ok"), "why");
        assert!(comment("comment", &"é".repeat(1_000)).is_ok());
        assert!(comment("comment", &"é".repeat(1_001)).is_err());
        assert!(comment("comment", "a\u{0}b").is_err());
        assert!(comment("comment", "line\nline").is_ok());
    }

    #[test]
    fn request_id_accepts_uuids_and_refuses_other_characters() {
        assert_eq!(request_id("request_id", "").expect("ok"), None);
        assert!(request_id("request_id", "3f2b8c1e-aaaa-4bbb-8ccc-0123456789ab").is_ok());
        assert!(request_id("request_id", "a.b_c-D9").is_ok());
        assert!(request_id("request_id", &"a".repeat(65)).is_err());
        assert!(request_id("request_id", "a b").is_err());
        assert!(request_id("request_id", "a/b").is_err());
    }

    #[test]
    fn action_id_must_be_a_guid() {
        assert_eq!(
            action_id("action_id", "7F6A1C1E-0C5B-4C4E-9A57-1F0E6B1A2C3D").expect("ok"),
            "7f6a1c1e-0c5b-4c4e-9a57-1f0e6b1a2c3d"
        );
        assert!(action_id("action_id", "../x").is_err());
    }

    #[test]
    fn fingerprints_differ_when_any_parameter_differs() {
        let base = ActionRequest {
            machine_id: "a".repeat(40),
            comment: "c".into(),
            kind: ActionKind::Isolate(IsolationType::Full),
            request_id: Some("r".into()),
        };
        let mut selective = base.clone();
        selective.kind = ActionKind::Isolate(IsolationType::Selective);
        let mut other_comment = base.clone();
        other_comment.comment = "d".into();
        let mut other_id = base.clone();
        other_id.request_id = Some("s".into());
        assert_ne!(base.fingerprint(), selective.fingerprint());
        assert_ne!(base.fingerprint(), other_comment.fingerprint());
        assert_eq!(base.fingerprint(), other_id.fingerprint());
    }
}
