//! Caller authentication and authorization (when a callers file is configured).
//!
//! Layout, one concern per file: [`callers_file`] (the TOML file, validated), [`reload`] (re-read
//! on change and SIGHUP, a bad file keeps the previous one), [`api_key`] (keys, hashes,
//! `keygen`), [`jwt`] (OIDC bearer tokens and JWKS), [`jwks_url`] (JWKS fetched from the issuer), [`certificate`] (client certificate
//! names), [`roles`] (the method → role table), [`limits`] (per-caller rate and concurrency),
//! [`layer`] (the one tower layer that applies all of it to every call).
//!
//! Without a callers file nothing here runs: every caller is anonymous, as on a loopback-only
//! server before caller authentication existed.

pub mod api_key;
pub mod callers_file;
pub mod certificate;
pub mod jwks_url;
pub mod jwt;
pub mod layer;
pub mod limits;
mod observe;
pub mod reload;
pub mod roles;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

pub use callers_file::{Callers, CallersError, LimitOverrides};
pub use layer::AuthLayer;
pub use limits::{CallerLimitSettings, CallerLimiter};
pub use observe::CallObserver;
pub use roles::{Access, Role, Weight};

use crate::error::ServiceError;

/// A verified caller, put in each request's extensions (as `Arc<VerifiedIdentity>`) by
/// [`AuthLayer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// `key:NAME`, `cert:IDENTITY` or `jwt:SUB`.
    pub label: String,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// Its own limits.
    pub limits: LimitOverrides,
}

/// The configured callers and their limits.
#[derive(Debug)]
pub struct Authenticator {
    source: Arc<reload::CallersSource>,
    limiter: CallerLimiter,
}

impl Authenticator {
    /// Loads the callers file (a bad file stops the start-up) and starts watching it.
    pub fn start(path: &Path, limits: CallerLimitSettings) -> Result<Arc<Self>, CallersError> {
        let source = Arc::new(reload::CallersSource::open(path)?);
        reload::watch(Arc::downgrade(&source), reload::POLL_INTERVAL);
        Ok(Arc::new(Self {
            source,
            limiter: CallerLimiter::new(limits),
        }))
    }

    /// Re-reads the callers file now (what SIGHUP does); see [`reload::CallersSource::reload`].
    pub fn reload(&self) -> reload::Reloaded {
        self.source.reload()
    }

    /// The per-caller limits.
    pub fn limiter(&self) -> &CallerLimiter {
        &self.limiter
    }

    /// Who is calling: a bearer API key or JWT (`authorization: Bearer …`), else the verified
    /// client certificate chain (leaf first). UNAUTHENTICATED when neither identifies a
    /// configured caller; the message never holds the credential.
    pub fn authenticate<C: AsRef<[u8]>>(
        &self,
        authorization: Option<&http::HeaderValue>,
        peer_certs: Option<&[C]>,
    ) -> Result<Arc<VerifiedIdentity>, ServiceError> {
        let callers = self.source.current();
        let denied = |m: String| ServiceError::CallerNotAuthenticated(m);
        if let Some(value) = authorization {
            let text = value.to_str().map_err(|_| {
                denied("the authorization header is not `Bearer <API key or JWT>`".into())
            })?;
            let token = match text.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => {
                    return Err(denied(
                        "the authorization header is not `Bearer <API key or JWT>`".into(),
                    ));
                }
            };
            // A JWT has three dot-separated parts; a key from `keygen` has no dot.
            if token.matches('.').count() == 2 {
                let verified = jwt::verify(&callers.issuers, token).map_err(denied)?;
                return Ok(Arc::new(VerifiedIdentity {
                    label: format!("jwt:{}", verified.subject),
                    roles: verified.grant.roles,
                    limits: verified.grant.limits,
                }));
            }
            return match api_key::find(&callers.api_keys, token, OffsetDateTime::now_utc()) {
                Ok(entry) => Ok(Arc::clone(&entry.identity)),
                Err(api_key::KeyRefusal::Unknown) => {
                    Err(denied("unknown or revoked API key".into()))
                }
                Err(api_key::KeyRefusal::Expired) => {
                    Err(denied("the API key has expired: ask for a new one".into()))
                }
            };
        }
        if let Some(chain) = peer_certs.filter(|c| !c.is_empty()) {
            let known = |name: &str| callers.certificates.contains_key(name);
            return match certificate::identity_of_chain(chain, known).map_err(denied)? {
                Some(name) => {
                    let grant = callers.certificates.get(&name).cloned().ok_or_else(|| {
                        denied("the client certificate's identity is not configured".into())
                    })?;
                    Ok(Arc::new(VerifiedIdentity {
                        label: format!("cert:{name}"),
                        roles: grant.roles,
                        limits: grant.limits,
                    }))
                }
                None => Err(denied(
                    "the client certificate's identity (URI SAN, else DNS SAN, else CN) is not \
                     listed in the callers file"
                        .into(),
                )),
            };
        }
        Err(denied(
            "no credentials: send `authorization: Bearer <API key or JWT>` or a client certificate"
                .into(),
        ))
    }
}
