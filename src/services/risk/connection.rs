//! `CheckConnection`'s answer, domain → proto.

use std::time::SystemTime;

use crate::check::{Capability, ConnectionReport};
use crate::config::HuntingBackend;
use crate::defender::DefenderSettings;
use crate::fleet::FleetStatus;
use crate::proto;

/// A `SystemTime` as a protobuf `Timestamp`.
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

fn capability(c: Capability) -> proto::Capability {
    match c {
        Capability::MachineRisk => proto::Capability::MachineRisk,
        Capability::Vulnerabilities => proto::Capability::Vulnerabilities,
        Capability::Alerts => proto::Capability::Alerts,
        Capability::Isolate => proto::Capability::Isolate,
        Capability::Scan => proto::Capability::Scan,
        Capability::MachineActions => proto::Capability::MachineActions,
        Capability::Hunting => proto::Capability::Hunting,
        Capability::Software => proto::Capability::Software,
    }
}

/// The hunting backend as its proto enum.
pub fn hunting_backend(b: HuntingBackend) -> proto::HuntingBackend {
    match b {
        HuntingBackend::Graph => proto::HuntingBackend::Graph,
        HuntingBackend::Defender => proto::HuntingBackend::Defender,
    }
}

/// The fleet table's figures as their proto message.
pub fn fleet_table(s: &FleetStatus) -> proto::FleetTableStatus {
    proto::FleetTableStatus {
        enabled: s.enabled,
        machines: s.machines,
        last_sweep_finished: s.last_sweep_finished.map(timestamp),
        last_sweep_duration: s
            .last_sweep_duration
            .and_then(|d| prost_types::Duration::try_from(d).ok()),
        last_sweep_upstream_calls: s.last_sweep_upstream_calls,
        last_sweep_failed: s.last_sweep_failed,
        last_sweep_error: s.last_sweep_error.clone(),
        next_sweep: s.next_sweep.map(timestamp),
        data_read_at: s.data_read_at.map(timestamp),
        generation: s.generation,
        failed_sweeps: s.failed_sweeps,
        last_refresh_finished: s.last_refresh_finished.map(timestamp),
        refresh_upstream_calls: s.refresh_upstream_calls,
        refreshed_machines: s.refreshed_machines,
    }
}

/// The "Test Connection" report as the `CheckConnection` response.
pub fn connection_report(
    report: &ConnectionReport,
    settings: &DefenderSettings,
    backend: HuntingBackend,
    fleet: &FleetStatus,
) -> proto::CheckConnectionResponse {
    let t = &report.token;
    proto::CheckConnectionResponse {
        token: Some(proto::TokenCheck {
            ok: t.ok,
            error: t.error.clone().unwrap_or_default(),
            aadsts_code: t.aadsts_code.clone().unwrap_or_default(),
            fix: t.fix.clone().unwrap_or_default(),
            expires_at: t.expires_at.map(timestamp),
            app_id: t.app_id.clone().unwrap_or_default(),
            tenant_id: t.tenant_id.clone().unwrap_or_default(),
            audience: t.audience.clone().unwrap_or_default(),
        }),
        granted_permissions: report.granted_permissions.clone(),
        capabilities: report
            .capabilities
            .iter()
            .map(|c| proto::CapabilityCheck {
                capability: capability(c.capability) as i32,
                available: c.available,
                required: c.required,
                required_permissions: c.required_permissions.clone(),
                missing_permissions: c.missing_permissions.clone(),
                description: match &c.note {
                    Some(note) => format!("{}; {note}", c.capability.description()),
                    None => c.capability.description().to_string(),
                },
            })
            .collect(),
        probe: Some(proto::ProbeResult {
            attempted: report.probe.attempted,
            ok: report.probe.ok,
            call: report.probe.call.clone(),
            http_status: i32::from(report.probe.http_status),
            latency: prost_types::Duration::try_from(report.probe.latency).ok(),
            error: report.probe.error.clone().unwrap_or_default(),
        }),
        ready: report.ready,
        // The reminder matters only when a permission has to be added.
        admin_consent_reminder: if report.capabilities.iter().all(|c| c.available) {
            String::new()
        } else {
            crate::check::ADMIN_CONSENT_REMINDER.to_string()
        },
        cloud: settings.cloud.to_string(),
        api_url: settings.api_base().to_string(),
        hunting_backend: hunting_backend(backend) as i32,
        fleet_table: Some(fleet_table(fleet)),
    }
}
