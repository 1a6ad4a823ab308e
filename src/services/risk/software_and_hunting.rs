//! The software and hunting RPCs of `RiskService`: `GetSoftware`, `ListSoftwareMachines` and
//! `RunHuntingQuery`. Thin adapters, like the other handlers: validate (no upstream call on bad
//! input), call [`crate::software`] or [`crate::hunting`], convert back. `RiskHandlers`
//! delegates to these functions.

use std::sync::Arc;

use futures::StreamExt;
use prost::Message as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::requests as input;
use crate::actions::Caller;
use crate::defender::{MachineReference, Software};
use crate::hunting::audit::HuntingAuditRecord;
use crate::hunting::{self, HuntingRequest};
use crate::proto;
use crate::services::shutdown::until_shutdown;
use crate::services::{ResponseStream, call_options, caller_options, tenant_client};
use crate::software;
use crate::state::AppState;

/// `GetSoftware`.
pub(super) async fn get_software(
    state: &Arc<AppState>,
    request: Request<proto::GetSoftwareRequest>,
) -> Result<Response<proto::Software>, Status> {
    let opts = call_options(state, &request);
    let req = request.into_inner();
    let client = tenant_client(state, &req.tenant)?;
    let id = software::software_id("software_id", &req.software_id)?;
    let found = software::get_software(client, &id, &opts).await?;
    Ok(Response::new(software_proto(&found)))
}

/// `ListSoftwareMachines`.
pub(super) async fn list_software_machines(
    state: &Arc<AppState>,
    request: Request<proto::ListSoftwareMachinesRequest>,
) -> Result<Response<proto::ListSoftwareMachinesResponse>, Status> {
    let opts = call_options(state, &request);
    let req = request.into_inner();
    let client = tenant_client(state, &req.tenant)?;
    let id = software::software_id("software_id", &req.software_id)?;
    let scope = software::machines_scope(&client.settings().tenant_id, &id);
    let offset = state.page_tokens.offset(&scope, &req.page_token)?;
    let page = input::page(req.page_size, offset)?;
    let result = software::list_software_machines(client, &id, page, &opts).await?;
    Ok(Response::new(proto::ListSoftwareMachinesResponse {
        next_page_token: state.page_tokens.next_token(&scope, result.next_offset),
        machines: result.items.iter().map(machine_reference).collect(),
    }))
}

/// `RunHuntingQuery`.
pub(super) async fn run_hunting_query(
    state: &Arc<AppState>,
    request: Request<proto::RunHuntingQueryRequest>,
) -> Result<Response<ResponseStream<proto::RunHuntingQueryResponse>>, Status> {
    let opts = caller_options(&request);
    let caller = Caller::of_request(&request)?;
    let req = request.into_inner();
    let client = tenant_client(state, &req.tenant)?;
    let hunt = HuntingRequest::new(&req.query, req.batch_rows)?;
    let backend = state.config.hunting_backend;
    // Audited before the query leaves (fail closed), and its outcome when the stream ends.
    let log = state.actions.audit.clone();
    let record =
        HuntingAuditRecord::requested(&caller, &client.settings().tenant_id, backend, &hunt.query);
    hunting::audit::requested(&log, &record).await?;
    let rx = match hunting::run_query(client, backend, hunt, &opts).await {
        Ok(rx) => rx,
        Err(err) => {
            hunting::audit::failed(&log, &record, &err).await;
            return Err(err.into());
        }
    };
    let metrics = Arc::clone(&state.metrics);
    let stream =
        hunting::audit::audited(ReceiverStream::new(rx), log, record).map(move |message| {
            if let Ok(response) = &message {
                if let Some(proto::run_hunting_query_response::Payload::Rows(batch)) =
                    &response.payload
                {
                    metrics.record_hunting(batch.rows.len() as u64, response.encoded_len() as u64);
                }
            }
            message.map_err(Status::from)
        });
    Ok(Response::new(until_shutdown(
        Box::pin(stream),
        state,
        false,
    )))
}

fn software_proto(s: &Software) -> proto::Software {
    proto::Software {
        id: s.id.clone().unwrap_or_default(),
        name: s.name.clone().unwrap_or_default(),
        vendor: s.vendor.clone().unwrap_or_default(),
        weaknesses: s.weaknesses.unwrap_or_default(),
        public_exploit: s.public_exploit.unwrap_or_default(),
        active_alert: s.active_alert.unwrap_or_default(),
        exposed_machines: s.exposed_machines.unwrap_or_default(),
        installed_machines: s.installed_machines.unwrap_or_default(),
        impact_score: s.impact_score.unwrap_or_default(),
    }
}

fn machine_reference(m: &MachineReference) -> proto::MachineReference {
    proto::MachineReference {
        id: m.id.clone().unwrap_or_default(),
        computer_dns_name: m.computer_dns_name.clone().unwrap_or_default(),
        os_platform: m.os_platform.clone().unwrap_or_default(),
        rbac_group_name: m.rbac_group_name.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_sample_converts_field_by_field() {
        let s: Software =
            serde_json::from_str(include_str!("../../defender/testdata/software.json"))
                .expect("sample");
        let p = software_proto(&s);
        assert_eq!(p.id, "microsoft-_-edge");
        assert_eq!((p.name.as_str(), p.vendor.as_str()), ("edge", "microsoft"));
        assert_eq!((p.weaknesses, p.exposed_machines), (467, 172));
        assert!(p.public_exploit && !p.active_alert);
        assert_eq!(p.installed_machines, 0);
        assert!((p.impact_score - 2.399_474_38).abs() < 1e-9);
    }

    #[test]
    fn machine_references_convert_with_null_as_empty() {
        let m: MachineReference = serde_json::from_value(serde_json::json!({
            "id": "7c7e1896fa39efb0a32a2cf421d837af1b9bf762",
            "computerDnsName": "dave_desktop",
            "osPlatform": "Windows10",
            "rbacGroupName": null
        }))
        .expect("reference");
        let p = machine_reference(&m);
        assert_eq!(p.computer_dns_name, "dave_desktop");
        assert_eq!(p.rbac_group_name, "");
    }
}
