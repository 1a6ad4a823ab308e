//! Measures `/metrics` scrape time with many cached machines (docs/operations.md): starts the
//! simulator with a fleet of N machines (no rate limits) and the service in this process, fills
//! the risk cache with every machine through `BatchGetEndpointRisks` (1,000 ids a call), runs
//! one `StreamFleetRisk`, then times 50 sequential scrapes over HTTP from this process.
//!
//! ```text
//! cargo run --example scrape -- 100000
//! ```
//!
//! A debug build measures the debug build; the figures in docs/operations.md say which.

use std::time::{Duration, Instant};

use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::{
    BatchGetEndpointRisksRequest, GetEndpointRiskRequest, StreamFleetRiskRequest,
    get_endpoint_risk_request::Endpoint,
};
use defender_bridge::sim::{self, SimConfig};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let machines: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let sim_config = SimConfig {
        machines,
        rate_limits: false,
        ..SimConfig::default()
    };
    let sim = sim::spawn(sim_config.clone(), "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let config_file = dir.path().join("scrape.toml");
    // Room for every machine's risk in the cache.
    std::fs::write(
        &config_file,
        "[cache]\nmax_entries = 1000000\nmax_bytes = 4294967296\n",
    )?;
    let mut args: ServeArgs =
        defender_bridge::demo::service_args(&sim, &sim_config, "127.0.0.1:0".parse()?);
    args.config = Some(config_file);
    args.caller_heavy_rate_per_minute = Some(1_000_000);
    let server = defender_bridge::server::spawn(Config::resolve(&args)?).await?;
    let admin = server.admin_addr().ok_or("admin listener off")?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))?
        .connect()
        .await?;
    let mut client = RiskServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);

    let ids: Vec<String> = sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let filled = Instant::now();
    for chunk in ids.chunks(1000) {
        let requests = chunk
            .iter()
            .map(|id| GetEndpointRiskRequest {
                endpoint: Some(Endpoint::MachineId(id.clone())),
                ..Default::default()
            })
            .collect();
        client
            .batch_get_endpoint_risks(BatchGetEndpointRisksRequest {
                requests,
                ..Default::default()
            })
            .await?;
    }
    let fill_time = filled.elapsed();
    let mut stream = client
        .stream_fleet_risk(StreamFleetRiskRequest::default())
        .await?
        .into_inner();
    let mut streamed = 0usize;
    while stream.message().await?.is_some() {
        streamed += 1;
    }

    defender_bridge::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = format!("http://{admin}/metrics");
    let mut times: Vec<Duration> = Vec::new();
    let mut bytes = 0;
    let mut entries = String::new();
    for _ in 0..50 {
        let started = Instant::now();
        let text = http.get(&url).send().await?.text().await?;
        times.push(started.elapsed());
        bytes = text.len();
        entries = text
            .lines()
            .filter(|l| l.starts_with("defender_bridge_cache_entries{cache=\"risk\"}"))
            .collect();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "machines {machines}; cache filled in {:.1} s; fleet stream {streamed} messages; {entries}",
        fill_time.as_secs_f64()
    );
    println!(
        "/metrics: {bytes} bytes; 50 scrapes: min {:.3} ms, median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        ms(times[0]),
        ms(times[25]),
        ms(times[45]),
        ms(times[49])
    );
    server.shutdown().await?;
    sim.shutdown().await;
    Ok(())
}
