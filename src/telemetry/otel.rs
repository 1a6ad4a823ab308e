//! OpenTelemetry traces, exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_SERVICE_NAME` names the service
//! (`defender-bridge` by default). Unset, nothing is installed: no exporter, no thread, and the
//! spans below stay as cheap as any disabled `tracing` span.
//!
//! The spans come from `tracing` through `tracing-opentelemetry`, but only two of them are
//! exported (a per-layer filter, so neither the log filter nor the exporter's own HTTP/2 stack
//! feeds into traces): the `rpc` span of every call (the auth layer's, named after the gRPC
//! method, kind SERVER, parented to the incoming W3C `traceparent` if any) and `defender_call`,
//! one per HTTP attempt to Defender, Graph or Entra ID (kind CLIENT, with the API family, the
//! attempt number and the HTTP status). Events are not exported: a span carries only the fields
//! declared on it, none of which holds a token, secret or header.
//!
//! The standard variables of the SDK apply: `OTEL_TRACES_SAMPLER`(`_ARG`), `OTEL_BSP_*` (batch
//! size and schedule), `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn
//! export off. Only the gRPC protocol is built in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::metrics::rpc::{METHODS, method_index};

/// The exported spans' names (see the module docs).
pub const EXPORTED_SPANS: [&str; 2] = ["rpc", "defender_call"];

/// Set once the exporter is installed: the per-call hooks below do nothing before.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported by this process.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Why trace export could not be set up (the service then runs without it).
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry export not started: {0}")]
pub struct OtelError(String);

/// Whether the environment asks for trace export.
pub fn wanted() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// The installed exporter; [`OtelGuard::shutdown`] flushes the spans still queued.
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl OtelGuard {
    /// Exports what is queued and stops the exporter (blocks: call it off the async workers,
    /// while the runtime still runs, as the exporter's connection lives on it).
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(error = %err, "OpenTelemetry exporter shutdown");
        }
    }
}

/// The `tracing` layer that exports [`EXPORTED_SPANS`], and its guard. Must run inside the
/// tokio runtime (the gRPC channel is created on it).
pub fn layer<S>() -> Result<(impl Layer<S> + Send + Sync + 'static, OtelGuard), OtelError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(protocol) = std::env::var(name) {
            if protocol.trim() != "grpc" {
                return Err(OtelError(format!(
                    "{name}={protocol}: only `grpc` is built in"
                )));
            }
        }
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| OtelError(e.to_string()))?;
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("defender-bridge");
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Conventions(BatchSpanProcessor::builder(exporter).build()))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("defender-bridge");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span()
                && meta.target().starts_with("defender_bridge")
                && EXPORTED_SPANS.contains(&meta.name())
        }));
    ACTIVE.store(true, Ordering::Relaxed);
    Ok((layer, OtelGuard { provider }))
}

/// Reads the W3C `traceparent` (and `tracestate`) of an incoming call.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes the call's `rpc` span a child of the caller's span when the request carries a valid
/// `traceparent`. Nothing without export.
pub fn adopt_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !is_active() || !headers.contains_key("traceparent") {
        return;
    }
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// gRPC codes that mark a server span as failed (OpenTelemetry's RPC conventions: the server's
/// own faults, not the caller's mistakes).
const SERVER_ERRORS: [usize; 6] = [2, 4, 12, 13, 14, 15];

/// Records the call's gRPC status on its `rpc` span. Nothing without export.
pub fn record_rpc_status(span: &tracing::Span, code: usize, code_name: &'static str) {
    if !is_active() {
        return;
    }
    span.set_attribute("rpc.grpc.status_code", i64::try_from(code).unwrap_or(2));
    if SERVER_ERRORS.contains(&code) {
        span.set_status(Status::error(code_name));
    }
}

/// Applies the naming conventions before a span is queued for export: the `rpc` span is named
/// after its method (`package.Service/Method`, `_OTHER` for a path we do not serve) with kind
/// SERVER and the `rpc.*` attributes; a
/// `defender_call` span is kind CLIENT, named `defender <api family>`.
#[derive(Debug)]
struct Conventions<P>(P);

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

impl<P: SpanProcessor> SpanProcessor for Conventions<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        match span.name.as_ref() {
            "rpc" => {
                span.span_kind = SpanKind::Server;
                if let Some(path) = attribute(&span, "method").map(|v| v.as_str().into_owned()) {
                    // A method we do not serve is `_OTHER`: span names stay a closed set.
                    let method: &'static str = METHODS[method_index(&path)];
                    let (service, name) = method.split_once('/').unwrap_or(("", method));
                    span.attributes.extend([
                        KeyValue::new("rpc.system", "grpc"),
                        KeyValue::new("rpc.service", service),
                        KeyValue::new("rpc.method", name),
                    ]);
                    span.name = method.into();
                }
            }
            "defender_call" => {
                span.span_kind = SpanKind::Client;
                if let Some(api) = attribute(&span, "api").map(|v| v.as_str().into_owned()) {
                    span.name = format!("defender {api}").into();
                }
            }
            _ => {}
        }
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanContext, SpanId};

    use super::*;

    #[derive(Debug, Default, Clone)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Kept {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().expect("lock").push(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    fn ended(name: &'static str, attributes: Vec<KeyValue>) -> SpanData {
        let kept = Kept::default();
        let now = std::time::SystemTime::now();
        Conventions(kept.clone()).on_end(SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.into(),
            start_time: now,
            end_time: now,
            attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        });
        kept.0.lock().expect("lock").pop().expect("passed on")
    }

    fn attr(span: &SpanData, key: &str) -> Option<String> {
        attribute(span, key).map(|v| v.as_str().into_owned())
    }

    #[test]
    fn rpc_spans_are_named_after_a_served_method_or_other() {
        let span = ended(
            "rpc",
            vec![KeyValue::new(
                "method",
                "/defenderbridge.v1.ActionService/IsolateMachine",
            )],
        );
        assert_eq!(span.name, "defenderbridge.v1.ActionService/IsolateMachine");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(
            attr(&span, "rpc.service").as_deref(),
            Some("defenderbridge.v1.ActionService")
        );
        assert_eq!(attr(&span, "rpc.method").as_deref(), Some("IsolateMachine"));
        let span = ended("rpc", vec![KeyValue::new("method", "/evil.Service/x?y=1")]);
        assert_eq!(span.name, "_OTHER");
        let span = ended("defender_call", vec![KeyValue::new("api", "machines")]);
        assert_eq!(span.name, "defender machines");
        assert_eq!(span.span_kind, SpanKind::Client);
    }
}
