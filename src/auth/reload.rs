//! Keeping the callers file current: it is re-read when it (or a JWKS file it names) changes,
//! checked every [`POLL_INTERVAL`], and at once on SIGHUP (`crate::admin::reload`). A file that does not load keeps the
//! previous one in force, and the log says why (never a key or hash value). Removing an entry
//! revokes it for the next call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::callers_file::{Callers, CallersError};

/// How often the files are checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The files are as they were.
    Unchanged,
    /// The new file is in force.
    Applied,
    /// The new file did not load; the previous one stays in force.
    Kept(String),
}

/// The callers file and the configuration loaded from it.
#[derive(Debug)]
pub struct CallersSource {
    path: PathBuf,
    current: RwLock<Arc<Callers>>,
    fingerprint: Mutex<[u8; 32]>,
}

impl CallersSource {
    /// Loads `path` (a failure here stops the start-up).
    pub fn open(path: &Path) -> Result<Self, CallersError> {
        let callers = Callers::load(path)?;
        let fingerprint = fingerprint(path, &callers.watched_files());
        tracing::info!(
            path = %path.display(),
            api_keys = callers.api_keys.len(),
            certificates = callers.certificates.len(),
            issuers = callers.issuers.len(),
            "callers file loaded"
        );
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(callers)),
            fingerprint: Mutex::new(fingerprint),
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Callers> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Fetches the issuers' `jwks_url` keys that are due (see [`super::jwks_url`]).
    pub async fn refresh_remote_keys(&self) {
        for remote in self.current().remote_jwks() {
            remote.refresh_if_due().await;
        }
    }

    /// Re-reads the files if they changed since the last look.
    pub fn reload(&self) -> Reloaded {
        let jwks = self.current().watched_files();
        let now = fingerprint(&self.path, &jwks);
        {
            let mut last = self
                .fingerprint
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *last == now {
                return Reloaded::Unchanged;
            }
            // A bad file is reported once, not at every look.
            *last = now;
        }
        match Callers::load(&self.path) {
            Ok(mut callers) => {
                callers.keep_fetched_keys(&self.current());
                tracing::info!(
                    path = %self.path.display(),
                    api_keys = callers.api_keys.len(),
                    certificates = callers.certificates.len(),
                    issuers = callers.issuers.len(),
                    "callers file reloaded"
                );
                // The new file may name other JWKS files: remember what it was loaded from.
                let fp = fingerprint(&self.path, &callers.watched_files());
                *self
                    .fingerprint
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = fp;
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(callers);
                Reloaded::Applied
            }
            Err(err) => {
                tracing::warn!(error = %err, "callers file not reloaded; the previous one stays in force");
                Reloaded::Kept(err.to_string())
            }
        }
    }
}

/// A digest of the callers file's and the JWKS files' contents (a missing file counts as a
/// distinct content, so its return is noticed too).
fn fingerprint(path: &Path, jwks: &[PathBuf]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for p in std::iter::once(path).chain(jwks.iter().map(PathBuf::as_path)) {
        match std::fs::read(p) {
            Ok(bytes) => {
                hasher.update(b"ok");
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(&bytes);
            }
            Err(err) => hasher.update(format!("err:{:?}", err.kind()).as_bytes()),
        }
    }
    hasher.finalize().into()
}

/// Re-reads the files every `interval` (SIGHUP re-reads them at once: `crate::admin::reload`),
/// and fetches the `jwks_url` keys when due (the first time at once), until `source` is
/// dropped.
pub fn watch(source: Weak<CallersSource>, interval: Duration) {
    tokio::spawn(async move {
        match source.upgrade() {
            Some(source) => source.refresh_remote_keys().await,
            None => return,
        }
        loop {
            tokio::time::sleep(interval).await;
            let Some(source) = source.upgrade() else {
                return;
            };
            // File reads are small; keep them off the async workers anyway.
            let reloading = Arc::clone(&source);
            let _ = tokio::task::spawn_blocking(move || reloading.reload()).await;
            source.refresh_remote_keys().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> String {
        let (_, e) = crate::auth::api_key::keygen(name, &["reader".into()]).expect("entry");
        e
    }

    #[test]
    fn a_bad_reload_keeps_the_previous_file_and_a_good_one_applies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("callers.toml");
        std::fs::write(&path, entry("a")).expect("write");
        let source = CallersSource::open(&path).expect("loads");
        assert_eq!(source.reload(), Reloaded::Unchanged);
        std::fs::write(&path, "[[api_key]]\nname = \"b\"\n").expect("write");
        assert!(matches!(source.reload(), Reloaded::Kept(_)));
        assert_eq!(source.current().api_keys[0].name, "a");
        assert_eq!(source.reload(), Reloaded::Unchanged, "reported once");
        std::fs::write(&path, format!("{}{}", entry("a"), entry("c"))).expect("write");
        assert_eq!(source.reload(), Reloaded::Applied);
        assert_eq!(source.current().api_keys.len(), 2);
    }
}
