//! The log filter (`RUST_LOG` syntax, e.g. `info,defender_bridge::access=warn`) and its reload.
//!
//! A running process cannot see a changed environment, so a filter meant to change without a
//! restart comes from a file: `--log-filter-file FILE` (`DEFENDER_BRIDGE_LOG_FILTER_FILE`). Its
//! text (comment lines starting with `#` and blank lines ignored, the rest joined with commas)
//! is the filter, read at start-up and again on SIGHUP. Without the file: `RUST_LOG`, else
//! `info`, fixed for the life of the process. A file that does not parse is refused at start-up
//! and, on SIGHUP, leaves the filter in force as it was.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing_subscriber::{EnvFilter, Registry, reload};

/// The largest filter file read (a filter is a line or two).
const MAX_FILTER_FILE_BYTES: u64 = 64 * 1024;

/// The installed filter, when it comes from a file.
struct FileFilter {
    path: PathBuf,
    handle: reload::Handle<EnvFilter, Registry>,
    text: Mutex<String>,
}

static FILE_FILTER: OnceLock<FileFilter> = OnceLock::new();

/// Reads and parses the filter file: the filter, and its normalised text.
pub(super) fn read(path: &Path) -> Result<(EnvFilter, String), String> {
    let text = crate::config::file::read_capped(path, MAX_FILTER_FILE_BYTES)?;
    let directives: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let joined = directives.join(",");
    let filter = EnvFilter::builder()
        .parse(&joined)
        .map_err(|e| format!("{}: not a log filter: {e}", path.display()))?;
    Ok((filter, joined))
}

/// Remembers the file and the handle that swaps the filter (once per process).
pub(super) fn installed(path: &Path, handle: reload::Handle<EnvFilter, Registry>, text: String) {
    let _ = FILE_FILTER.set(FileFilter {
        path: path.to_path_buf(),
        handle,
        text: Mutex::new(text),
    });
}

/// What re-reading the log filter file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterReload {
    /// No filter file in this process (`RUST_LOG` or the default applies, fixed).
    NotConfigured,
    /// The file holds the filter already in force.
    Unchanged,
    /// The new filter is in force.
    Applied(String),
    /// The file could not be read or parsed; the previous filter stays.
    Failed(String),
}

/// Re-reads `--log-filter-file` (what SIGHUP does).
pub fn reload() -> FilterReload {
    let Some(state) = FILE_FILTER.get() else {
        return FilterReload::NotConfigured;
    };
    let (filter, text) = match read(&state.path) {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::warn!(error = %err, "log filter not reloaded; the previous one stays in force");
            return FilterReload::Failed(err);
        }
    };
    let mut current = state.text.lock().unwrap_or_else(PoisonError::into_inner);
    if *current == text {
        return FilterReload::Unchanged;
    }
    if let Err(err) = state.handle.reload(filter) {
        return FilterReload::Failed(err.to_string());
    }
    tracing::info!(filter = %text, "log filter reloaded");
    *current = text.clone();
    FilterReload::Applied(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped_and_a_bad_directive_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("filter");
        std::fs::write(
            &path,
            "# quiet access lines\n\ninfo\n  defender_bridge::access=warn \n",
        )
        .expect("write");
        let (_, text) = read(&path).expect("parses");
        assert_eq!(text, "info,defender_bridge::access=warn");
        std::fs::write(&path, "defender_bridge=loud\n").expect("write");
        let err = read(&path).expect_err("refused");
        assert!(err.contains("not a log filter"), "{err}");
        assert!(read(&dir.path().join("missing")).is_err());
    }
}
