//! Timing, metrics and the access log line of every call, at the auth layer's per-call span.
//!
//! The layer ([`super::layer`]) starts an [`Observed`] call before the handler runs; it ends
//! when the gRPC status is known: in the response head (a trailers-only answer: every error,
//! and every refused call), else in the trailers at the end of the body (a stream's end), else
//! `CANCELLED` when the body is dropped first (the client went away). Then the call is recorded
//! in `rpc_server_call_duration_seconds` and logged once at info, inside the call's `rpc` span
//! (which carries `method` and `caller`), with the code, the duration, the tenant and the
//! upstream requests the call made (health checks log at debug: probes would drown the log).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;

use super::limits::Admission;
use crate::metrics::rpc::{self, CODES, CallContext, METHODS, RpcMetrics};

/// What the layer needs to observe calls. Without metrics (the admin listener is `off`, or
/// the layer alone in unit tests) calls are still timed for the access line while it is
/// enabled; with neither, the layer adds nothing but the span.
#[derive(Clone, Debug, Default)]
pub struct CallObserver {
    metrics: Option<Arc<RpcMetrics>>,
    tenant: Option<Arc<str>>,
}

impl CallObserver {
    /// Observes into `state`'s metrics (unless the admin listener is `off`: then nothing
    /// could read them); the access line names the configured tenant.
    pub fn new(state: &crate::state::AppState) -> Self {
        Self {
            metrics: state
                .config
                .admin_listen
                .map(|_| Arc::clone(&state.metrics.rpc)),
            tenant: state
                .config
                .defender
                .as_ref()
                .map(|d| Arc::from(d.tenant_id.as_str())),
        }
    }

    fn start(&self, path: &str, span: tracing::Span) -> Option<Observed> {
        let logged = tracing::enabled!(target: "defender_bridge::access", tracing::Level::INFO);
        if self.metrics.is_none() && !logged {
            return None;
        }
        let method = rpc::method_index(path);
        if let Some(metrics) = &self.metrics {
            metrics.started(method);
        }
        let name = METHODS[method];
        Some(Observed {
            streaming: STREAMING.contains(&name),
            health: name.starts_with("grpc.health."),
            metrics: self.metrics.clone(),
            method,
            started: std::time::Instant::now(),
            done: false,
            call: Arc::default(),
            span,
            tenant: self.tenant.clone(),
        })
    }
}

/// Methods whose response body does work (server streams): the body is polled inside the
/// call's context so that its upstream requests and messages count.
const STREAMING: [&str; 6] = [
    "defenderbridge.v1.RiskService/StreamFleetRisk",
    "defenderbridge.v1.RiskService/RunHuntingQuery",
    "defenderbridge.v1.ActionService/WatchMachineAction",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// One call being observed.
#[derive(Debug)]
pub(super) struct Observed {
    metrics: Option<Arc<RpcMetrics>>,
    method: usize,
    started: std::time::Instant,
    done: bool,
    call: Arc<CallContext>,
    span: tracing::Span,
    tenant: Option<Arc<str>>,
    streaming: bool,
    health: bool,
}

impl Observed {
    /// Records the call with `code` (an index into [`CODES`]) and writes its access line; only
    /// the first call does anything.
    fn finish(&mut self, code: usize) {
        if self.done {
            return;
        }
        self.done = true;
        let duration = self.started.elapsed();
        let messages = self.call.messages();
        if let Some(metrics) = &self.metrics {
            metrics.finished(self.method, code, duration.as_secs_f64(), messages);
        }
        let code_index = code.min(CODES.len() - 1);
        let code = CODES[code_index];
        crate::telemetry::otel::record_rpc_status(&self.span, code_index, code);
        let duration_ms = duration.as_secs_f64() * 1000.0;
        let upstream_calls = self.call.upstream();
        let tenant = self.tenant.as_deref().unwrap_or("");
        if self.health {
            tracing::debug!(target: "defender_bridge::access", parent: &self.span, code, duration_ms, "rpc finished");
        } else {
            tracing::info!(target: "defender_bridge::access", parent: &self.span, code, duration_ms, tenant, upstream_calls, messages, "rpc finished");
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // Dropped before a status was seen: the client cancelled (or the connection went).
        self.finish(rpc::CANCELLED);
    }
}

/// The code in a `grpc-status` header or trailer, if present.
fn status_in(headers: &http::HeaderMap) -> Option<usize> {
    headers
        .get("grpc-status")
        .map(|value| rpc::code_index(value.as_bytes()))
}

/// Runs `call` (the inner service's future) observed by `observer`, inside `span`; the
/// response body holds `admission` (the caller's slots) until it ends.
pub(super) fn observe<F, E>(
    observer: &CallObserver,
    path: &str,
    span: tracing::Span,
    call: F,
    admission: Option<Admission>,
) -> futures::future::BoxFuture<'static, Result<http::Response<Body>, E>>
where
    F: std::future::Future<Output = Result<http::Response<Body>, E>> + Send + 'static,
{
    use tracing::Instrument as _;
    let Some(mut observed) = observer.start(path, span.clone()) else {
        return Box::pin(
            async move {
                let response = call.await?;
                Ok(match admission {
                    Some(admission) => response.map(|body| {
                        Body::new(crate::server::conn::GuardedBody::new(body, admission))
                    }),
                    None => response,
                })
            }
            .instrument(span),
        );
    };
    let context = Arc::clone(&observed.call);
    Box::pin(
        async move {
            let response = CallContext::scope(context, call).await?;
            if let Some(code) = status_in(response.headers()) {
                observed.finish(code);
            }
            Ok(response.map(|body| {
                Body::new(ObservedBody {
                    inner: body,
                    observed,
                    _admission: admission,
                })
            }))
        }
        .instrument(span),
    )
}

/// A response body that ends its call's observation at the trailers (or when dropped), and
/// holds the caller's admission slots until then.
struct ObservedBody {
    inner: Body,
    observed: Observed,
    _admission: Option<Admission>,
}

impl http_body::Body for ObservedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = if this.observed.streaming && !this.observed.done {
            let call = Arc::clone(&this.observed.call);
            let inner = &mut this.inner;
            CallContext::sync_scope(call, || Pin::new(inner).poll_frame(cx))
        } else {
            Pin::new(&mut this.inner).poll_frame(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_in) {
                    this.observed.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => this.observed.finish(rpc::UNKNOWN),
            Poll::Ready(None) => this.observed.finish(rpc::UNKNOWN),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
