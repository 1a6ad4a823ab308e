//! `ActionService`: acting on machines. Every RPC answers UNIMPLEMENTED (naming the work item
//! that delivers it) until the actions land; nothing is ever sent to Defender from here yet.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::defender;
use super::risk::ResponseStream;
use crate::error::ServiceError;
use crate::proto;
use crate::proto::action_service_server::ActionService;
use crate::server::AppState;

const ACTIONS: &str = "delivered by the work item \"Actions: ActionService end to end\"";

/// The `ActionService` implementation.
#[derive(Debug, Clone)]
pub struct ActionApi {
    state: Arc<AppState>,
}

impl ActionApi {
    /// Wraps the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    fn not_yet(&self, tenant: &str, rpc: &'static str) -> Status {
        match defender(&self.state, tenant) {
            Err(err) => err.into(),
            Ok(_) => ServiceError::NotImplemented {
                rpc,
                detail: ACTIONS,
            }
            .into(),
        }
    }
}

#[tonic::async_trait]
impl ActionService for ActionApi {
    async fn isolate_machine(
        &self,
        request: Request<proto::IsolateMachineRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "IsolateMachine"))
    }

    async fn release_machine(
        &self,
        request: Request<proto::ReleaseMachineRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ReleaseMachine"))
    }

    async fn run_antivirus_scan(
        &self,
        request: Request<proto::RunAntivirusScanRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "RunAntivirusScan"))
    }

    async fn get_machine_action(
        &self,
        request: Request<proto::GetMachineActionRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "GetMachineAction"))
    }

    async fn list_machine_actions(
        &self,
        request: Request<proto::ListMachineActionsRequest>,
    ) -> Result<Response<proto::ListMachineActionsResponse>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "ListMachineActions"))
    }

    type WatchMachineActionStream = ResponseStream<proto::MachineAction>;

    async fn watch_machine_action(
        &self,
        request: Request<proto::WatchMachineActionRequest>,
    ) -> Result<Response<Self::WatchMachineActionStream>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "WatchMachineAction"))
    }

    async fn cancel_machine_action(
        &self,
        request: Request<proto::CancelMachineActionRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        Err(self.not_yet(&request.get_ref().tenant, "CancelMachineAction"))
    }
}
