//! `RiskService`: reading risk. Each handler validates (no upstream call on bad input),
//! converts proto to domain ([`requests`]), calls [`crate::risk`], and converts back
//! ([`responses`]). `GetSoftware`, `ListSoftwareMachines` and `RunHuntingQuery` delegate to
//! [`software_and_hunting`].

mod connection;
pub(super) mod fast_path;
mod grpc_raw;
pub(super) mod requests;
pub(super) mod responses;
mod software_and_hunting;
pub(super) mod table_answers;
pub(super) mod views;

use std::sync::Arc;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use url::Url;

use super::shutdown::until_shutdown;
use super::{ResponseStream, call_options, caller_options, tenant_client};
use crate::check;
use crate::defender::{CallOptions, DefenderClient};
use crate::error::ServiceError;
use crate::paging::ListPage;
use crate::paging::PageScope;
use crate::proto;
use crate::proto::risk_service_server::RiskService;
use crate::risk::lists;
use crate::risk::{EndpointQuery, EndpointRisk, FleetItem, FleetRequest, RiskEngine, fleet};
use crate::state::AppState;
use views::View;

/// The `RiskService` handlers: the generated trait's implementation.
#[derive(Debug, Clone)]
pub struct RiskHandlers {
    state: Arc<AppState>,
}

impl RiskHandlers {
    /// Wraps the shared state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// The deadline of a call that sent none.
    pub(super) fn default_deadline(&self) -> std::time::Duration {
        self.state.config.default_deadline
    }

    /// The portal base of the links.
    pub(super) fn portal(&self) -> &Url {
        &self.state.config.portal_url
    }

    /// `GetEndpointRisk`'s checks, done before any upstream call (bad input costs none): the
    /// tenant, the validated query and the view asked for. Shared by the generated handler and
    /// the encoded fast path of [`fast_path::FastPathRiskServer`].
    pub(super) fn endpoint_query(
        &self,
        req: &proto::GetEndpointRiskRequest,
    ) -> Result<(EndpointQuery, View), ServiceError> {
        tenant_client(&self.state, &req.tenant)?;
        let query = requests::endpoint_query(req, "", false, OffsetDateTime::now_utc())?;
        let view = requests::view("", req.view)?.unwrap_or_default();
        Ok((query, view))
    }

    /// `GetEndpointRisk` of a checked request, up to the domain result.
    pub(super) async fn endpoint_risk(
        &self,
        query: &EndpointQuery,
        opts: &CallOptions,
    ) -> Result<EndpointRisk, ServiceError> {
        let client = tenant_client(&self.state, "")?;
        self.engine(client).endpoint_risk(query, opts).await
    }

    fn engine<'a>(&'a self, client: &'a DefenderClient) -> RiskEngine<'a> {
        RiskEngine::new(client, &self.state.cache, self.portal())
    }

    /// The offset a page token stands for in the listing `scope`.
    fn offset(&self, scope: &PageScope, token: &str) -> Result<u64, ServiceError> {
        self.state.page_tokens.offset(scope, token)
    }

    /// The next page token of `page` (empty on the last page).
    fn next_token<T>(&self, scope: &PageScope, page: &ListPage<T>) -> String {
        self.state.page_tokens.next_token(scope, page.next_offset)
    }
}

/// An item's own tenant wins over the batch's; a wrong one is that item's INVALID_FIELD.
fn item_tenant<'a>(
    state: &Arc<AppState>,
    batch: &'a str,
    item: &'a proto::GetEndpointRiskRequest,
    index: usize,
) -> Result<(), ServiceError> {
    let tenant = if item.tenant.trim().is_empty() {
        batch
    } else {
        &item.tenant
    };
    tenant_client(state, tenant)
        .map(|_| ())
        .map_err(|err| match err {
            ServiceError::InvalidField { field, description } => ServiceError::InvalidField {
                field: format!("requests[{index}].{field}"),
                description,
            },
            other => other,
        })
}

#[tonic::async_trait]
impl RiskService for RiskHandlers {
    async fn get_endpoint_risk(
        &self,
        request: Request<proto::GetEndpointRiskRequest>,
    ) -> Result<Response<proto::EndpointRisk>, Status> {
        let opts = call_options(&self.state, &request);
        let (query, view) = self.endpoint_query(request.get_ref())?;
        let risk = self.endpoint_risk(&query, &opts).await?;
        Ok(Response::new(views::endpoint_risk(
            &risk,
            view,
            self.portal(),
        )))
    }

    async fn batch_get_endpoint_risks(
        &self,
        request: Request<proto::BatchGetEndpointRisksRequest>,
    ) -> Result<Response<proto::BatchGetEndpointRisksResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        requests::batch_size(&req)?;
        let batch_view = requests::view("", req.view)?.unwrap_or_default();
        let now = OffsetDateTime::now_utc();
        let items = req
            .requests
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item_tenant(&self.state, &req.tenant, item, i)?;
                let prefix = format!("requests[{i}].");
                let query = requests::endpoint_query(item, &prefix, req.bypass_cache, now)?;
                requests::view(&prefix, item.view)?;
                Ok(query)
            })
            .collect();
        // An item's own view wins (an invalid one made the item an error above).
        let item_view = |item: &proto::GetEndpointRiskRequest| {
            requests::view("", item.view)
                .ok()
                .flatten()
                .unwrap_or(batch_view)
        };
        let results = self.engine(client).batch(items, &opts).await;
        // A failure of the whole batch (no token) is the call's error, not 1,000 copies of it.
        if let Some(Err(err @ ServiceError::AuthenticationFailed { .. })) = results
            .iter()
            .find(|r| matches!(r, Err(ServiceError::AuthenticationFailed { .. })))
        {
            return Err(err.clone().into());
        }
        let results = results
            .iter()
            .zip(&req.requests)
            .enumerate()
            .map(|(i, (result, item))| proto::BatchEndpointRiskResult {
                index: i32::try_from(i).unwrap_or(i32::MAX),
                result: Some(match result {
                    Ok(risk) => proto::batch_endpoint_risk_result::Result::Risk(
                        views::endpoint_risk(risk, item_view(item), self.portal()),
                    ),
                    Err(err) => proto::batch_endpoint_risk_result::Result::Error(
                        responses::endpoint_risk_error(err),
                    ),
                }),
            })
            .collect();
        Ok(Response::new(proto::BatchGetEndpointRisksResponse {
            results,
        }))
    }

    type StreamFleetRiskStream = ResponseStream<proto::StreamFleetRiskResponse>;

    async fn stream_fleet_risk(
        &self,
        request: Request<proto::StreamFleetRiskRequest>,
    ) -> Result<Response<Self::StreamFleetRiskStream>, Status> {
        let opts = caller_options(&request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?.clone();
        // Held by the response stream: each stream holds a page of machines and the tenant's
        // alert and vulnerability indexes, so their number is capped server-wide.
        let permit = Arc::clone(&self.state.fleet_streams)
            .try_acquire_owned()
            .map_err(|_| ServiceError::StreamLimitReached {
                rpc: "StreamFleetRisk",
                limit: self.state.config.limits.max_fleet_streams,
                setting: "max_fleet_streams",
            })?;
        let filters = requests::machine_filters(
            "",
            req.risk_score,
            req.exposure_level,
            &req.health_status,
            &req.os_platform,
        )?;
        let max_machines = requests::max_machines(req.max_machines)?;
        let view = requests::view("", req.view)?.unwrap_or_default();
        let portal = self.portal().clone();
        let rx = fleet::stream_fleet(FleetRequest {
            client,
            portal: portal.clone(),
            filters,
            max_machines,
            opts,
            sweeps: self.state.cache.sweeps().clone(),
        });
        use proto::stream_fleet_risk_response::Item;
        let stream = ReceiverStream::new(rx).map(move |item| {
            let _held = &permit;
            let item = match item? {
                FleetItem::Risk(assessment) => Item::Risk(views::endpoint_risk(
                    &EndpointRisk {
                        assessment,
                        other_candidates: Vec::new(),
                        cached: false,
                        stale_because: None,
                    },
                    view,
                    &portal,
                )),
                FleetItem::Summary(summary) => Item::Summary(responses::fleet_summary(&summary)),
            };
            Ok(proto::StreamFleetRiskResponse { item: Some(item) })
        });
        Ok(Response::new(until_shutdown(
            Box::pin(stream),
            &self.state,
            false,
        )))
    }

    async fn get_machine(
        &self,
        request: Request<proto::GetMachineRequest>,
    ) -> Result<Response<proto::Machine>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let id = crate::risk::validate::machine_id("machine_id", &req.machine_id)?;
        let machine = lists::get_machine(client, &id, &opts).await?;
        Ok(Response::new(responses::machine(&machine)))
    }

    async fn list_machines(
        &self,
        request: Request<proto::ListMachinesRequest>,
    ) -> Result<Response<proto::ListMachinesResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let filters = requests::machine_filters(
            &req.hostname_prefix,
            req.risk_score,
            req.exposure_level,
            &req.health_status,
            &req.os_platform,
        )?;
        let scope = filters.scope(&client.settings().tenant_id);
        let page = requests::page(req.page_size, self.offset(&scope, &req.page_token)?)?;
        let result = lists::list_machines(client, &filters, page, &opts).await?;
        Ok(Response::new(proto::ListMachinesResponse {
            next_page_token: self.next_token(&scope, &result),
            machines: result.items.iter().map(responses::machine).collect(),
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<proto::ListAlertsRequest>,
    ) -> Result<Response<proto::ListAlertsResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let filters = requests::alert_filters(&req)?;
        let tenant = &client.settings().tenant_id;
        let scope = filters.scope(tenant);
        let page = requests::page(req.page_size, self.offset(&scope, &req.page_token)?)?;
        let result = lists::list_alerts(client, &filters, page, &opts).await?;
        Ok(Response::new(proto::ListAlertsResponse {
            next_page_token: self.next_token(&scope, &result),
            alerts: result
                .items
                .iter()
                .map(|a| responses::alert(a, self.portal(), tenant))
                .collect(),
        }))
    }

    async fn list_vulnerabilities(
        &self,
        request: Request<proto::ListVulnerabilitiesRequest>,
    ) -> Result<Response<proto::ListVulnerabilitiesResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let filters = requests::vulnerability_filters(&req)?;
        let tenant = &client.settings().tenant_id;
        let scope = filters.scope(tenant);
        let page = requests::page(req.page_size, self.offset(&scope, &req.page_token)?)?;
        let result = lists::list_vulnerabilities(client, &filters, page, &opts).await?;
        Ok(Response::new(proto::ListVulnerabilitiesResponse {
            next_page_token: self.next_token(&scope, &result),
            vulnerabilities: result
                .items
                .iter()
                .map(|v| responses::vulnerability(v, self.portal(), tenant))
                .collect(),
        }))
    }

    async fn get_software(
        &self,
        request: Request<proto::GetSoftwareRequest>,
    ) -> Result<Response<proto::Software>, Status> {
        software_and_hunting::get_software(&self.state, request).await
    }

    async fn list_software_machines(
        &self,
        request: Request<proto::ListSoftwareMachinesRequest>,
    ) -> Result<Response<proto::ListSoftwareMachinesResponse>, Status> {
        software_and_hunting::list_software_machines(&self.state, request).await
    }

    type RunHuntingQueryStream = ResponseStream<proto::RunHuntingQueryResponse>;

    async fn run_hunting_query(
        &self,
        request: Request<proto::RunHuntingQueryRequest>,
    ) -> Result<Response<Self::RunHuntingQueryStream>, Status> {
        software_and_hunting::run_hunting_query(&self.state, request).await
    }

    async fn check_connection(
        &self,
        request: Request<proto::CheckConnectionRequest>,
    ) -> Result<Response<proto::CheckConnectionResponse>, Status> {
        let opts = call_options(&self.state, &request);
        let req = request.into_inner();
        let client = tenant_client(&self.state, &req.tenant)?;
        let backend = self.state.config.hunting_backend;
        let report = check::run(
            client,
            backend,
            check::SERVICE_REQUIRED,
            !req.skip_probe,
            &opts,
        )
        .await;
        Ok(Response::new(connection::connection_report(
            &report,
            client.settings(),
            backend,
            &self.state.cache.fleet().status(),
        )))
    }
}
