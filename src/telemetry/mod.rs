//! Logging set-up: `tracing` to stderr, human-readable or JSON, filtered by `RUST_LOG`
//! (default `info`). Called once by the binary; tests install nothing and stay quiet.
//!
//! Human logs are coloured only when stderr is a terminal (a file or a log collector gets plain
//! text). JSON logs are one object per line written by [`json::JsonLines`]: no key twice, and an
//! audit record is an object, not a string holding JSON. Lines are written to stderr in batches
//! by a thread of their own ([`writer`]); [`writer::flush`] writes what waits.

pub mod json;
pub mod writer;

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. A second call is a no-op (the first subscriber stays).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Batched off the calling thread: every RPC logs an access line (writer.rs).
        .with_writer(writer::stderr())
        .with_target(true);
    let result = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::JsonLines)
            .try_init(),
    };
    // An already-installed subscriber (e.g. `demo` calling into `serve`) is fine.
    let _ = result;
}
