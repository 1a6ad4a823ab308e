//! Per-RPC metrics and the per-call context the access log line reads.
//!
//! The auth layer (`crate::auth::layer`) times every call, from the request until the response
//! body ends (a stream counts until its last message), and records it here with the gRPC code
//! from the response headers (trailers-only answers) or trailers. Series are resolved once per
//! (method, code) and kept, so a call costs an index look-up, one histogram observation (atomics)
//! and an in-flight gauge up and down: no label formatting, no allocation.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// The label of a method that is not one of ours (bounded label set).
pub const OTHER_METHOD: &str = "_OTHER";

/// Every method served, as `package.Service/Method` (the `rpc_method` label). The last slot of
/// the tables is [`OTHER_METHOD`].
pub const METHODS: [&str; 24] = [
    "defenderbridge.v1.RiskService/GetEndpointRisk",
    "defenderbridge.v1.RiskService/BatchGetEndpointRisks",
    "defenderbridge.v1.RiskService/StreamFleetRisk",
    "defenderbridge.v1.RiskService/GetMachine",
    "defenderbridge.v1.RiskService/ListMachines",
    "defenderbridge.v1.RiskService/ListAlerts",
    "defenderbridge.v1.RiskService/ListVulnerabilities",
    "defenderbridge.v1.RiskService/GetSoftware",
    "defenderbridge.v1.RiskService/ListSoftwareMachines",
    "defenderbridge.v1.RiskService/RunHuntingQuery",
    "defenderbridge.v1.RiskService/CheckConnection",
    "defenderbridge.v1.ActionService/IsolateMachine",
    "defenderbridge.v1.ActionService/ReleaseMachine",
    "defenderbridge.v1.ActionService/RunAntivirusScan",
    "defenderbridge.v1.ActionService/CancelMachineAction",
    "defenderbridge.v1.ActionService/GetMachineAction",
    "defenderbridge.v1.ActionService/ListMachineActions",
    "defenderbridge.v1.ActionService/WatchMachineAction",
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "grpc.health.v1.Health/List",
    OTHER_METHOD,
];

/// gRPC status code names by code number (the `rpc_response_status_code` label).
pub const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `CANCELLED`: the call ended without a status (the client went away).
pub const CANCELLED: usize = 1;
/// `UNKNOWN`: a status the server could not read.
pub const UNKNOWN: usize = 2;

/// Buckets of the call duration, in seconds: a cache hit is well under a millisecond, an
/// upstream read tens to hundreds of milliseconds, a stream minutes.
const DURATION_BUCKETS: [f64; 16] = [
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
    300.0,
];

/// The index of the method at `path` (`/package.Service/Method`) in [`METHODS`].
pub fn method_index(path: &str) -> usize {
    let name = path.strip_prefix('/').unwrap_or(path);
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == name)
        .unwrap_or(METHODS.len() - 1)
}

/// The code index of a `grpc-status` value (ASCII digits); [`UNKNOWN`] when unreadable.
pub fn code_index(value: &[u8]) -> usize {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|c| *c < CODES.len())
        .unwrap_or(UNKNOWN)
}

/// The per-RPC series.
#[derive(Debug)]
pub struct RpcMetrics {
    duration: HistogramVec,
    messages: IntCounterVec,
    /// `[method][code]`, resolved on first use.
    durations: Vec<[OnceLock<Histogram>; CODES.len()]>,
    in_flight_by_method: Vec<IntGauge>,
}

impl RpcMetrics {
    pub(super) fn new(registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "rpc_server_call_duration_seconds",
                "Duration of gRPC calls handled, from the request to the end of the response \
                 (a stream's last message).",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["rpc_method", "rpc_response_status_code"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new("rpc_server_active_calls", "gRPC calls in progress."),
            &["rpc_method"],
        )?;
        let messages = IntCounterVec::new(
            Opts::new(
                "rpc_server_stream_messages_sent_total",
                "Messages sent on server streams (StreamFleetRisk, RunHuntingQuery, \
                 WatchMachineAction).",
            ),
            &["rpc_method"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(messages.clone()))?;
        let in_flight_by_method = METHODS
            .iter()
            .map(|m| in_flight.with_label_values(&[*m]))
            .collect();
        Ok(Self {
            durations: METHODS.iter().map(|_| Default::default()).collect(),
            duration,
            messages,
            in_flight_by_method,
        })
    }

    /// Counts a call of the method at index `method` (see [`method_index`]) as started.
    pub fn started(&self, method: usize) {
        self.in_flight_by_method[method.min(METHODS.len() - 1)].inc();
    }

    /// Records a call started with [`RpcMetrics::started`]: its code (an index into
    /// [`CODES`]), duration and stream messages sent.
    pub fn finished(&self, method: usize, code: usize, seconds: f64, messages: u32) {
        let method = method.min(METHODS.len() - 1);
        let code = code.min(CODES.len() - 1);
        let histogram = self.durations[method][code].get_or_init(|| {
            self.duration
                .with_label_values(&[METHODS[method], CODES[code]])
        });
        histogram.observe(seconds);
        self.in_flight_by_method[method].dec();
        if messages > 0 {
            self.messages
                .with_label_values(&[METHODS[method]])
                .inc_by(u64::from(messages));
        }
    }
}

/// What one call did besides answering, counted while it runs: upstream (Defender, Graph,
/// token) requests and stream messages sent. Reached through a task-local (see
/// [`CallContext::scope`]), so the Defender client and the stream wrappers need no plumbing.
#[derive(Debug, Default)]
pub struct CallContext {
    upstream: AtomicU32,
    messages: AtomicU32,
}

tokio::task_local! {
    static CURRENT: Arc<CallContext>;
}

impl CallContext {
    /// Upstream requests made for the call so far.
    pub fn upstream(&self) -> u32 {
        self.upstream.load(Ordering::Relaxed)
    }

    /// Stream messages sent so far.
    pub fn messages(&self) -> u32 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Runs `fut` with `call` as the current call.
    pub fn scope<F: std::future::Future>(
        call: Arc<CallContext>,
        fut: F,
    ) -> tokio::task::futures::TaskLocalFuture<Arc<CallContext>, F> {
        CURRENT.scope(call, fut)
    }

    /// Runs `f` with `call` as the current call (a response body's poll).
    pub fn sync_scope<R>(call: Arc<CallContext>, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(call, f)
    }

    /// The current call, if any (to hand to a task spawned for it).
    pub fn current() -> Option<Arc<CallContext>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Counts one upstream request for the current call (none outside a call).
    pub fn count_upstream() {
        let _ = CURRENT.try_with(|c| c.upstream.fetch_add(1, Ordering::Relaxed));
    }

    /// Counts one stream message sent by the current call.
    pub fn count_message() {
        let _ = CURRENT.try_with(|c| c.messages.fetch_add(1, Ordering::Relaxed));
    }
}

/// `fut`, run as part of the current call (if any): for tasks spawned to produce a stream, so
/// their upstream requests count for the call in its access line, and their log lines and
/// trace spans belong to the call's `rpc` span.
pub fn in_current_call<F>(fut: F) -> impl std::future::Future<Output = F::Output> + Send
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    use tracing::Instrument as _;
    let call = CallContext::current();
    async move {
        match call {
            Some(call) => CallContext::scope(call, fut).await,
            None => fut.await,
        }
    }
    .in_current_span()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_codes_are_bounded() {
        assert_eq!(
            METHODS[method_index("/defenderbridge.v1.RiskService/GetEndpointRisk")],
            "defenderbridge.v1.RiskService/GetEndpointRisk"
        );
        assert_eq!(METHODS[method_index("/evil.Service/x?y")], OTHER_METHOD);
        assert_eq!(CODES[code_index(b"0")], "OK");
        assert_eq!(CODES[code_index(b"14")], "UNAVAILABLE");
        assert_eq!(CODES[code_index(b"99")], "UNKNOWN");
        assert_eq!(CODES[code_index(b"x")], "UNKNOWN");
    }

    #[test]
    fn every_api_method_has_its_own_label() {
        for (path, _) in crate::auth::roles::api_methods() {
            assert_ne!(METHODS[method_index(&path)], OTHER_METHOD, "{path}");
        }
    }
}
