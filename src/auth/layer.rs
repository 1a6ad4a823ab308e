//! The one tower layer that authenticates, authorizes and rate-limits every call, keyed by the
//! gRPC method path with the table of [`super::roles`], so no service handler changes per RPC.
//!
//! For each call: health passes untouched; otherwise the caller is authenticated (bearer API key
//! or JWT, else the verified client certificate), the method's role is checked, the caller's
//! limits admit the call, and the [`VerifiedIdentity`] goes into the request's extensions for
//! the handlers (comment stamp, audit log, request-id scope). A refused call is answered here:
//! it never reaches a handler, Defender or the audit log. Every call runs in a tracing span
//! `rpc` with the method and the caller's identity.
//!
//! Without an [`Authenticator`] (no callers file) the layer only adds the span.
//!
//! The same point times every call, records its metrics and writes its access line
//! ([`super::observe`]), refused calls included.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::limits::Admission;
use super::observe::{CallObserver, observe};
use super::roles::{self, Access};
use super::{Authenticator, VerifiedIdentity};
use crate::error::ServiceError;

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub struct AuthLayer {
    auth: Option<Arc<Authenticator>>,
    observer: CallObserver,
}

impl AuthLayer {
    /// Enforces `auth`; `None` lets every call through as anonymous.
    pub fn new(auth: Option<Arc<Authenticator>>) -> Self {
        Self {
            auth,
            observer: CallObserver::default(),
        }
    }

    /// Times, counts and logs every call with `observer`.
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = observer;
        self
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
            observer: self.observer.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
    observer: CallObserver,
}

/// The verified client certificate chain of the call's connection, if it came over mTLS.
fn peer_certs<B>(
    req: &http::Request<B>,
) -> Option<Arc<Vec<rustls::pki_types::CertificateDer<'static>>>> {
    let ext = req.extensions();
    ext.get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .or_else(|| {
            ext.get::<TlsConnectInfo<crate::server::conn::ConnInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
        })
}

/// Checks one call: the identity, its role for the method, its limits.
fn check<B>(
    auth: &Authenticator,
    req: &http::Request<B>,
    path: &str,
) -> Result<Option<(Arc<VerifiedIdentity>, Admission)>, ServiceError> {
    let (access, weight) = roles::access(path);
    if access == Access::Open {
        return Ok(None);
    }
    let certs = peer_certs(req);
    let identity = auth.authenticate(
        req.headers().get(http::header::AUTHORIZATION),
        certs.as_deref().map(Vec::as_slice),
    )?;
    let required = match access {
        Access::Open | Access::Authenticated => None,
        Access::Role(role) => Some(role.name()),
        Access::Unknown => Some("none (unknown method)"),
    };
    if let Some(role) = required {
        let allowed = matches!(access, Access::Role(r) if identity.roles.contains(&r));
        if !allowed {
            return Err(ServiceError::CallerNotAuthorized {
                identity: identity.label.clone(),
                method: crate::error::echo(path),
                required_role: role.to_string(),
            });
        }
    }
    let admission = auth
        .limiter()
        .admit(&identity.label, identity.limits, weight)?;
    Ok(Some((identity, admission)))
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The service polled ready is the one that serves; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = req.uri().path().to_string();
        let Some(auth) = self.auth.as_ref() else {
            let span = tracing::info_span!("rpc", method = %path, caller = "anonymous");
            crate::telemetry::otel::adopt_remote_parent(&span, req.headers());
            return observe(&self.observer, &path, span, inner.call(req), None);
        };
        match check(auth, &req, &path) {
            Err(err) => {
                tracing::info!(method = %path, reason = err.reason(), "call refused: {err}");
                let status = tonic::Status::from(err);
                let span = tracing::info_span!("rpc", method = %path, caller = "refused");
                crate::telemetry::otel::adopt_remote_parent(&span, req.headers());
                let answer = async move { Ok::<_, S::Error>(status.into_http()) };
                observe(&self.observer, &path, span, answer, None)
            }
            Ok(None) => {
                let span = tracing::info_span!("rpc", method = %path, caller = "unauthenticated");
                crate::telemetry::otel::adopt_remote_parent(&span, req.headers());
                observe(&self.observer, &path, span, inner.call(req), None)
            }
            Ok(Some((identity, admission))) => {
                let span = tracing::info_span!("rpc", method = %path, caller = %identity.label);
                crate::telemetry::otel::adopt_remote_parent(&span, req.headers());
                req.extensions_mut().insert(identity);
                // The slots are held until the response body is dropped: a stream keeps them
                // until it ends.
                observe(
                    &self.observer,
                    &path,
                    span,
                    inner.call(req),
                    Some(admission),
                )
            }
        }
    }
}
