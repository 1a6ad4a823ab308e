//! Logging set-up: `tracing` to stderr, human-readable or JSON, filtered by `RUST_LOG`
//! (default `info`) or by a filter file reloaded on SIGHUP ([`log_filter`]); and OpenTelemetry
//! trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set ([`otel`], cargo feature `otel`).
//! Called once by the binary; tests install nothing and stay quiet.
//!
//! Human logs are coloured only when stderr is a terminal (a file or a log collector gets plain
//! text). JSON logs are one object per line written by [`json::JsonLines`]: no key twice, and an
//! audit record is an object, not a string holding JSON. Lines are written to stderr in batches
//! by a thread of their own ([`writer`]); [`writer::flush`] writes what waits.
//!
//! The log filter applies to the log output only (a per-layer filter), so trace export sees
//! its spans whatever the log level.

pub mod json;
pub mod log_filter;
#[cfg_attr(not(feature = "otel"), path = "otel_off.rs")]
pub mod otel;
pub mod writer;

use std::io::IsTerminal as _;
use std::path::Path;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry, reload};

use crate::config::LogFormat;

/// Why logging could not be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter file could not be read or parsed.
    #[error("log filter file: {0}")]
    Filter(String),
}

/// What [`init`] installed; keep it while the process runs and call [`Telemetry::shutdown`]
/// before exiting (it flushes the traces still queued).
#[derive(Debug, Default)]
#[must_use = "dropping it does not flush the queued traces: call shutdown"]
pub struct Telemetry {
    otel: Option<otel::OtelGuard>,
}

impl Telemetry {
    /// Flushes and stops trace export (nothing to do without it).
    pub async fn shutdown(self) {
        if let Some(guard) = self.otel {
            let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
        }
    }
}

/// Installs the global subscriber with the `RUST_LOG` filter. A second call is a no-op (the
/// first subscriber stays).
pub fn init(format: LogFormat) -> Telemetry {
    init_with(format, None).unwrap_or_default()
}

/// Installs the global subscriber, with the filter read from `filter_file` when given (an
/// unreadable or invalid file is an error, and nothing is installed). A second call is a no-op.
/// Trace export is set up when the environment asks for it; if that fails the reason is logged
/// and the service runs without it.
pub fn init_with(
    format: LogFormat,
    filter_file: Option<&Path>,
) -> Result<Telemetry, TelemetryError> {
    let (filter, file_text) = match filter_file {
        Some(path) => {
            let (filter, text) = log_filter::read(path).map_err(TelemetryError::Filter)?;
            (filter, Some(text))
        }
        None => (
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
            None,
        ),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let output: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match format {
        // Batched off the calling thread: every RPC logs an access line (writer.rs).
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(writer::stderr())
            .with_target(true)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer::stderr())
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::JsonLines)
            .boxed(),
    };
    let (traces, guard, otel_error) = if otel::wanted() {
        match otel::layer() {
            Ok((layer, guard)) => (Some(layer), Some(guard), None),
            Err(err) => (None, None, Some(err)),
        }
    } else {
        (None, None, None)
    };
    // Without export, no second layer at all: an empty `Option` layer would still take part
    // in every callsite's interest.
    let logs = tracing_subscriber::registry().with(output.with_filter(filter));
    let installed = match traces {
        Some(traces) => logs.with(traces).try_init(),
        None => logs.try_init(),
    };
    // An already-installed subscriber (e.g. `demo` calling into `serve`) is fine.
    if installed.is_err() {
        return Ok(Telemetry::default());
    }
    if let (Some(path), Some(text)) = (filter_file, file_text) {
        log_filter::installed(path, handle, text);
    }
    if let Some(err) = otel_error {
        tracing::warn!(error = %err, "running without trace export");
    } else if guard.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(Telemetry { otel: guard })
}
