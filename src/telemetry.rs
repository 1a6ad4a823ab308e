//! Logging set-up: `tracing` to stderr, human-readable or JSON, filtered by `RUST_LOG`
//! (default `info`). Called once by the binary; tests install nothing and stay quiet.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. A second call is a no-op (the first subscriber stays).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // An already-installed subscriber (e.g. `demo` calling into `serve`) is fine.
    let _ = result;
}
