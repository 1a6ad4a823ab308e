//! OpenTelemetry traces as a collector sees them: the binary runs with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/gRPC receiver in this test, which keeps
//! every span exported. A call that carries a W3C `traceparent` gives an `rpc` server span in
//! the caller's trace, parented to the caller's span, with one client span per Defender request
//! under it; a call without one starts its own trace; no span holds the secret or a token.

#![cfg(feature = "otel")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{Reaper, free_port, spawn_serve, wait_until_listening};
use common::{connect, sim_config, start_sim};
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::{GetEndpointRiskRequest, get_endpoint_risk_request};
use defender_bridge::sim::SimConfig;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

const SECRET: &str = "Zq8~otel-test-secret-value-41c9";

/// One exported span and the `service.name` of the resource it came with.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP trace receiver that keeps every span.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().expect("lock");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| string_attr(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    kept.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    async fn start(self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }

    fn in_trace(&self, trace_id: &[u8]) -> Vec<Received> {
        self.spans
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.span.trace_id == trace_id)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Received> {
        self.spans.lock().expect("lock").clone()
    }

    /// Waits (bounded) until `done` holds for the spans received.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if done(&self.all()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: not received; spans: {:#?}", self.all());
    }
}

fn value_text(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| value_text(&kv.value))
}

fn attr(span: &Span, key: &str) -> Option<String> {
    string_attr(&span.attributes, key)
}

fn is_rpc(received: &Received, method: &str) -> bool {
    received.span.name == method
}

const GET_RISK: &str = "defenderbridge.v1.RiskService/GetEndpointRisk";

fn risk_request(machine_id: &str) -> GetEndpointRiskRequest {
    GetEndpointRiskRequest {
        endpoint: Some(get_endpoint_risk_request::Endpoint::MachineId(
            machine_id.to_string(),
        )),
        bypass_cache: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_and_defender_spans_reach_the_collector_under_the_callers_trace() {
    let receiver = Receiver::default();
    let collector = receiver.clone().start().await;
    let config = SimConfig {
        client_secret: SECRET.into(),
        ..sim_config()
    };
    let sim = start_sim(config.clone()).await;
    let (port, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let child = spawn_serve(
        &sim,
        &config,
        port,
        admin,
        &log,
        &[
            ("DEFENDER_CLIENT_SECRET", SECRET.into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
            ("OTEL_SERVICE_NAME", "bridge-under-test".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            // The log filter does not decide what is traced: info spans and the debug-level
            // Defender spans are exported while the log shows warnings only.
            ("RUST_LOG", "warn".into()),
        ],
    );
    let server = Reaper(Some(child));
    wait_until_listening(port).await;
    let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let mut risk = RiskServiceClient::new(channel);
    let machine = sim.fleet().sample_machine_id().to_string();

    // The caller's trace and span (W3C trace context, sampled).
    let trace_id: [u8; 16] = *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36";
    let caller_span: [u8; 8] = *b"\x00\xf0\x67\xaa\x0b\xa9\x02\xb7";
    let mut request = tonic::Request::new(risk_request(&machine));
    request.metadata_mut().insert(
        "traceparent",
        format!(
            "00-{}-{}-01",
            hex::encode(trace_id),
            hex::encode(caller_span)
        )
        .parse()
        .expect("metadata"),
    );
    risk.get_endpoint_risk(request).await.expect("risk");
    // No traceparent: the call starts a trace of its own.
    risk.get_endpoint_risk(risk_request(&machine))
        .await
        .expect("risk");

    receiver
        .wait_for(
            "both rpc spans and the first call's Defender spans",
            |spans| {
                let rpcs = spans.iter().filter(|r| is_rpc(r, GET_RISK)).count();
                let children = spans
                    .iter()
                    .filter(|r| r.span.trace_id == trace_id && r.span.name.starts_with("defender "))
                    .count();
                rpcs >= 2 && children >= 2
            },
        )
        .await;

    let ours = receiver.in_trace(&trace_id);
    let rpc: Vec<&Received> = ours.iter().filter(|r| is_rpc(r, GET_RISK)).collect();
    assert_eq!(rpc.len(), 1, "one server span for the call: {ours:#?}");
    let rpc = rpc[0];
    assert_eq!(rpc.service, "bridge-under-test", "OTEL_SERVICE_NAME");
    assert_eq!(rpc.span.kind, SpanKind::Server as i32);
    assert_eq!(
        rpc.span.parent_span_id, caller_span,
        "the rpc span's parent is the caller's span from traceparent"
    );
    assert_eq!(attr(&rpc.span, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        attr(&rpc.span, "rpc.service").as_deref(),
        Some("defenderbridge.v1.RiskService")
    );
    assert_eq!(
        attr(&rpc.span, "rpc.method").as_deref(),
        Some("GetEndpointRisk")
    );
    assert_eq!(
        attr(&rpc.span, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );

    // One client span per Defender request, all children of the rpc span: the token request
    // and the machine read at least (bypass_cache), each with family, attempt and status.
    let calls: Vec<&Received> = ours
        .iter()
        .filter(|r| r.span.name.starts_with("defender "))
        .collect();
    assert!(calls.len() >= 2, "{ours:#?}");
    for call in &calls {
        assert_eq!(
            call.span.parent_span_id, rpc.span.span_id,
            "a Defender span's parent is the rpc span: {call:#?}"
        );
        assert_eq!(call.span.kind, SpanKind::Client as i32);
        assert_eq!(attr(&call.span, "attempt").as_deref(), Some("1"));
        assert_eq!(
            attr(&call.span, "http.response.status_code").as_deref(),
            Some("200"),
            "{call:#?}"
        );
        let api = attr(&call.span, "api").expect("api family");
        assert_eq!(call.span.name, format!("defender {api}"));
    }
    let families: Vec<String> = calls.iter().filter_map(|c| attr(&c.span, "api")).collect();
    assert!(families.iter().any(|f| f == "token"), "{families:?}");
    assert!(families.iter().any(|f| f == "machines"), "{families:?}");

    // The second call is a root span of another trace.
    let other = receiver
        .all()
        .into_iter()
        .find(|r| is_rpc(r, GET_RISK) && r.span.trace_id != trace_id)
        .expect("the second call's span");
    assert!(
        other.span.parent_span_id.is_empty(),
        "no traceparent: a root span"
    );

    // Nothing exported carries a credential: no secret, no bearer token, no header.
    let tokens = sim
        .requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect::<Vec<_>>();
    for received in receiver.all() {
        for kv in &received.span.attributes {
            let text = value_text(&kv.value).unwrap_or_default();
            assert!(!text.contains(SECRET), "secret in {kv:?}");
            assert!(
                !kv.key.to_ascii_lowercase().contains("authorization"),
                "header in {kv:?}"
            );
            for token in &tokens {
                let bearer = token.trim_start_matches("Bearer ");
                assert!(!text.contains(bearer), "token in {kv:?}");
            }
        }
    }

    assert_eq!(server.terminate().await, 0, "graceful exit");
    sim.shutdown().await;
}
