//! The outermost layer of the gRPC server: checks `Host` / `:authority` and browser origins
//! before anything else sees a request (docs/security.md).
//!
//! Why: a web page can make a browser send requests to `127.0.0.1` by DNS rebinding (its own
//! name re-resolved to the loopback address). Such requests carry the page's name in `Host`
//! and its origin in `Origin`; a loopback service that ignores both can be driven by any site
//! the operator visits. So:
//! - `Host` / `:authority` must be a loopback name (`localhost`, `*.localhost`), an IP address
//!   (a page on an IP address is that address's own origin; rebinding needs a name), or a name
//!   from `--allowed-hosts`;
//! - a request with an `Origin` header (only browsers send one) is accepted only when gRPC-Web
//!   is on and the origin is listed in `--grpc-web-origins`; CORS preflights are answered for
//!   listed origins only;
//! - gRPC-Web requests are refused while gRPC-Web is off (and HTTP/1.1 is then not served).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};

use crate::config::Config;

/// Headers a browser's gRPC-Web client may send, answered to a CORS preflight when it does not
/// list its own.
const ALLOWED_REQUEST_HEADERS: &str =
    "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization,x-request-id,x-caller-id";
/// Response headers a browser lets the page read.
const EXPOSED_HEADERS: &str = "grpc-status,grpc-message,grpc-status-details-bin";

/// What the guard accepts.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Configured host names (lower case): exact, `*.suffix` or `*`.
    pub allowed_hosts: Vec<String>,
    /// gRPC-Web is served.
    pub grpc_web: bool,
    /// Browser origins allowed to call (lower case).
    pub origins: Vec<String>,
}

impl Policy {
    /// The policy of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            allowed_hosts: config.allowed_hosts.clone(),
            grpc_web: config.grpc_web,
            origins: config.grpc_web_origins.clone(),
        }
    }

    /// Whether `host` (a `Host` value or URI host, port allowed) may be served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = strip_port(host.trim()).trim_end_matches('.');
        let host = host.to_ascii_lowercase();
        if host.is_empty()
            || host.parse::<std::net::IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
        {
            return true;
        }
        self.allowed_hosts.iter().any(|allowed| {
            allowed == "*"
                || *allowed == host
                || allowed
                    .strip_prefix('*')
                    .is_some_and(|suffix| suffix.starts_with('.') && host.ends_with(suffix))
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.grpc_web && self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// `host` without a `:port` suffix; IPv6 literals lose their brackets.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The host a request was addressed to: the HTTP/2 `:authority`, else the `Host` header.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    if let Some(authority) = req.uri().authority() {
        return Some(authority.as_str().to_owned());
    }
    req.headers()
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn is_grpc_web(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

fn is_native_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web")
        })
}

/// A refusal: a gRPC status for gRPC callers, a plain 403 for anything else.
fn refuse(headers: &HeaderMap, message: &'static str) -> Response<tonic::body::Body> {
    if is_native_grpc(headers) {
        return tonic::Status::permission_denied(message).into_http();
    }
    let mut response = Response::new(tonic::body::Body::new(format!("{message}\n")));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The layer; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct GuardLayer(Arc<Policy>);

impl GuardLayer {
    /// A guard enforcing `policy`.
    pub fn new(policy: Policy) -> Self {
        Self(Arc::new(policy))
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            policy: Arc::clone(&self.0),
        }
    }
}

/// See [`GuardLayer`].
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B> tower::Service<Request<B>> for Guard<S>
where
    S: tower::Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = futures::future::Either<
        std::future::Ready<Result<Self::Response, S::Error>>,
        futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use futures::future::Either;
        let done = |response| Either::Left(std::future::ready(Ok(response)));
        let host = request_host(&req);
        if let Some(host) = host.filter(|h| !self.policy.host_allowed(h)) {
            tracing::warn!(
                host = %crate::error::echo(&host),
                "request refused: its Host is not a name this service answers to (DNS rebinding protection; see --allowed-hosts)"
            );
            return done(refuse(
                req.headers(),
                "the Host of this request is not a name this service answers to; add it with --allowed-hosts",
            ));
        }
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if let Some(origin) = origin.as_ref().filter(|o| !self.policy.origin_allowed(o)) {
            tracing::warn!(
                origin = %crate::error::echo(origin),
                "browser request refused: origin not in --grpc-web-origins (or gRPC-Web off)"
            );
            return done(refuse(
                req.headers(),
                "calls from this browser origin are not allowed; see --grpc-web and --grpc-web-origins",
            ));
        }
        if !self.policy.grpc_web && is_grpc_web(req.headers()) {
            return done(refuse(
                req.headers(),
                "gRPC-Web is off on this service; start it with --grpc-web to accept browser calls",
            ));
        }
        let Some(origin) = origin else {
            return Either::Right(Box::pin(self.inner.call(req)));
        };
        // A listed origin from here on.
        let Ok(origin) = HeaderValue::from_str(&origin) else {
            return done(refuse(req.headers(), "malformed Origin header"));
        };
        if req.method() == Method::OPTIONS {
            return done(preflight(origin, req.headers()));
        }
        let call = self.inner.call(req);
        Either::Right(Box::pin(async move {
            let mut response = call.await?;
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
            headers.append(header::VARY, HeaderValue::from_static("origin"));
            Ok(response)
        }))
    }
}

/// The answer to a CORS preflight from a listed origin.
fn preflight(origin: HeaderValue, request: &HeaderMap) -> Response<tonic::body::Body> {
    let mut response = Response::new(tonic::body::Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    let asked = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(ALLOWED_REQUEST_HEADERS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_ip_addresses_and_listed_names_are_allowed() {
        let policy = Policy {
            allowed_hosts: vec!["bridge.example.com".into(), "*.svc.local".into()],
            ..Policy::default()
        };
        for ok in [
            "localhost",
            "localhost:50051",
            "LOCALHOST.",
            "app.localhost:1",
            "127.0.0.1:50051",
            "[::1]:50051",
            "10.1.2.3",
            "bridge.example.com:443",
            "a.svc.local",
        ] {
            assert!(policy.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:50051",
            "evil.example",
            "localhost.evil.example",
            "svc.local",
            "bridge.example.com.evil",
        ] {
            assert!(!policy.host_allowed(bad), "{bad}");
        }
        let any = Policy {
            allowed_hosts: vec!["*".into()],
            ..Policy::default()
        };
        assert!(any.host_allowed("evil.example"));
    }

    #[test]
    fn origins_need_grpc_web_and_the_list() {
        let mut policy = Policy {
            origins: vec!["https://app.example.com".into()],
            ..Policy::default()
        };
        assert!(!policy.origin_allowed("https://app.example.com"));
        policy.grpc_web = true;
        assert!(policy.origin_allowed("https://app.example.com"));
        assert!(!policy.origin_allowed("http://evil.example"));
        assert!(!policy.origin_allowed("null"));
    }
}
