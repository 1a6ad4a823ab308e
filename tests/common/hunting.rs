//! Helpers of the hunting tests: a service on either backend, a client that accepts no message
//! over gRPC's default 4 MiB, and a checker of the stream's shape (schema, rows, summary).

use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::run_hunting_query_response::Payload;
use defender_bridge::proto::{self, HuntingRow, HuntingSchema, HuntingSummary};
use defender_bridge::sim::SimConfig;
use prost::Message as _;
use tonic::transport::Channel;

use super::TestEnv;

/// gRPC's default message limit, which every message of a hunting stream must respect.
pub const FOUR_MIB: usize = 4 * 1024 * 1024;

/// A service on `backend` (`graph` or `defender`) in front of a simulator with `config`.
pub async fn start(config: SimConfig, backend: &str) -> TestEnv {
    let backend = backend.to_string();
    TestEnv::start_with(config, move |args| args.hunting_backend = Some(backend)).await
}

/// A client that refuses any message over 4 MiB, as a caller with default settings would.
pub fn client(env: &TestEnv) -> RiskServiceClient<Channel> {
    env.risk().max_decoding_message_size(FOUR_MIB)
}

/// A `RunHuntingQueryRequest`.
pub fn request(query: &str, batch_rows: i32) -> proto::RunHuntingQueryRequest {
    proto::RunHuntingQueryRequest {
        query: query.to_string(),
        batch_rows,
        ..Default::default()
    }
}

/// Every message of a hunting stream, or the status that ended it (initial or mid-stream).
pub async fn messages(
    env: &TestEnv,
    request: proto::RunHuntingQueryRequest,
) -> Result<Vec<proto::RunHuntingQueryResponse>, tonic::Status> {
    let mut stream = client(env).run_hunting_query(request).await?.into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await? {
        out.push(message);
    }
    Ok(out)
}

/// A stream taken apart, after checking its shape: one schema first, row batches, one summary
/// last, no message over 4 MiB.
pub struct Hunt {
    pub schema: HuntingSchema,
    pub batches: Vec<Vec<HuntingRow>>,
    pub summary: HuntingSummary,
    pub largest_message: usize,
}

impl Hunt {
    pub fn rows(&self) -> impl Iterator<Item = &HuntingRow> {
        self.batches.iter().flatten()
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> usize {
        self.schema
            .columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.schema))
    }
}

pub fn shape(messages: Vec<proto::RunHuntingQueryResponse>) -> Hunt {
    assert!(messages.len() >= 2, "at least a schema and a summary");
    let largest_message = messages.iter().map(|m| m.encoded_len()).max().unwrap_or(0);
    assert!(
        largest_message <= FOUR_MIB,
        "a message of {largest_message} bytes"
    );
    let mut iter = messages.into_iter();
    let Some(Payload::Schema(schema)) = iter.next().and_then(|m| m.payload) else {
        panic!("the first message is not the schema");
    };
    let mut batches = Vec::new();
    let mut summary = None;
    for message in iter {
        assert!(summary.is_none(), "a message after the summary");
        match message.payload {
            Some(Payload::Rows(batch)) => {
                assert!(!batch.rows.is_empty(), "an empty batch");
                batches.push(batch.rows);
            }
            Some(Payload::Summary(s)) => summary = Some(s),
            other => panic!("unexpected message {other:?}"),
        }
    }
    let summary = summary.expect("the last message is the summary");
    let rows: usize = batches.iter().map(Vec::len).sum();
    assert_eq!(
        summary.row_count, rows as i64,
        "summary counts the rows sent"
    );
    for row in batches.iter().flatten() {
        assert_eq!(
            row.values.len(),
            schema.columns.len(),
            "one value per column"
        );
    }
    Hunt {
        schema,
        batches,
        summary,
        largest_message,
    }
}
