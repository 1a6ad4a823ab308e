//! [`RiskServer`]: the generated `RiskServiceServer` with one method, `GetEndpointRisk`, served
//! from pre-encoded bytes.
//!
//! Why: a cache hit is the product's hot path (thousands of endpoints, again and again), and
//! its cost was dominated by converting the cached assessment to a ~3 KB message and encoding
//! it on every call. The assessment now keeps its encoded form (rendered once), and this
//! wrapper answers `GetEndpointRisk` with a codec that writes those bytes plus the few
//! per-request fields. Decoding, validation and the lookup are the same code as the generated
//! path ([`RiskApi::endpoint_risk`]); every other method goes to the generated server. The
//! wrapper sits inside the same `Server`, so every tower layer still applies.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::RiskApi;
use super::risk_convert::{self, EncodedMessage};
use crate::proto;
use crate::proto::risk_service_server::RiskServiceServer;
use crate::server::AppState;

const GET_ENDPOINT_RISK: &str = "/defenderbridge.v1.RiskService/GetEndpointRisk";

/// `RiskService` with the encoded fast path for `GetEndpointRisk`.
#[derive(Debug, Clone)]
pub struct RiskServer {
    api: Arc<RiskApi>,
    generated: RiskServiceServer<RiskApi>,
}

impl RiskServer {
    /// The service over the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        let api = Arc::new(RiskApi::new(state));
        Self {
            generated: RiskServiceServer::from_arc(api.clone()),
            api,
        }
    }
}

impl NamedService for RiskServer {
    const NAME: &'static str = "defenderbridge.v1.RiskService";
}

impl<B> Service<http::Request<B>> for RiskServer
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
        if req.uri().path() != GET_ENDPOINT_RISK {
            return self.generated.call(req);
        }
        let method = FastGetEndpointRisk(self.api.clone());
        Box::pin(async move { Ok(tonic::server::Grpc::new(EncodedCodec).unary(method, req).await) })
    }
}

struct FastGetEndpointRisk(Arc<RiskApi>);

impl UnaryService<proto::GetEndpointRiskRequest> for FastGetEndpointRisk {
    type Response = EncodedMessage;
    type Future = BoxFuture<Response<EncodedMessage>, Status>;

    fn call(&mut self, request: Request<proto::GetEndpointRiskRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move {
            let risk = api.endpoint_risk(request).await?;
            Ok(Response::new(risk_convert::endpoint_risk_encoded(&risk, api.portal())))
        })
    }
}

/// Decodes the request with prost; encodes a response that is already bytes.
#[derive(Debug, Clone, Copy)]
struct EncodedCodec;

struct BytesEncoder;
struct RequestDecoder;

impl Codec for EncodedCodec {
    type Encode = EncodedMessage;
    type Decode = proto::GetEndpointRiskRequest;
    type Encoder = BytesEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> RequestDecoder {
        RequestDecoder
    }
}

impl Encoder for BytesEncoder {
    type Item = EncodedMessage;
    type Error = Status;

    fn encode(&mut self, item: EncodedMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        for part in &item.parts {
            dst.put_slice(part);
        }
        Ok(())
    }
}

impl Decoder for RequestDecoder {
    type Item = proto::GetEndpointRiskRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        let message = proto::GetEndpointRiskRequest::decode(src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("cannot decode the request: {e}")))?;
        Ok(Some(message))
    }
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
