//! Built without the `otel` feature: no trace export; the per-call hooks do nothing.

/// Whether traces are exported by this process: never in this build.
pub fn is_active() -> bool {
    false
}

/// Why trace export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry export not started: {0}")]
pub struct OtelError(String);

/// Whether the environment asks for trace export: it may, but this build cannot (the caller
/// then logs why).
pub fn wanted() -> bool {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty())
}

/// Nothing to flush.
#[derive(Debug)]
pub struct OtelGuard;

impl OtelGuard {
    /// Nothing to do.
    pub fn shutdown(self) {}
}

/// Always an error: this build has no exporter.
pub fn layer() -> Result<(tracing_subscriber::layer::Identity, OtelGuard), OtelError> {
    Err(OtelError(
        "this binary was built without the `otel` feature".into(),
    ))
}

/// Nothing without export.
pub fn adopt_remote_parent(_span: &tracing::Span, _headers: &http::HeaderMap) {}

/// Nothing without export.
pub fn record_rpc_status(_span: &tracing::Span, _code: usize, _code_name: &'static str) {}
