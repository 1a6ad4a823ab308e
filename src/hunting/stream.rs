//! The task between the upstream answer and the gRPC stream: schema first, rows converted and
//! gathered into batches by count and by encoded size, statistics kept for the summary.
//!
//! Batches are measured, not estimated: each row's encoded length is known before it joins a
//! batch, so a batch closes before it would pass [`MAX_BATCH_BYTES`]. Wide rows (long command
//! lines, large dynamic columns) therefore give smaller batches rather than oversized messages.

use prost::Message as _;
use prost::encoding::encoded_len_varint;
use serde_json::Value;
use tokio::sync::mpsc;

use super::values::{self, RowShape};
use super::{BACKEND_ROW_LIMIT, HuntingMessage, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, hunting_error};
use crate::config::HuntingBackend;
use crate::defender::{HuntingColumn, HuntingEvent, HuntingStream};
use crate::error::ServiceError;
use crate::proto;
use crate::proto::run_hunting_query_response::Payload;

/// Room for the envelope around a batch: the `rows` field's tag and length (1 + up to 10 bytes).
const ENVELOPE_BYTES: usize = 16;

/// Gathers rows into batches of at most `max_rows` rows and about `max_bytes` encoded bytes.
#[derive(Debug)]
pub struct RowBatcher {
    rows: Vec<proto::HuntingRow>,
    bytes: usize,
    max_rows: usize,
    max_bytes: usize,
}

impl RowBatcher {
    /// A batcher for batches of `max_rows` rows and at most `max_bytes` encoded bytes.
    pub fn new(max_rows: usize, max_bytes: usize) -> Self {
        Self {
            rows: Vec::new(),
            bytes: 0,
            max_rows: max_rows.max(1),
            max_bytes,
        }
    }

    /// Adds a row; returns the batch it closed, if any. A row that could not travel even alone
    /// in one [`MAX_MESSAGE_BYTES`] message is refused.
    pub fn push(
        &mut self,
        row: proto::HuntingRow,
    ) -> Result<Option<proto::HuntingRowBatch>, usize> {
        let len = row.encoded_len();
        let framed = 1 + encoded_len_varint(len as u64) + len;
        if framed + ENVELOPE_BYTES > MAX_MESSAGE_BYTES {
            return Err(framed);
        }
        let full = !self.rows.is_empty()
            && (self.rows.len() >= self.max_rows || self.bytes + framed > self.max_bytes);
        let closed = if full { self.take() } else { None };
        self.rows.push(row);
        self.bytes += framed;
        Ok(closed)
    }

    /// The rows gathered so far, if any, as a batch.
    pub fn take(&mut self) -> Option<proto::HuntingRowBatch> {
        if self.rows.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(proto::HuntingRowBatch {
            rows: std::mem::take(&mut self.rows),
        })
    }
}

/// Reads `upstream` to its end, sending schema, batches and summary to `tx`. Stops early (and
/// so drops the upstream connection) when the caller goes away.
pub(super) async fn forward(
    mut upstream: HuntingStream,
    backend: HuntingBackend,
    batch_rows: usize,
    tx: mpsc::Sender<HuntingMessage>,
) {
    let mut shape: Option<RowShape> = None;
    let mut batcher = RowBatcher::new(batch_rows, MAX_BATCH_BYTES - ENVELOPE_BYTES);
    let mut statistics: Option<Value> = None;
    let mut row_count: u64 = 0;
    let send = |message: HuntingMessage| {
        let tx = tx.clone();
        async move { tx.send(message).await.is_ok() }
    };
    while let Some(event) = upstream.next_event().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, rows = row_count, "hunting answer failed mid-stream");
                send(Err(hunting_error(err, backend))).await;
                return;
            }
        };
        match event {
            HuntingEvent::Schema(columns) => {
                if shape.is_none() {
                    shape = Some(RowShape::new(&columns));
                    if !send(Ok(schema_message(columns))).await {
                        return;
                    }
                }
            }
            HuntingEvent::Row(row) => {
                let shape = match &mut shape {
                    Some(shape) => shape,
                    None => {
                        // Rows before the schema: use the first row's members rather than
                        // holding every row until the schema turns up.
                        let columns = values::infer_schema(&row);
                        if !send(Ok(schema_message(columns.clone()))).await {
                            return;
                        }
                        shape.insert(RowShape::new(&columns))
                    }
                };
                let row = proto::HuntingRow {
                    values: shape.convert(row),
                };
                match batcher.push(row) {
                    Ok(None) => {}
                    Ok(Some(batch)) => {
                        if !send(Ok(rows_message(batch))).await {
                            return;
                        }
                    }
                    Err(bytes) => {
                        send(Err(ServiceError::invalid(
                            "query",
                            format!(
                                "result row {} is {bytes} bytes encoded, more than one {MAX_MESSAGE_BYTES}-byte gRPC message holds: project fewer or smaller columns",
                                row_count + 1
                            ),
                        )))
                        .await;
                        return;
                    }
                }
                row_count += 1;
            }
            HuntingEvent::Stats(stats) => statistics = Some(stats),
        }
    }
    if shape.is_none() && !send(Ok(schema_message(Vec::new()))).await {
        return;
    }
    if let Some(batch) = batcher.take() {
        if !send(Ok(rows_message(batch))).await {
            return;
        }
    }
    tracing::debug!(
        rows = row_count,
        bytes = upstream.bytes_read(),
        family = %upstream.family(),
        "hunting answer streamed"
    );
    send(Ok(summary_message(row_count, statistics, backend))).await;
}

fn schema_message(columns: Vec<HuntingColumn>) -> proto::RunHuntingQueryResponse {
    proto::RunHuntingQueryResponse {
        payload: Some(Payload::Schema(proto::HuntingSchema {
            columns: columns
                .into_iter()
                .map(|c| proto::HuntingColumn {
                    name: c.name,
                    r#type: c.r#type,
                })
                .collect(),
        })),
    }
}

fn rows_message(batch: proto::HuntingRowBatch) -> proto::RunHuntingQueryResponse {
    proto::RunHuntingQueryResponse {
        payload: Some(Payload::Rows(batch)),
    }
}

fn summary_message(
    row_count: u64,
    statistics: Option<Value>,
    backend: HuntingBackend,
) -> proto::RunHuntingQueryResponse {
    let statistics = statistics.map(|stats| match stats {
        Value::Object(map) => values::structure(map),
        other => values::structure(serde_json::Map::from_iter([("value".to_owned(), other)])),
    });
    proto::RunHuntingQueryResponse {
        payload: Some(Payload::Summary(proto::HuntingSummary {
            row_count: i64::try_from(row_count).unwrap_or(i64::MAX),
            truncated: row_count >= BACKEND_ROW_LIMIT,
            statistics,
            backend: match backend {
                HuntingBackend::Graph => proto::HuntingBackend::Graph,
                HuntingBackend::Defender => proto::HuntingBackend::Defender,
            } as i32,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Value as ProtoValue;
    use prost_types::value::Kind;

    fn row(text_len: usize) -> proto::HuntingRow {
        proto::HuntingRow {
            values: vec![
                ProtoValue {
                    kind: Some(Kind::StringValue("x".repeat(text_len))),
                },
                ProtoValue {
                    kind: Some(Kind::NumberValue(1.0)),
                },
            ],
        }
    }

    fn drain(
        batcher: &mut RowBatcher,
        rows: impl Iterator<Item = proto::HuntingRow>,
    ) -> Vec<proto::HuntingRowBatch> {
        let mut batches = Vec::new();
        for r in rows {
            if let Some(b) = batcher.push(r).expect("fits") {
                batches.push(b);
            }
        }
        batches.extend(batcher.take());
        batches
    }

    #[test]
    fn batches_close_at_the_row_count() {
        let mut batcher = RowBatcher::new(3, MAX_BATCH_BYTES);
        let batches = drain(&mut batcher, (0..7).map(|_| row(10)));
        let sizes: Vec<usize> = batches.iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
    }

    #[test]
    fn wide_rows_give_smaller_batches_that_stay_under_the_byte_budget() {
        let budget = 64 * 1024;
        let mut batcher = RowBatcher::new(10_000, budget);
        let batches = drain(&mut batcher, (0..100).map(|_| row(5_000)));
        assert_eq!(batches.iter().map(|b| b.rows.len()).sum::<usize>(), 100);
        assert!(batches.len() > 5, "{} batches", batches.len());
        for batch in &batches {
            let message = rows_message(batch.clone());
            assert!(
                message.encoded_len() <= budget + ENVELOPE_BYTES,
                "{}",
                message.encoded_len()
            );
        }
    }

    #[test]
    fn a_row_too_large_for_any_message_is_refused() {
        let mut batcher = RowBatcher::new(10, MAX_BATCH_BYTES);
        assert!(batcher.push(row(MAX_MESSAGE_BYTES)).is_err());
        assert!(batcher.push(row(10)).expect("small row").is_none());
        assert_eq!(batcher.take().map(|b| b.rows.len()), Some(1));
        assert!(batcher.take().is_none());
    }

    #[test]
    fn summary_flags_a_result_at_the_backend_row_limit_as_possibly_cut() {
        let Some(Payload::Summary(s)) =
            summary_message(BACKEND_ROW_LIMIT, None, HuntingBackend::Graph).payload
        else {
            panic!("summary")
        };
        assert!(s.truncated);
        assert_eq!(s.backend, proto::HuntingBackend::Graph as i32);
        let Some(Payload::Summary(s)) = summary_message(
            5,
            Some(serde_json::json!({"ExecutionTime": 1.5})),
            HuntingBackend::Defender,
        )
        .payload
        else {
            panic!("summary")
        };
        assert!(!s.truncated);
        assert_eq!(s.row_count, 5);
        let stats = s.statistics.expect("statistics");
        assert_eq!(
            stats.fields["ExecutionTime"].kind,
            Some(Kind::NumberValue(1.5))
        );
    }
}
