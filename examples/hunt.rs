//! Streams one `RunHuntingQuery` and prints what arrived: messages, rows, bytes, the largest
//! message and the summary. Used by `scripts/hunting-rss.sh` to measure the service's memory
//! while it streams a large result; handy by hand too:
//!
//! ```text
//! cargo run --example hunt -- http://127.0.0.1:50051 "DeviceInfo | take 10" [batch_rows]
//! ```
//!
//! The client refuses messages over 4 MiB (gRPC's default), as a default-configured caller would.

use std::time::Instant;

use defender_bridge::proto::RunHuntingQueryRequest;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::run_hunting_query_response::Payload;
use prost::Message as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let query = args.next().unwrap_or_else(|| "DeviceInfo | take 10".into());
    let batch_rows: i32 = args.next().map(|b| b.parse()).transpose()?.unwrap_or(0);
    let mut client = RiskServiceClient::connect(addr)
        .await?
        .max_decoding_message_size(4 * 1024 * 1024);
    let started = Instant::now();
    let mut stream = client
        .run_hunting_query(RunHuntingQueryRequest {
            query,
            batch_rows,
            ..Default::default()
        })
        .await?
        .into_inner();
    let (mut messages, mut rows, mut bytes, mut largest) = (0usize, 0usize, 0usize, 0usize);
    let mut summary = None;
    while let Some(message) = stream.message().await? {
        let len = message.encoded_len();
        messages += 1;
        bytes += len;
        largest = largest.max(len);
        match message.payload {
            Some(Payload::Rows(batch)) => rows += batch.rows.len(),
            Some(Payload::Summary(s)) => summary = Some(s),
            _ => {}
        }
    }
    let summary = summary.ok_or("the stream ended without a summary")?;
    println!(
        "messages={messages} rows={rows} grpc_bytes={bytes} largest_message={largest} \
         row_count={} truncated={} seconds={:.1}",
        summary.row_count,
        summary.truncated,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
