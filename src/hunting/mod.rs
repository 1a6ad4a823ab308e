//! Advanced hunting for `RunHuntingQuery`: validate the query, run it on the configured backend
//! (Microsoft Graph `runHuntingQuery` or Defender's `advancedqueries/run`), and turn the answer,
//! decoded as it arrives, into the stream of the proto: the schema, row batches that each stay
//! well under gRPC's 4 MiB message limit, then a summary.
//!
//! Memory is bounded by a batch, not by the result: the Defender client decodes the HTTP body
//! row by row ([`crate::defender::HuntingStream`]), rows are converted and batched here, and the
//! channel to the gRPC stream holds at most [`CHANNEL_MESSAGES`] batch, so a slow caller slows
//! the upstream read instead of filling memory.
//!
//! Layout: [`values`] (cells, JSON → `google.protobuf.Value`), `stream` (the batching task),
//! [`audit`] (every query audited: caller, query hash and text, rows, outcome).

pub mod audit;
mod stream;
pub mod values;

use std::time::Duration;

use tokio::sync::mpsc;

use crate::check::Capability;
use crate::config::HuntingBackend;
use crate::defender::{ApiFamily, CallOptions, DefenderClient, DefenderError, HuntingStream};
use crate::error::ServiceError;
use crate::proto;

pub use stream::RowBatcher;

/// Longest query text accepted, in bytes of UTF-8 (64 KiB). Neither backend documents a limit.
pub const MAX_QUERY_BYTES: usize = 65_536;
/// Rows per batch when the request says 0.
pub const DEFAULT_BATCH_ROWS: usize = 1_000;
/// Most rows per batch a request may ask for.
pub const MAX_BATCH_ROWS: usize = 10_000;
/// Target encoded size of one batch message: a quarter of gRPC's default 4 MiB limit, so callers
/// with default settings always have room. Kept this small because a batch takes several times
/// its encoded size in memory while it is built and sent (a `Value` per cell, a `String` per
/// text), and a few batches are alive at once.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// gRPC's default largest message; a single row that cannot fit in one is an error.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The backends' row limit: a result this long may have been cut.
pub const BACKEND_ROW_LIMIT: u64 = 100_000;
/// Messages buffered between the upstream reader and the gRPC stream: one, so the next batch is
/// being built while the previous one is sent, and no more.
pub const CHANNEL_MESSAGES: usize = 1;

/// A validated `RunHuntingQuery`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HuntingRequest {
    /// The KQL text, as given.
    pub query: String,
    /// Most rows per batch.
    pub batch_rows: usize,
}

impl HuntingRequest {
    /// Validates `query` (non-empty, at most [`MAX_QUERY_BYTES`]) and `batch_rows` (0 means
    /// [`DEFAULT_BATCH_ROWS`], else 1 to [`MAX_BATCH_ROWS`]); INVALID_FIELD otherwise, before any
    /// upstream call.
    pub fn new(query: &str, batch_rows: i32) -> Result<Self, ServiceError> {
        if query.trim().is_empty() {
            return Err(ServiceError::invalid(
                "query",
                "is required: give a KQL query, e.g. \"DeviceInfo | take 10\"",
            ));
        }
        if query.len() > MAX_QUERY_BYTES {
            return Err(ServiceError::invalid(
                "query",
                format!(
                    "is {} bytes; at most {MAX_QUERY_BYTES} bytes of UTF-8 are accepted",
                    query.len()
                ),
            ));
        }
        let batch_rows = match usize::try_from(batch_rows) {
            Ok(0) => DEFAULT_BATCH_ROWS,
            Ok(n) if n <= MAX_BATCH_ROWS => n,
            _ => {
                return Err(ServiceError::invalid(
                    "batch_rows",
                    format!("must be 0 (default {DEFAULT_BATCH_ROWS}) or 1 to {MAX_BATCH_ROWS}"),
                ));
            }
        };
        Ok(Self {
            query: query.to_owned(),
            batch_rows,
        })
    }
}

/// One message of the result stream, or the error that ends it.
pub type HuntingMessage = Result<proto::RunHuntingQueryResponse, ServiceError>;

/// Runs `request` on `backend` and returns the result stream. Failures before the first row
/// (permission, throttling, a query the backend rejects) are this call's error; later ones end
/// the stream.
pub async fn run_query(
    client: &DefenderClient,
    backend: HuntingBackend,
    request: HuntingRequest,
    opts: &CallOptions,
) -> Result<mpsc::Receiver<HuntingMessage>, ServiceError> {
    let upstream = open(client, backend, &request.query, opts)
        .await
        .map_err(|e| hunting_error(e, backend))?;
    let (tx, rx) = mpsc::channel(CHANNEL_MESSAGES);
    tokio::spawn(crate::metrics::in_current_call(stream::forward(
        upstream,
        backend,
        request.batch_rows,
        tx,
    )));
    Ok(rx)
}

async fn open(
    client: &DefenderClient,
    backend: HuntingBackend,
    query: &str,
    opts: &CallOptions,
) -> Result<HuntingStream, DefenderError> {
    match backend {
        HuntingBackend::Graph => client.open_graph_hunting_query(query, opts).await,
        HuntingBackend::Defender => client.open_advanced_query(query, opts).await,
    }
}

/// The application permission hunting needs on `backend`.
pub fn permission(backend: HuntingBackend) -> &'static str {
    Capability::Hunting
        .permissions(backend)
        .first()
        .copied()
        .unwrap_or("ThreatHunting.Read.All")
}

fn backend_name(backend: HuntingBackend) -> &'static str {
    match backend {
        HuntingBackend::Graph => "Microsoft Graph",
        HuntingBackend::Defender => "Defender",
    }
}

fn family(backend: HuntingBackend) -> ApiFamily {
    match backend {
        HuntingBackend::Graph => ApiFamily::GraphHunting,
        HuntingBackend::Defender => ApiFamily::AdvancedHunting,
    }
}

/// The service error of a hunting failure. Unlike the general map: any 403 names the backend's
/// hunting permission (Graph's 403 wording differs from Defender's), a throttle names the
/// backend's quota (or `cpu` for the CPU-time quota), a 400 is about the `query` field, and a
/// 404 means a misconfigured endpoint rather than a missing resource.
pub fn hunting_error(err: DefenderError, backend: HuntingBackend) -> ServiceError {
    match err {
        DefenderError::MissingPermission { required, .. } if !required.is_empty() => {
            ServiceError::MissingAppPermission {
                permissions: required,
            }
        }
        DefenderError::MissingPermission { .. } | DefenderError::Forbidden { .. } => {
            ServiceError::MissingAppPermission {
                permissions: vec![permission(backend).to_owned()],
            }
        }
        DefenderError::Throttled {
            retry_after,
            cpu_quota,
            ..
        } => ServiceError::RateLimited {
            quota: if cpu_quota {
                "cpu".to_owned()
            } else {
                family(backend).to_string()
            },
            retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
            cpu_quota,
        },
        DefenderError::BadRequest { code, message, .. } => ServiceError::invalid(
            "query",
            format!(
                "{} rejected the query ({code}): {message}",
                backend_name(backend)
            ),
        ),
        DefenderError::NotFound { message, .. } => ServiceError::UpstreamUnavailable {
            message: format!(
                "the {} hunting endpoint answered 404 ({message}); check DEFENDER_GRAPH_URL / DEFENDER_API_URL",
                backend_name(backend)
            ),
            retry_after: None,
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_must_be_non_empty_and_at_most_64_kib() {
        for bad in ["", "   \n\t"] {
            assert!(matches!(
                HuntingRequest::new(bad, 0),
                Err(ServiceError::InvalidField { ref field, .. }) if field == "query"
            ));
        }
        let at_limit = "a".repeat(MAX_QUERY_BYTES);
        assert!(HuntingRequest::new(&at_limit, 0).is_ok());
        // Bytes, not characters: 'é' is two bytes.
        let over = "é".repeat(MAX_QUERY_BYTES / 2 + 1);
        assert!(HuntingRequest::new(&over, 0).is_err());
    }

    #[test]
    fn batch_rows_default_and_range() {
        assert_eq!(
            HuntingRequest::new("T", 0).map(|r| r.batch_rows).ok(),
            Some(DEFAULT_BATCH_ROWS)
        );
        assert_eq!(
            HuntingRequest::new("T", 10_000).map(|r| r.batch_rows).ok(),
            Some(10_000)
        );
        for bad in [-1, 10_001] {
            assert!(matches!(
                HuntingRequest::new("T", bad),
                Err(ServiceError::InvalidField { ref field, .. }) if field == "batch_rows"
            ));
        }
    }

    #[test]
    fn a_forbidden_answer_names_the_backends_permission() {
        let forbidden = || DefenderError::Forbidden {
            code: "Forbidden".into(),
            message: "Insufficient privileges".into(),
            target: None,
        };
        for (backend, wanted) in [
            (HuntingBackend::Graph, "ThreatHunting.Read.All"),
            (HuntingBackend::Defender, "AdvancedQuery.Read.All"),
        ] {
            match hunting_error(forbidden(), backend) {
                ServiceError::MissingAppPermission { permissions } => {
                    assert_eq!(permissions, [wanted]);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn cpu_and_call_count_throttles_name_different_quotas() {
        let throttle = |cpu_quota| DefenderError::Throttled {
            retry_after: Some(Duration::from_secs(9)),
            cpu_quota,
            message: String::new(),
            target: None,
        };
        let ServiceError::RateLimited {
            quota, cpu_quota, ..
        } = hunting_error(throttle(false), HuntingBackend::Graph)
        else {
            panic!("rate limited")
        };
        assert_eq!((quota.as_str(), cpu_quota), ("graph_hunting", false));
        let ServiceError::RateLimited {
            quota,
            cpu_quota,
            retry_after,
        } = hunting_error(throttle(true), HuntingBackend::Defender)
        else {
            panic!("rate limited")
        };
        assert_eq!((quota.as_str(), cpu_quota), ("cpu", true));
        assert_eq!(retry_after, Duration::from_secs(9));
    }

    #[test]
    fn a_rejected_query_is_an_invalid_query_field() {
        let err = DefenderError::BadRequest {
            code: "BadRequest".into(),
            message: "Failed to resolve table 'Foo'".into(),
            target: None,
        };
        match hunting_error(err, HuntingBackend::Defender) {
            ServiceError::InvalidField { field, description } => {
                assert_eq!(field, "query");
                assert!(description.contains("Foo"), "{description}");
            }
            other => panic!("{other:?}"),
        }
    }
}
