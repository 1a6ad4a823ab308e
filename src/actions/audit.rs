//! The audit log: one JSON object per line, appended to the file named by `audit_log`
//! (`DEFENDER_BRIDGE_AUDIT_LOG`), each line written and fsynced before the code moves on.
//!
//! Policy (fail closed):
//! - The file is opened (created if needed, append-only) when the server starts; a path that
//!   cannot be opened stops the start-up, so a misconfiguration shows at once.
//! - Each action request writes a `requested` record *before* anything is sent to Defender. If
//!   it cannot be written, nothing is sent and the RPC fails (UNAVAILABLE,
//!   `AUDIT_LOG_UNAVAILABLE`).
//! - Its `outcome` record (success or failure, with Defender's action id) is written before the
//!   RPC returns. If that write fails after Defender acted, the RPC does not report success: it
//!   fails INTERNAL / `AUDIT_LOG_UNAVAILABLE` naming the action id, and the record goes to the
//!   error log instead.
//! - An action whose POST may have left but whose answer was lost, and which is not (yet) in
//!   Defender's action list, has the `outcome` result `unknown`; once it is settled (found, or
//!   the settle window passed without it), a `settled` record says `succeeded` (with Defender's
//!   action id) or `failed`. So every action Defender took has its records, also one that
//!   arrived late. The `settled` record is best effort (the caller was answered already).
//! - A request answered from an earlier one (same `request_id`) adds a `replayed` record, best
//!   effort: nothing was done for it.
//!
//! Records hold the caller, the request and Defender's answer, never a token or secret: they are
//! built only from request fields and Defender's action entity. Without `audit_log` the records
//! go to the tracing log (target `defender_bridge::audit`), which is not durable; the server
//! warns about it at start-up. A path that is not a regular file (e.g. `/dev/stdout` for a
//! container's log collector) is written but cannot be fsynced. The file is never truncated or rotated by the service. It is
//! created readable by the service's user only (0600). Before each record the open file is
//! compared (device and inode) with the file at the path: if it was removed or renamed away (a
//! rotation by rename), the path is reopened (created 0600) and the record goes there; if that
//! fails, the write fails and the action with it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::caller::Caller;
use crate::defender::MachineAction;
use crate::error::ServiceError;

/// Why the audit log could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("audit log {}: {source}", path.display())]
pub struct AuditError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Where records go.
#[derive(Clone)]
enum Sink {
    File {
        path: PathBuf,
        file: Arc<Mutex<File>>,
        /// Regular files are fsynced; a device or pipe (e.g. `/dev/stdout`) cannot be.
        sync: bool,
    },
    Tracing,
}

/// The audit log (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sink: Sink,
    /// Records that could not be written (shared by clones; read by `/metrics`).
    failures: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sink {
            Sink::File { path, .. } => write!(f, "AuditLog({})", path.display()),
            Sink::Tracing => f.write_str("AuditLog(tracing)"),
        }
    }
}

impl AuditLog {
    /// Opens (creating if needed) `path` for appending, or logs to tracing without a path.
    pub fn open(path: Option<&Path>) -> Result<Self, AuditError> {
        let Some(path) = path else {
            return Ok(Self {
                sink: Sink::Tracing,
                failures: Arc::default(),
            });
        };
        let err = |source| AuditError {
            path: path.to_path_buf(),
            source,
        };
        let file = open_append(path).map_err(err)?;
        let sync = file.metadata().map_err(err)?.is_file();
        if sync {
            file.sync_all().map_err(err)?;
            // Make the file's creation itself durable.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(dir) = File::open(dir) {
                    let _ = dir.sync_all();
                }
            }
        }
        Ok(Self {
            sink: Sink::File {
                path: path.to_path_buf(),
                file: Arc::new(Mutex::new(file)),
                sync,
            },
            failures: Arc::default(),
        })
    }

    /// Records that could not be written so far.
    pub fn write_failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True when records go to a file (durably).
    pub fn is_durable(&self) -> bool {
        matches!(self.sink, Sink::File { .. })
    }

    /// Appends `record` (an [`AuditRecord`], or another record such as a hunting query's) as
    /// one line and fsyncs it.
    pub async fn append<R: Serialize>(&self, record: &R) -> Result<(), AuditError> {
        let result = self.write(record).await;
        if result.is_err() {
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    async fn write<R: Serialize>(&self, record: &R) -> Result<(), AuditError> {
        let mut line = serde_json::to_string(record).map_err(|e| AuditError {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        match &self.sink {
            Sink::Tracing => {
                tracing::info!(target: crate::telemetry::json::AUDIT_TARGET, record = %line.trim_end());
                Ok(())
            }
            Sink::File { path, file, sync } => {
                let (file, sync) = (Arc::clone(file), *sync);
                let path_for_io = path.clone();
                let path = path.clone();
                let written = tokio::task::spawn_blocking(move || {
                    let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                    if sync {
                        follow_path(&mut file, &path_for_io)?;
                    }
                    file.write_all(line.as_bytes())?;
                    if sync { file.sync_data() } else { file.flush() }
                })
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())));
                written.map_err(|source| AuditError { path, source })
            }
        }
    }
}

/// Opens `path` for appending, creating it readable by the service's user only (0600): the
/// records name callers, machines and comments.
fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes `file` the file now at `path`: if the open file was unlinked or replaced (say by a
/// rotation that moved it away), records would go to a file nobody reads, so the path is
/// reopened (created 0600). If that fails the error fails the write, and so the action (fail
/// closed).
fn follow_path(file: &mut File, path: &Path) -> std::io::Result<()> {
    if is_file_at(file, path)? {
        return Ok(());
    }
    tracing::warn!(path = %path.display(), "the audit log file was removed or replaced; reopening it");
    let reopened = open_append(path)?;
    reopened.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    *file = reopened;
    Ok(())
}

/// Whether `path` names the same file as the open `file` (device and inode).
#[cfg(unix)]
fn is_file_at(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(at_path) => Ok(open.dev() == at_path.dev() && open.ino() == at_path.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn is_file_at(_file: &File, path: &Path) -> std::io::Result<bool> {
    Ok(path.is_file())
}

/// The caller as audited.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditCaller {
    /// The verified identity (`key:NAME`, `cert:IDENTITY`, `jwt:SUB`) with a callers file;
    /// without one `anonymous` or `unverified:<x-caller-id>`.
    pub principal: String,
    /// Peer address.
    pub peer: String,
    /// Whether the identity was verified (callers file: API key, JWT or client certificate).
    pub authenticated: bool,
    /// A verified caller's `x-caller-id`: whom it says it acts for (unverified).
    pub on_behalf_of: Option<String>,
}

impl AuditCaller {
    /// The caller as audited.
    pub fn of(caller: &Caller) -> Self {
        Self {
            principal: caller.principal_label(),
            peer: caller.peer_label(),
            authenticated: caller.is_verified(),
            on_behalf_of: caller.on_behalf_of().map(str::to_string),
        }
    }
}

/// The error of a failed request, as audited.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditFailure {
    /// gRPC code name.
    pub code: String,
    /// `ErrorInfo.reason`.
    pub reason: String,
    /// The status message.
    pub message: String,
}

/// One line of the audit log. Every field is always present (null when not applicable).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditRecord {
    /// When the record was written, RFC 3339 UTC.
    pub time: String,
    /// `requested`, `outcome`, `settled` (the late outcome of an `unknown` one) or `replayed`.
    pub event: &'static str,
    /// Ties a request's `requested` and `outcome` records together.
    pub audit_id: String,
    /// Who asked.
    pub caller: AuditCaller,
    /// The caller's `request_id`.
    pub request_id: Option<String>,
    /// The tenant.
    pub tenant: String,
    /// The machine acted on (for a cancellation: the action's machine, once known).
    pub machine_id: Option<String>,
    /// `Isolate`, `Unisolate`, `RunAntiVirusScan` or `Cancel`.
    pub action: &'static str,
    /// The action's parameters (isolation or scan type; the cancelled action's id).
    pub parameters: serde_json::Value,
    /// The caller's comment.
    pub comment: String,
    /// The comment as sent to Defender (with the caller stamp).
    pub defender_comment: String,
    /// Defender's machine action id.
    pub defender_action_id: Option<String>,
    /// Defender's status of that action when the record was written.
    pub defender_status: Option<String>,
    /// `pending` (requested), `succeeded`, `failed`, `unknown` (the request may have reached
    /// Defender; a `settled` record follows), `unchanged` (cancel of a finished action) or
    /// `replayed`.
    pub result: &'static str,
    /// True when the outcome was found by looking through Defender's action list after the
    /// request's answer was lost.
    pub reconciled: bool,
    /// The failure, for `failed`.
    pub error: Option<AuditFailure>,
}

impl AuditRecord {
    /// The `requested` record of a request.
    #[allow(clippy::too_many_arguments)]
    pub fn requested(
        caller: &Caller,
        tenant: &str,
        request_id: Option<&str>,
        machine_id: Option<&str>,
        action: &'static str,
        parameters: serde_json::Value,
        comment: &str,
        defender_comment: &str,
    ) -> Self {
        Self {
            time: now(),
            event: "requested",
            audit_id: uuid::Uuid::new_v4().to_string(),
            caller: AuditCaller::of(caller),
            request_id: request_id.map(str::to_string),
            tenant: tenant.to_string(),
            machine_id: machine_id.map(str::to_string),
            action,
            parameters,
            comment: comment.to_string(),
            defender_comment: defender_comment.to_string(),
            defender_action_id: None,
            defender_status: None,
            result: "pending",
            reconciled: false,
            error: None,
        }
    }

    /// The `outcome` record of the same request: succeeded (or `result`) with Defender's action.
    pub fn succeeded(
        &self,
        action: &MachineAction,
        result: &'static str,
        reconciled: bool,
    ) -> Self {
        let mut out = self.follow_up("outcome", result);
        out.defender_action_id = action.id.clone();
        out.defender_status = action.status.as_ref().map(ToString::to_string);
        if out.machine_id.is_none() {
            out.machine_id = action.machine_id.clone();
        }
        out.reconciled = reconciled;
        out
    }

    /// The `outcome` record of the same request: failed with `err`.
    pub fn failed(&self, err: &ServiceError) -> Self {
        let mut out = self.follow_up("outcome", "failed");
        out.reconciled = matches!(err, ServiceError::ActionNotConfirmed { .. });
        if let ServiceError::ActionAlreadyPending {
            pending_action_id, ..
        } = err
        {
            out.defender_action_id = pending_action_id.clone();
        }
        out.error = Some(AuditFailure {
            code: format!("{:?}", err.code()),
            reason: err.reason().to_string(),
            message: err.to_string(),
        });
        out
    }

    /// The `outcome` record of a request whose POST may have reached Defender and whose action
    /// is not found yet: `unknown`, with the answer the caller got.
    pub fn unknown(&self, answer: &ServiceError) -> Self {
        let mut out = self.failed(answer);
        out.result = "unknown";
        out
    }

    /// The `settled` record of a request whose outcome was `unknown`: the action Defender took
    /// (`succeeded`, found in its list), or the failure once the settle window has passed.
    pub fn settled(&self, outcome: Result<(&MachineAction, &'static str), &ServiceError>) -> Self {
        let mut out = match outcome {
            Ok((action, result)) => self.succeeded(action, result, true),
            Err(err) => self.failed(err),
        };
        out.event = "settled";
        out
    }

    /// The `replayed` record of a request answered from an earlier one.
    pub fn replayed(&self, action: &MachineAction) -> Self {
        let mut out = self.succeeded(action, "replayed", false);
        out.event = "replayed";
        out
    }

    fn follow_up(&self, event: &'static str, result: &'static str) -> Self {
        Self {
            time: now(),
            event,
            result,
            ..self.clone()
        }
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        let caller = Caller {
            principal: super::super::caller::Principal::Anonymous,
            peer: "127.0.0.1:9".parse().ok(),
        };
        AuditRecord::requested(
            &caller,
            "t",
            Some("r1"),
            Some("m"),
            "Isolate",
            serde_json::json!({"isolation_type": "Full"}),
            "why",
            "why [defender-bridge ...]",
        )
    }

    #[tokio::test]
    async fn records_are_appended_as_json_lines_across_reopenings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(Some(&path)).expect("opens");
        assert!(log.is_durable());
        let r = record();
        log.append(&r).await.expect("written");
        drop(log);
        let log = AuditLog::open(Some(&path)).expect("reopens");
        let action = MachineAction {
            id: Some("a-1".into()),
            ..MachineAction::default()
        };
        log.append(&r.succeeded(&action, "succeeded", false))
            .await
            .expect("written");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "requested");
        assert_eq!(lines[1]["event"], "outcome");
        assert_eq!(lines[1]["defender_action_id"], "a-1");
        assert_eq!(lines[0]["audit_id"], lines[1]["audit_id"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_created_private_and_an_unlinked_file_is_replaced() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(Some(&path)).expect("opens");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        log.append(&record()).await.expect("written");
        std::fs::remove_file(&path).expect("unlink");
        let second = record();
        log.append(&second).await.expect("written to a new file");
        let text = std::fs::read_to_string(&path).expect("a new file at the path");
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains(&second.audit_id));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Replaced by another file (a rotation by rename): records follow the path.
        std::fs::rename(&path, dir.path().join("audit.jsonl.1")).expect("rename");
        std::fs::write(&path, "").expect("new file");
        let third = record();
        log.append(&third).await.expect("written");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .contains(&third.audit_id)
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_path_that_cannot_be_recreated_fails_the_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("logs");
        std::fs::create_dir(&sub).expect("mkdir");
        let path = sub.join("audit.jsonl");
        let log = AuditLog::open(Some(&path)).expect("opens");
        std::fs::remove_dir_all(&sub).expect("remove the directory");
        assert!(log.append(&record()).await.is_err());
    }

    #[test]
    fn an_unwritable_path_fails_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("audit.jsonl");
        assert!(AuditLog::open(Some(&path)).is_err());
    }

    #[test]
    fn failed_records_carry_code_and_reason() {
        let r = record().failed(&ServiceError::ActionAlreadyPending {
            machine_id: "m".into(),
            action: "Isolate".into(),
            pending_action_id: Some("p-1".into()),
        });
        assert_eq!(r.result, "failed");
        assert_eq!(r.defender_action_id.as_deref(), Some("p-1"));
        let e = r.error.expect("error");
        assert_eq!(e.reason, "ACTION_ALREADY_PENDING");
        assert_eq!(e.code, "AlreadyExists");
    }
}
