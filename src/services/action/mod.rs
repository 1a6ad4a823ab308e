//! `ActionService`: acting on machines. Each handler validates (no upstream call on bad
//! input), identifies the caller, and hands over to [`crate::actions`], which does the work.
//!
//! Caller identity: with a callers file, the identity the auth layer verified (`key:NAME`,
//! `cert:IDENTITY`, `jwt:SUB`), with an `x-caller-id` noted as `on_behalf_of` only; without
//! one, the peer address plus an optional, unverified `x-caller-id` metadata value (1 to 128
//! characters of letters, digits and `._@:/+-`), stamped as `unverified:<id>`.

mod messages;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tonic::{Request, Response, Status};

use super::shutdown::until_shutdown;
use super::{ResponseStream, call_options, caller_options, tenant_client};
use crate::actions::{self, ActionRequest, Caller};
use crate::error::ServiceError;
use crate::paging::{PageRequest, PageScope};
use crate::proto;
use crate::proto::action_service_server::ActionService;
use crate::risk::validate;
use crate::state::AppState;

/// How long a watch without a deadline may run before it ends (DEADLINE_EXCEEDED): watch again.
pub const MAX_WATCH_WITHOUT_DEADLINE: Duration = Duration::from_secs(3600);

/// The `ActionService` handlers: the generated trait's implementation.
#[derive(Debug, Clone)]
pub struct ActionHandlers {
    state: Arc<AppState>,
}

impl ActionHandlers {
    /// Wraps the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

fn caller<T>(request: &Request<T>) -> Result<Caller, ServiceError> {
    Caller::of_request(request)
}

impl ActionHandlers {
    /// The one path of the three ways of acting (isolate, release, scan): identify the caller,
    /// pass the tenant gate, validate with `validate`, then act.
    async fn take_action<R>(
        &self,
        request: Request<R>,
        tenant: fn(&R) -> &str,
        validate: fn(&R) -> Result<ActionRequest, ServiceError>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        let opts = caller_options(&request);
        let caller = caller(&request)?;
        let req = request.into_inner();
        let client = tenant_client(&self.state, tenant(&req))?;
        let action = validate(&req)?;
        let name = action.kind.name();
        let done = actions::request_action(&self.state.actions, client, caller, action, opts).await;
        self.state.metrics.record_action(name, outcome(&done));
        Ok(Response::new(messages::machine_action(&done?)))
    }
}

#[tonic::async_trait]
impl ActionService for ActionHandlers {
    async fn isolate_machine(
        &self,
        request: Request<proto::IsolateMachineRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        self.take_action(request, |r| r.tenant.as_str(), messages::isolate)
            .await
    }

    async fn release_machine(
        &self,
        request: Request<proto::ReleaseMachineRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        self.take_action(request, |r| r.tenant.as_str(), messages::release)
            .await
    }

    async fn run_antivirus_scan(
        &self,
        request: Request<proto::RunAntivirusScanRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        self.take_action(request, |r| r.tenant.as_str(), messages::scan)
            .await
    }

    async fn get_machine_action(
        &self,
        request: Request<proto::GetMachineActionRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let id = actions::request::action_id("action_id", &req.action_id)?;
        let action = actions::get_action(client, &id, &opts).await?;
        Ok(Response::new(messages::machine_action(&action)))
    }

    async fn list_machine_actions(
        &self,
        request: Request<proto::ListMachineActionsRequest>,
    ) -> Result<Response<proto::ListMachineActionsResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let filters = messages::filters(&req)?;
        let size = validate::page_size("page_size", req.page_size)?;
        let scope: PageScope = filters.scope(&client.settings().tenant_id);
        let offset = self.state.page_tokens.offset(&scope, &req.page_token)?;
        let page = PageRequest { offset, size };
        let page = actions::list_actions(client, &filters, page, &opts).await?;
        Ok(Response::new(proto::ListMachineActionsResponse {
            machine_actions: page.items.iter().map(messages::machine_action).collect(),
            next_page_token: self.state.page_tokens.next_token(&scope, page.next_offset),
        }))
    }

    type WatchMachineActionStream = ResponseStream<proto::MachineAction>;

    async fn watch_machine_action(
        &self,
        request: Request<proto::WatchMachineActionRequest>,
    ) -> Result<Response<Self::WatchMachineActionStream>, Status> {
        let deadline = caller_options(&request)
            .deadline
            .unwrap_or_else(|| tokio::time::Instant::now() + MAX_WATCH_WITHOUT_DEADLINE);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let id = actions::request::action_id("action_id", &req.action_id)?;
        let interval =
            actions::watch::poll_interval(messages::poll_interval(req.poll_interval.as_ref())?);
        let stream = actions::watch_action(&self.state.actions, client, &id, interval, deadline)
            .map(|item| {
                item.map(|a| messages::machine_action(&a))
                    .map_err(Status::from)
            });
        // A watch called again reports the action's current state: nothing is lost.
        Ok(Response::new(until_shutdown(
            Box::pin(stream),
            &self.state,
            true,
        )))
    }

    async fn cancel_machine_action(
        &self,
        request: Request<proto::CancelMachineActionRequest>,
    ) -> Result<Response<proto::MachineAction>, Status> {
        let opts = caller_options(&request);
        let caller = caller(&request)?;
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let cancel = messages::cancel(&req)?;
        let action =
            actions::cancel_action(&self.state.actions, client, caller, cancel, opts).await;
        self.state.metrics.record_action("Cancel", outcome(&action));
        Ok(Response::new(messages::machine_action(&action?)))
    }
}

/// The `outcome` label of an action: `ok`, or the error's stable reason (a closed set).
fn outcome<T>(result: &Result<T, crate::error::ServiceError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => err.reason(),
    }
}
