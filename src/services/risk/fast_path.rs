//! [`FastPathRiskServer`]: the generated `RiskServiceServer`, with `GetEndpointRisk` served from
//! pre-encoded bytes.
//!
//! Why: a cache hit is the product's hot path (thousands of endpoints, again and again). Its
//! cost was dominated first by converting the cached assessment to a ~2.3 KB message and
//! encoding it on every call, then by tonic's codec copying that message into a fresh buffer.
//! The assessment now keeps its answer as a whole gRPC message frame (rendered once per view a
//! caller asks for: `RISK_VIEW_FULL`, the default, and `RISK_VIEW_BASIC`), and this wrapper
//! answers `GetEndpointRisk` with the frame of the request's view ([`super::grpc_raw`]).
//! Decoding, validation and the look-up are the same code as the generated path
//! ([`RiskHandlers::endpoint_query`], [`RiskHandlers::endpoint_risk`]); every other method goes to
//! the generated server. The wrapper sits inside the same `Server`, so every tower layer
//! (gRPC-Web included) still applies. A gzip-compressed request goes to the generated server,
//! which decompresses it (and then compresses its answer); uncompressed requests get the
//! encoded answer uncompressed, which gRPC allows whatever the client accepts.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::Message;
use tonic::Status;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::NamedService;

use super::{RiskHandlers, grpc_raw, responses};
use crate::defender::CallOptions;
use crate::proto;
use crate::proto::risk_service_server::RiskServiceServer;
use crate::services::call_options_of;
use crate::state::AppState;

const GET_ENDPOINT_RISK: &str = "/defenderbridge.v1.RiskService/GetEndpointRisk";

/// `RiskService` with the encoded fast path for `GetEndpointRisk`.
#[derive(Debug, Clone)]
pub struct FastPathRiskServer {
    api: Arc<RiskHandlers>,
    generated: RiskServiceServer<RiskHandlers>,
    max_request_bytes: usize,
}

impl FastPathRiskServer {
    /// The service over the shared state (message size limits from `config.limits`).
    pub fn new(state: Arc<AppState>) -> Self {
        let limits = state.config.limits.clone();
        let api = Arc::new(RiskHandlers::new(state));
        Self {
            generated: RiskServiceServer::from_arc(api.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limits.max_request_message_bytes)
                .max_encoding_message_size(limits.max_response_message_bytes),
            api,
            max_request_bytes: limits.max_request_message_bytes,
        }
    }
}

impl NamedService for FastPathRiskServer {
    const NAME: &'static str = "defenderbridge.v1.RiskService";
}

impl<B> Service<http::Request<B>> for FastPathRiskServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != GET_ENDPOINT_RISK || grpc_raw::is_compressed(req.headers()) {
            return self.generated.call(req);
        }
        // What the call needs from the headers is taken now, so that the future holds only the
        // body and the checked query: a future over glibc's 1 KiB thread cache takes the
        // locked allocator path on every call (measured).
        let (parts, body) = req.into_parts();
        let opts = call_options_of(&parts.headers, Some(self.api.default_deadline()));
        drop(parts);
        let api = self.api.clone();
        let max = self.max_request_bytes;
        Box::pin(async move {
            Ok(get_endpoint_risk(&api, body, max, &opts)
                .await
                .unwrap_or_else(|status| status.into_http()))
        })
    }
}

/// `GetEndpointRisk` over HTTP: read and check the request, answer with the frame.
async fn get_endpoint_risk<B>(
    api: &RiskHandlers,
    body: B,
    max_request_bytes: usize,
    opts: &CallOptions,
) -> Result<http::Response<tonic::body::Body>, Status>
where
    B: Body,
    B::Error: Into<StdError>,
{
    let message = grpc_raw::read_message(body, max_request_bytes).await?;
    let message = proto::GetEndpointRiskRequest::decode(message)
        .map_err(|e| Status::internal(format!("cannot decode the request: {e}")))?;
    let (query, view) = api.endpoint_query(&message)?;
    drop(message);
    let risk = api.endpoint_risk(&query, opts).await?;
    let frame = responses::endpoint_risk_frame(risk, view, api.portal())?;
    Ok(grpc_raw::ok_response(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::EndpointRisk;

    #[test]
    fn appended_fields_decode_as_set_fields() {
        let base = EndpointRisk {
            tenant: "t".into(),
            reasons: vec!["r".into()],
            ..Default::default()
        };
        let suffix = EndpointRisk {
            cached: true,
            other_candidates: vec![proto::CandidateMachine {
                machine_id: "m".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut bytes = base.encode_to_vec();
        bytes.extend(suffix.encode_to_vec());
        let decoded = EndpointRisk::decode(bytes.as_slice()).expect("valid protobuf");
        assert_eq!(decoded.tenant, "t");
        assert!(decoded.cached);
        assert_eq!(decoded.other_candidates.len(), 1);
        assert_eq!(decoded.reasons, ["r"]);
    }
}
