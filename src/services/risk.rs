//! `RiskService`: reading risk. `CheckConnection` is implemented here; the read RPCs answer
//! UNIMPLEMENTED (naming the work item that delivers them) until they land.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::{call_options, convert, defender};
use crate::check;
use crate::error::ServiceError;
use crate::proto;
use crate::proto::risk_service_server::RiskService;
use crate::server::AppState;

/// A boxed server stream.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

const RISK_READ_SIDE: &str = "delivered by the work item \"Risk: GetEndpointRisk and the whole read side of RiskService\"";
const INVESTIGATION: &str = "delivered by the work item \"Investigation: streamed advanced hunting, software, devices by software\"";

/// The `RiskService` implementation.
#[derive(Debug, Clone)]
pub struct RiskApi {
    state: Arc<AppState>,
}

impl RiskApi {
    /// Wraps the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    fn not_yet(&self, tenant: &str, rpc: &'static str, detail: &'static str) -> Status {
        match defender(&self.state, tenant) {
            Err(err) => err.into(),
            Ok(_) => ServiceError::NotImplemented { rpc, detail }.into(),
        }
    }
}

#[tonic::async_trait]
impl RiskService for RiskApi {
    async fn get_endpoint_risk(
        &self,
        request: Request<proto::GetEndpointRiskRequest>,
    ) -> Result<Response<proto::EndpointRisk>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "GetEndpointRisk", RISK_READ_SIDE))
    }

    async fn batch_get_endpoint_risks(
        &self,
        request: Request<proto::BatchGetEndpointRisksRequest>,
    ) -> Result<Response<proto::BatchGetEndpointRisksResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "BatchGetEndpointRisks", RISK_READ_SIDE))
    }

    type StreamFleetRiskStream = ResponseStream<proto::StreamFleetRiskResponse>;

    async fn stream_fleet_risk(
        &self,
        request: Request<proto::StreamFleetRiskRequest>,
    ) -> Result<Response<Self::StreamFleetRiskStream>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "StreamFleetRisk", RISK_READ_SIDE))
    }

    async fn get_machine(
        &self,
        request: Request<proto::GetMachineRequest>,
    ) -> Result<Response<proto::Machine>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "GetMachine", RISK_READ_SIDE))
    }

    async fn list_machines(
        &self,
        request: Request<proto::ListMachinesRequest>,
    ) -> Result<Response<proto::ListMachinesResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ListMachines", RISK_READ_SIDE))
    }

    async fn list_alerts(
        &self,
        request: Request<proto::ListAlertsRequest>,
    ) -> Result<Response<proto::ListAlertsResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ListAlerts", RISK_READ_SIDE))
    }

    async fn list_vulnerabilities(
        &self,
        request: Request<proto::ListVulnerabilitiesRequest>,
    ) -> Result<Response<proto::ListVulnerabilitiesResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ListVulnerabilities", RISK_READ_SIDE))
    }

    async fn get_software(
        &self,
        request: Request<proto::GetSoftwareRequest>,
    ) -> Result<Response<proto::Software>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "GetSoftware", INVESTIGATION))
    }

    async fn list_software_machines(
        &self,
        request: Request<proto::ListSoftwareMachinesRequest>,
    ) -> Result<Response<proto::ListSoftwareMachinesResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ListSoftwareMachines", INVESTIGATION))
    }

    type RunHuntingQueryStream = ResponseStream<proto::RunHuntingQueryResponse>;

    async fn run_hunting_query(
        &self,
        request: Request<proto::RunHuntingQueryRequest>,
    ) -> Result<Response<Self::RunHuntingQueryStream>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "RunHuntingQuery", INVESTIGATION))
    }

    async fn check_connection(
        &self,
        request: Request<proto::CheckConnectionRequest>,
    ) -> Result<Response<proto::CheckConnectionResponse>, Status> {
        let opts = call_options(&request);
        let req = request.into_inner();
        let client = defender(&self.state, &req.tenant)?;
        let backend = self.state.config.hunting_backend;
        let report = check::run(client, backend, check::SERVICE_REQUIRED, !req.skip_probe, &opts).await;
        Ok(Response::new(convert::connection_report(
            &report,
            client.settings(),
            backend,
        )))
    }
}
