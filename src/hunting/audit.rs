//! The audit of hunting queries: a query reads whatever the tenant's data holds, so who asked
//! what is recorded like an action, in the same durable audit log.
//!
//! - A `requested` record (caller, tenant, backend, the query's SHA-256 and its text up to
//!   [`MAX_AUDITED_QUERY_CHARS`]) is written before the query is sent. If it cannot be written
//!   the query is not run (UNAVAILABLE, `AUDIT_LOG_UNAVAILABLE`).
//! - An `outcome` record follows when the result stream ends: `succeeded` with the rows sent
//!   and whether the backend cut the result, `failed` with the error, or `cancelled` when the
//!   caller went away (or the server shut down) before the end. It is written before the
//!   stream's last message reaches the caller (best effort when cancelled).

use futures::{Stream, StreamExt as _};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::actions::audit::{AuditCaller, AuditFailure};
use crate::actions::{AuditLog, Caller};
use crate::config::HuntingBackend;
use crate::error::ServiceError;
use crate::proto::run_hunting_query_response::Payload;

use super::HuntingMessage;

/// Longest query text kept in a record, in characters (the SHA-256 covers the whole text).
pub const MAX_AUDITED_QUERY_CHARS: usize = 4096;

/// One hunting line of the audit log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HuntingAuditRecord {
    /// When the record was written, RFC 3339 UTC.
    pub time: String,
    /// `requested` or `outcome`.
    pub event: &'static str,
    /// Ties the two records of one query together.
    pub audit_id: String,
    /// Always `RunHuntingQuery`.
    pub action: &'static str,
    /// Who asked.
    pub caller: AuditCaller,
    /// The tenant.
    pub tenant: String,
    /// `graph` or `defender`.
    pub backend: String,
    /// Hex SHA-256 of the full query text.
    pub query_sha256: String,
    /// The query text, cut at [`MAX_AUDITED_QUERY_CHARS`].
    pub query: String,
    /// Whether `query` was cut.
    pub query_truncated: bool,
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    pub result: &'static str,
    /// Rows sent to the caller (outcome records).
    pub rows: Option<u64>,
    /// The backend cut the result short (outcome records).
    pub result_truncated: Option<bool>,
    /// The failure, for `failed`.
    pub error: Option<AuditFailure>,
}

impl HuntingAuditRecord {
    /// The `requested` record of `query`.
    pub fn requested(caller: &Caller, tenant: &str, backend: HuntingBackend, query: &str) -> Self {
        let cut = query
            .char_indices()
            .nth(MAX_AUDITED_QUERY_CHARS)
            .map(|(i, _)| i);
        Self {
            time: now(),
            event: "requested",
            audit_id: uuid::Uuid::new_v4().to_string(),
            action: "RunHuntingQuery",
            caller: AuditCaller::of(caller),
            tenant: tenant.to_string(),
            backend: backend.to_string(),
            query_sha256: hex::encode(Sha256::digest(query.as_bytes())),
            query: query[..cut.unwrap_or(query.len())].to_string(),
            query_truncated: cut.is_some(),
            result: "pending",
            rows: None,
            result_truncated: None,
            error: None,
        }
    }

    /// The `outcome` record of the same query.
    pub fn outcome(
        &self,
        result: &'static str,
        rows: u64,
        truncated: bool,
        err: Option<&ServiceError>,
    ) -> Self {
        Self {
            time: now(),
            event: "outcome",
            result,
            rows: Some(rows),
            result_truncated: Some(truncated),
            error: err.map(|e| AuditFailure {
                code: format!("{:?}", e.code()),
                reason: e.reason().to_string(),
                message: e.to_string(),
            }),
            ..self.clone()
        }
    }
}

/// Writes the `requested` record; an error means the query must not run.
pub async fn requested(log: &AuditLog, record: &HuntingAuditRecord) -> Result<(), ServiceError> {
    log.append(record)
        .await
        .map_err(|err| ServiceError::AuditLogUnavailable {
            detail: err.to_string(),
            action_id: None,
        })
}

/// Writes the `outcome` record of a query that failed before its stream started.
pub async fn failed(log: &AuditLog, record: &HuntingAuditRecord, err: &ServiceError) {
    write_outcome(log, record.outcome("failed", 0, false, Some(err))).await;
}

async fn write_outcome(log: &AuditLog, record: HuntingAuditRecord) {
    if let Err(err) = log.append(&record).await {
        tracing::error!(error = %err, result = record.result, audit_id = %record.audit_id, "hunting outcome record not written");
    }
}

/// Counts what a result stream sends and writes its outcome record when it ends.
struct Tally {
    log: AuditLog,
    record: HuntingAuditRecord,
    rows: u64,
    truncated: bool,
    done: bool,
}

impl Tally {
    fn see(&mut self, message: &HuntingMessage) {
        if let Ok(response) = message {
            match &response.payload {
                Some(Payload::Rows(batch)) => self.rows += batch.rows.len() as u64,
                Some(Payload::Summary(summary)) => {
                    self.rows = u64::try_from(summary.row_count).unwrap_or(self.rows);
                    self.truncated = summary.truncated;
                }
                _ => {}
            }
        }
    }

    async fn finish(&mut self, err: Option<&ServiceError>) {
        self.done = true;
        let result = if err.is_some() { "failed" } else { "succeeded" };
        let record = self.record.outcome(result, self.rows, self.truncated, err);
        write_outcome(&self.log, record).await;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let record = self
            .record
            .outcome("cancelled", self.rows, self.truncated, None);
        let log = self.log.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { write_outcome(&log, record).await });
        }
    }
}

/// `stream` with its outcome audited (see the module docs).
pub fn audited<S>(
    stream: S,
    log: AuditLog,
    record: HuntingAuditRecord,
) -> impl Stream<Item = HuntingMessage> + Send + 'static
where
    S: Stream<Item = HuntingMessage> + Send + Unpin + 'static,
{
    let tally = Tally {
        log,
        record,
        rows: 0,
        truncated: false,
        done: false,
    };
    futures::stream::unfold(Some((stream, tally)), |state| async move {
        let (mut stream, mut tally) = state?;
        match stream.next().await {
            None => {
                tally.finish(None).await;
                None
            }
            Some(Err(err)) => {
                tally.finish(Some(&err)).await;
                Some((Err(err), None))
            }
            Some(Ok(message)) => {
                let message = Ok(message);
                tally.see(&message);
                // The summary is the last message: record the outcome before it leaves.
                let last =
                    matches!(&message, Ok(r) if matches!(r.payload, Some(Payload::Summary(_))));
                if last {
                    tally.finish(None).await;
                    return Some((message, None));
                }
                Some((message, Some((stream, tally))))
            }
        }
    })
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}
