//! What the Defender client needs to know: tenant, app credentials, hosts, and its politeness knobs
//! (rate budget share, retries, timeouts). Plain data; validated once in `DefenderClient::new`.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::cloud::Cloud;
use super::error::DefenderError;

/// How the app proves its identity to Entra ID. `Debug` never shows the secret.
#[derive(Clone)]
pub enum Credential {
    /// A client secret (`client_secret` form field).
    Secret(SecretString),
    /// A certificate credential, as a client assertion: a JWT the caller already signed with the
    /// app's certificate (`client_assertion`). Entra requires it to be unexpired, so a long-lived
    /// service must refresh it (e.g. re-read the file) before it expires.
    Certificate {
        /// The signed JWT assertion.
        assertion: SecretString,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Credential::Secret([REDACTED])"),
            Credential::Certificate { .. } => {
                f.write_str("Credential::Certificate { assertion: [REDACTED] }")
            }
        }
    }
}

/// The local rate budget (so that this service does not cause Defender's 429s).
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitSettings {
    /// Enforce the published per-minute and per-hour limits locally. Default true.
    pub enabled: bool,
    /// This replica's fraction of the tenant quota, in (0, 1]. With N replicas, 1/N. Default 1.0.
    pub share: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            share: 1.0,
        }
    }
}

/// Retries of idempotent calls (GETs and the read-only hunting POSTs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 3.
    pub max_retries: u32,
    /// First backoff ceiling; doubles each retry (full jitter). Default 500 ms.
    pub base_delay: Duration,
    /// Longest single wait, including a `Retry-After`; a longer `Retry-After` ends the retries.
    /// Default 30 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Everything the client needs for one tenant. `Debug` redacts the credential.
#[derive(Clone, Debug)]
pub struct DefenderSettings {
    /// The tenant's cloud; picks hosts and token scopes.
    pub cloud: Cloud,
    /// Entra tenant id (GUID) or verified domain.
    pub tenant_id: String,
    /// The app (client) id.
    pub client_id: String,
    /// Client secret or certificate assertion.
    pub credential: Credential,
    /// Override of the Defender API base: requests go to `{api_url}/api/...` (regional host,
    /// simulator). Never changes the token scope.
    pub api_url: Option<Url>,
    /// Override of the Entra host: tokens from `{login_url}/{tenant}/oauth2/v2.0/token`.
    pub login_url: Option<Url>,
    /// Override of the Graph host: hunting goes to `{graph_url}/v1.0/security/runHuntingQuery`.
    pub graph_url: Option<Url>,
    /// Local rate budget.
    pub rate_limits: RateLimitSettings,
    /// Retries of idempotent calls.
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt (also capped by the caller's deadline). Default 30 s.
    pub request_timeout: Duration,
    /// Timeout of one advanced-hunting attempt; Defender lets a query run 200 s, so this is
    /// longer than `request_timeout`. Default 210 s.
    pub hunting_timeout: Duration,
    /// Refresh a token this long before it expires (at most half its lifetime). Default 5 min.
    pub token_refresh_margin: Duration,
}

impl DefenderSettings {
    /// Settings with the cloud's hosts and the defaults for everything else.
    pub fn new(
        cloud: Cloud,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        Self {
            cloud,
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            api_url: None,
            login_url: None,
            graph_url: None,
            rate_limits: RateLimitSettings::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            hunting_timeout: Duration::from_secs(210),
            token_refresh_margin: Duration::from_secs(300),
        }
    }

    /// The Defender API base actually used (override or the cloud's host).
    pub fn api_base(&self) -> Url {
        self.api_url.clone().unwrap_or_else(|| self.cloud.api_url())
    }

    /// The Entra host actually used.
    pub fn login_base(&self) -> Url {
        self.login_url
            .clone()
            .unwrap_or_else(|| self.cloud.login_url())
    }

    /// The Graph host actually used.
    pub fn graph_base(&self) -> Url {
        self.graph_url
            .clone()
            .unwrap_or_else(|| self.cloud.graph_url())
    }

    /// Rejects settings the client cannot work with, naming the field.
    pub(crate) fn validate(&self) -> Result<(), DefenderError> {
        let bad = |msg: String| Err(DefenderError::Config(msg));
        if !is_safe_segment(&self.tenant_id) {
            return bad("`tenant_id` must be a tenant GUID or domain name".into());
        }
        if self.client_id.trim().is_empty() {
            return bad("`client_id` must not be empty".into());
        }
        let share = self.rate_limits.share;
        if !(share > 0.0 && share <= 1.0) {
            return bad(format!(
                "`rate_limits.share` must be in (0, 1], got {share}"
            ));
        }
        if self.request_timeout.is_zero() || self.hunting_timeout.is_zero() {
            return bad("timeouts must be greater than zero".into());
        }
        if self.retry.base_delay > self.retry.max_delay {
            return bad("`retry.base_delay` must not exceed `retry.max_delay`".into());
        }
        for (name, url) in [
            ("api_url", self.api_base()),
            ("login_url", self.login_base()),
            ("graph_url", self.graph_base()),
        ] {
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return bad(format!("`{name}` must be an http(s) URL"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return bad(format!("`{name}` must not have a query or fragment"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return bad(format!("`{name}` must not carry credentials"));
            }
        }
        Ok(())
    }
}

/// A tenant id goes into the token URL path: letters, digits, `-` and `.` only.
fn is_safe_segment(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Per-call options from the caller (usually the gRPC request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The caller's deadline; no attempt, retry sleep or budget wait goes past it. `None`: no
    /// deadline (retries and timeouts still bound the call).
    pub deadline: Option<tokio::time::Instant>,
}

impl CallOptions {
    /// Options with a deadline `timeout` from now.
    pub fn with_timeout(timeout: std::time::Duration) -> Self {
        Self {
            deadline: Some(tokio::time::Instant::now() + timeout),
        }
    }

    /// Options with an absolute deadline.
    pub fn with_deadline(deadline: tokio::time::Instant) -> Self {
        Self {
            deadline: Some(deadline),
        }
    }

    /// Time left before the deadline (`None`: no deadline; zero: passed).
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DefenderSettings {
        DefenderSettings::new(
            Cloud::Commercial,
            "00000000-0000-0000-0000-000000000000",
            "app",
            Credential::Secret(SecretString::from("hunter2-very-secret")),
        )
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let text = format!("{:?}", settings());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("REDACTED"));
        let cert = Credential::Certificate {
            assertion: SecretString::from("eyJassertion"),
        };
        assert!(!format!("{cert:?}").contains("eyJ"));
    }

    #[test]
    fn overrides_replace_cloud_hosts() {
        let mut s = settings();
        assert_eq!(s.api_base(), Cloud::Commercial.api_url());
        s.api_url = Some(Url::parse("http://127.0.0.1:9/").expect("url"));
        assert_eq!(s.api_base().as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn validation_rejects_bad_tenant_and_share() {
        let mut s = settings();
        assert!(s.validate().is_ok());
        s.tenant_id = "../evil".into();
        assert!(s.validate().is_err());
        let mut s = settings();
        s.rate_limits.share = 0.0;
        assert!(s.validate().is_err());
        let mut s = settings();
        s.api_url = Some(Url::parse("ftp://x/").expect("url"));
        assert!(s.validate().is_err());
    }
}
