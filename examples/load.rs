//! A load generator and probe for the memory scripts (`scripts/soak.sh`, `scripts/memory.sh`):
//! a separate process that drives a running service over gRPC. Machine ids come from the
//! simulator's `/_sim/fleet`.
//!
//! ```text
//! load soak  GRPC SIM SECONDS RATE DEADLINE_MS [FLEET_EVERY_SECS]
//! load batch GRPC SIM SIZE COUNT      # COUNT concurrent BatchGetEndpointRisks of SIZE cold ids
//! load fleet GRPC SIM COUNT           # COUNT concurrent StreamFleetRisk, drained
//! ```
//!
//! `soak` is open-loop: RATE requests a second whatever the answers, 90% `GetEndpointRisk` of
//! a random machine of the whole fleet, 10% the other reads in turn (a batch of 5 random ids,
//! `GetMachine`, `ListMachines`, `ListAlerts` and `ListVulnerabilities` of a random machine),
//! plus one `StreamFleetRisk` every FLEET_EVERY_SECS (default 60; 0 for none). DEADLINE_MS 0
//! sends no deadline; otherwise unary calls carry it and fleet streams carry 300 s. At most
//! 8,192 requests are in flight; a request over that is counted as `ClientSkipped`. It prints
//! answers and p50/p99 latency per gRPC code, overall and per method.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use defender_bridge::proto::get_endpoint_risk_request::Endpoint;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::{
    self, BatchGetEndpointRisksRequest, GetEndpointRiskRequest, StreamFleetRiskRequest,
};
use hdrhistogram::Histogram;
use rand::Rng;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

type Client = RiskServiceClient<Channel>;
type Error = Box<dyn std::error::Error + Send + Sync>;

const MAX_IN_FLIGHT: usize = 8192;
const CHANNELS: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // reqwest (the simulator's fleet and stats) needs the process's rustls provider first.
    defender_bridge::tls::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let num = |i: usize, default: u64| arg(i).parse().unwrap_or(default);
    let (mode, grpc, sim) = (arg(0), arg(1).to_string(), arg(2));
    let ids = Arc::new(fleet_ids(sim).await?);
    let channels = connect(&grpc).await?;
    match mode {
        "soak" => {
            let secs = num(3, 60);
            let rate = num(4, 100).max(1);
            let deadline = Some(Duration::from_millis(num(5, 0))).filter(|d| !d.is_zero());
            let fleet_every = num(6, 60);
            soak(channels, ids, secs, rate, deadline, fleet_every).await;
        }
        "batch" => {
            let (size, count) = (num(3, 5) as usize, num(4, 1) as usize);
            let started = Instant::now();
            let batches = (0..count).map(|_| {
                let mut client = Client::new(channels[0].clone());
                let request = batch_request(&ids, size);
                async move { client.batch_get_endpoint_risks(request).await }
            });
            let results = futures::future::join_all(batches).await;
            for r in results {
                let r = r?.into_inner();
                let risks = r
                    .results
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.result,
                            Some(proto::batch_endpoint_risk_result::Result::Risk(_))
                        )
                    })
                    .count();
                println!("batch: {risks}/{} risks", r.results.len());
            }
            println!("took {:.2?}", started.elapsed());
        }
        "fleet" => {
            let count = num(3, 1) as usize;
            let started = Instant::now();
            let streams = (0..count).map(|i| {
                let client = Client::new(channels[i % CHANNELS].clone());
                fleet_stream(client, None)
            });
            for r in futures::future::join_all(streams).await {
                let (machines, summary) = r?;
                println!("fleet: {machines} machines, summary {summary:?}");
            }
            println!("took {:.2?}", started.elapsed());
        }
        _ => return Err(format!("unknown mode `{mode}`: soak, batch or fleet").into()),
    }
    Ok(())
}

/// Every machine id of the simulated fleet.
async fn fleet_ids(sim: &str) -> Result<Vec<String>, Error> {
    let list: Vec<serde_json::Value> = reqwest::get(format!("{sim}/_sim/fleet?top=100000000"))
        .await?
        .json()
        .await?;
    let ids: Vec<String> = list
        .iter()
        .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
        .collect();
    if ids.is_empty() {
        return Err("the simulator listed no machines".into());
    }
    Ok(ids)
}

async fn connect(grpc: &str) -> Result<Vec<Channel>, Error> {
    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        let channel = Channel::from_shared(grpc.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        channels.push(channel);
    }
    Ok(channels)
}

fn random_id(ids: &[String]) -> String {
    ids[rand::rng().random_range(0..ids.len())].clone()
}

fn by_id(id: String) -> GetEndpointRiskRequest {
    GetEndpointRiskRequest {
        endpoint: Some(Endpoint::MachineId(id)),
        ..Default::default()
    }
}

fn batch_request(ids: &[String], size: usize) -> BatchGetEndpointRisksRequest {
    BatchGetEndpointRisksRequest {
        requests: (0..size).map(|_| by_id(random_id(ids))).collect(),
        ..Default::default()
    }
}

/// Drains one fleet stream: (machines, summary).
async fn fleet_stream(
    mut client: Client,
    deadline: Option<Duration>,
) -> Result<(u64, Option<proto::FleetSummary>), tonic::Status> {
    let mut request = tonic::Request::new(StreamFleetRiskRequest::default());
    if let Some(d) = deadline {
        request.set_timeout(d);
    }
    let mut stream = client.stream_fleet_risk(request).await?.into_inner();
    let (mut machines, mut summary) = (0, None);
    while let Some(message) = stream.message().await? {
        match message.item {
            Some(proto::stream_fleet_risk_response::Item::Risk(_)) => machines += 1,
            Some(proto::stream_fleet_risk_response::Item::Summary(s)) => summary = Some(s),
            None => {}
        }
    }
    Ok((machines, summary))
}

/// Latencies by (method, code).
#[derive(Default)]
struct Record(Mutex<BTreeMap<(&'static str, String), Histogram<u64>>>);

impl Record {
    fn add(&self, method: &'static str, code: String, took: Duration) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = map
            .entry((method, code))
            .or_insert_with(|| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
        let _ = h.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
    }
}

fn code_of<T>(result: &Result<T, tonic::Status>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(status) => format!("{:?}", status.code()),
    }
}

async fn one_request(
    client: &mut Client,
    n: u64,
    ids: &[String],
    deadline: Option<Duration>,
) -> (&'static str, String) {
    fn req<T>(msg: T, deadline: Option<Duration>) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(d) = deadline {
            r.set_timeout(d);
        }
        r
    }
    if n % 10 != 0 {
        let r = client
            .get_endpoint_risk(req(by_id(random_id(ids)), deadline))
            .await;
        return ("GetEndpointRisk", code_of(&r));
    }
    match (n / 10) % 5 {
        0 => {
            let r = client
                .batch_get_endpoint_risks(req(batch_request(ids, 5), deadline))
                .await;
            ("BatchGetEndpointRisks", code_of(&r))
        }
        1 => {
            let msg = proto::GetMachineRequest {
                machine_id: random_id(ids),
                ..Default::default()
            };
            (
                "GetMachine",
                code_of(&client.get_machine(req(msg, deadline)).await),
            )
        }
        2 => {
            let msg = proto::ListMachinesRequest {
                page_size: 100,
                ..Default::default()
            };
            (
                "ListMachines",
                code_of(&client.list_machines(req(msg, deadline)).await),
            )
        }
        3 => {
            let msg = proto::ListAlertsRequest {
                machine_id: random_id(ids),
                page_size: 100,
                ..Default::default()
            };
            (
                "ListAlerts",
                code_of(&client.list_alerts(req(msg, deadline)).await),
            )
        }
        _ => {
            let msg = proto::ListVulnerabilitiesRequest {
                machine_id: random_id(ids),
                page_size: 100,
                ..Default::default()
            };
            let r = client.list_vulnerabilities(req(msg, deadline)).await;
            ("ListVulnerabilities", code_of(&r))
        }
    }
}

async fn soak(
    channels: Vec<Channel>,
    ids: Arc<Vec<String>>,
    secs: u64,
    rate: u64,
    deadline: Option<Duration>,
    fleet_every: u64,
) {
    let record = Arc::new(Record::default());
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let skipped = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_fleet = if fleet_every > 0 {
        Some(started + Duration::from_secs(fleet_every / 2))
    } else {
        None
    };
    let mut next_report = started + Duration::from_secs(10);
    let mut n: u64 = 0;
    while Instant::now() < end {
        tick.tick().await;
        let now = Instant::now();
        if next_fleet.is_some_and(|at| now >= at) {
            next_fleet = Some(now + Duration::from_secs(fleet_every));
            let client = Client::new(channels[0].clone());
            let record = record.clone();
            let fleet_deadline = deadline.map(|_| Duration::from_secs(300));
            tasks.spawn(async move {
                let t = Instant::now();
                let r = fleet_stream(client, fleet_deadline).await;
                record.add("StreamFleetRisk", code_of(&r), t.elapsed());
            });
        }
        if now >= next_report {
            next_report += Duration::from_secs(10);
            eprintln!(
                "{:>4}s sent {n} in flight {} skipped {}",
                started.elapsed().as_secs(),
                in_flight.load(Ordering::Relaxed),
                skipped.load(Ordering::Relaxed)
            );
            while tasks.try_join_next().is_some() {}
        }
        n += 1;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut client = Client::new(channels[(n as usize) % CHANNELS].clone());
        let (ids, record, in_flight) = (ids.clone(), record.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let t = Instant::now();
            let (method, code) = one_request(&mut client, n, &ids, deadline).await;
            record.add(method, code, t.elapsed());
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    eprintln!(
        "load sent; waiting for {} answers",
        in_flight.load(Ordering::Relaxed)
    );
    while tasks.join_next().await.is_some() {}
    report(
        &record,
        n,
        skipped.load(Ordering::Relaxed),
        started.elapsed(),
    );
}

fn report(record: &Record, sent: u64, skipped: u64, took: Duration) {
    let map = record
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut by_code: BTreeMap<&str, Histogram<u64>> = BTreeMap::new();
    for ((_, code), h) in map.iter() {
        let total = by_code
            .entry(code.as_str())
            .or_insert_with(|| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
        let _ = total.add(h);
    }
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "requests sent {sent} in {:.0?}; ClientSkipped (over {MAX_IN_FLIGHT} in flight) {skipped}",
        took
    );
    println!("answers by code:");
    println!(
        "  {:<20} {:>9} {:>10} {:>10} {:>10}",
        "code", "count", "p50 ms", "p99 ms", "max ms"
    );
    for (code, h) in &by_code {
        println!(
            "  {:<20} {:>9} {:>10.1} {:>10.1} {:>10.1}",
            code,
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
    println!("by method and code:");
    for ((method, code), h) in map.iter() {
        println!(
            "  {:<22} {:<18} {:>9} {:>10.1} {:>10.1} {:>10.1}",
            method,
            code,
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
}
