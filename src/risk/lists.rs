//! The entity reads of `RiskService`: `GetMachine`, `ListMachines`, `ListAlerts`,
//! `ListVulnerabilities`.
//!
//! Paging is by offset ([`crate::paging`]): tenant-wide lists ask Defender for one item more
//! than the page at the page's offset and fill short answers from next links
//! ([`PageRequest::fill`]). A single machine's alerts and vulnerabilities have no documented
//! paging upstream, so they are read whole (following next links) and sliced
//! ([`PageRequest::slice`]).

use super::fleet::MachineFilters;
use crate::defender::{
    Alert, AlertSeverity, AlertStatus, ApiFamily, CallOptions, DefenderClient, Filter, Machine,
    Vulnerability, VulnerabilitySeverity,
};
use crate::error::ServiceError;
use crate::paging::{ListPage, PageRequest, PageScope};

/// `GET /api/machines/{id}`; 404 is NOT_FOUND of that machine.
pub async fn get_machine(
    client: &DefenderClient,
    machine_id: &str,
    opts: &CallOptions,
) -> Result<Machine, ServiceError> {
    client
        .get_machine(machine_id, opts)
        .await
        .map_err(|e| ServiceError::from_defender(e, "machine", machine_id))
}

impl MachineFilters {
    /// The page-token scope of a `ListMachines` with these filters.
    pub fn scope(&self, tenant: &str) -> PageScope {
        PageScope::new("ListMachines", tenant).with("filter", &self.odata().unwrap_or_default())
    }
}

/// A page of `GET /api/machines` with the filters.
pub async fn list_machines(
    client: &DefenderClient,
    filters: &MachineFilters,
    page: PageRequest,
    opts: &CallOptions,
) -> Result<ListPage<Machine>, ServiceError> {
    let first = client
        .list_machines(&page.query(filters.odata())?, opts)
        .await?;
    Ok(page.fill(client, first, ApiFamily::Machines, opts).await?)
}

/// `ListAlerts` filters (validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilters {
    /// Only this machine's alerts (lower case).
    pub machine_id: Option<String>,
    /// Only alerts at least this severe.
    pub min_severity: Option<AlertSeverity>,
    /// Only alerts with this status.
    pub status: Option<AlertStatus>,
}

const ALERT_SEVERITIES: [AlertSeverity; 4] = [
    AlertSeverity::Informational,
    AlertSeverity::Low,
    AlertSeverity::Medium,
    AlertSeverity::High,
];

impl AlertFilters {
    /// The page-token scope of a `ListAlerts` with these filters.
    pub fn scope(&self, tenant: &str) -> PageScope {
        PageScope::new("ListAlerts", tenant)
            .with("machine_id", self.machine_id.as_deref().unwrap_or(""))
            .with("filter", &self.odata().unwrap_or_default())
    }

    fn odata(&self) -> Option<String> {
        let severity = self.min_severity.as_ref().and_then(|min| {
            ALERT_SEVERITIES
                .iter()
                .filter(|s| *s >= min)
                .map(|s| Filter::eq("severity", s.as_str()))
                .reduce(Filter::or)
        });
        let status = self
            .status
            .as_ref()
            .map(|s| Filter::eq("status", s.as_str()));
        [severity, status]
            .into_iter()
            .flatten()
            .reduce(Filter::and)
            .map(Into::into)
    }

    fn matches(&self, alert: &Alert) -> bool {
        let severity_ok = self.min_severity.as_ref().is_none_or(|min| {
            alert
                .severity
                .as_ref()
                .is_some_and(|s| s >= min && ALERT_SEVERITIES.contains(s))
        });
        let status_ok = self
            .status
            .as_ref()
            .is_none_or(|want| alert.status.as_ref() == Some(want));
        severity_ok && status_ok
    }
}

/// A page of alerts: the tenant's (`GET /api/alerts` with `$filter`) or one machine's.
pub async fn list_alerts(
    client: &DefenderClient,
    filters: &AlertFilters,
    page: PageRequest,
    opts: &CallOptions,
) -> Result<ListPage<Alert>, ServiceError> {
    match &filters.machine_id {
        None => {
            let first = client
                .list_alerts(&page.query(filters.odata())?, opts)
                .await?;
            Ok(page.fill(client, first, ApiFamily::Alerts, opts).await?)
        }
        Some(id) => {
            let all = client
                .list_machine_alerts(id, opts)
                .await
                .map_err(|e| ServiceError::from_defender(e, "machine", id))?;
            Ok(page.slice(all.into_iter().filter(|a| filters.matches(a)).collect()))
        }
    }
}

/// `ListVulnerabilities` filters (validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VulnerabilityFilters {
    /// Only this machine's vulnerabilities (lower case).
    pub machine_id: Option<String>,
    /// Only vulnerabilities at least this severe.
    pub min_severity: Option<VulnerabilitySeverity>,
}

const VULNERABILITY_SEVERITIES: [VulnerabilitySeverity; 4] = [
    VulnerabilitySeverity::Low,
    VulnerabilitySeverity::Medium,
    VulnerabilitySeverity::High,
    VulnerabilitySeverity::Critical,
];

impl VulnerabilityFilters {
    /// The page-token scope of a `ListVulnerabilities` with these filters.
    pub fn scope(&self, tenant: &str) -> PageScope {
        PageScope::new("ListVulnerabilities", tenant)
            .with("machine_id", self.machine_id.as_deref().unwrap_or(""))
            .with("filter", &self.odata().unwrap_or_default())
    }

    fn odata(&self) -> Option<String> {
        self.min_severity.as_ref().and_then(|min| {
            VULNERABILITY_SEVERITIES
                .iter()
                .filter(|s| *s >= min)
                .map(|s| Filter::eq("severity", s.as_str()))
                .reduce(Filter::or)
                .map(Into::into)
        })
    }

    fn matches(&self, v: &Vulnerability) -> bool {
        self.min_severity
            .as_ref()
            .is_none_or(|min| v.severity.as_ref().is_some_and(|s| s >= min))
    }
}

/// A page of vulnerabilities: the tenant's (`GET /api/vulnerabilities`) or one machine's.
pub async fn list_vulnerabilities(
    client: &DefenderClient,
    filters: &VulnerabilityFilters,
    page: PageRequest,
    opts: &CallOptions,
) -> Result<ListPage<Vulnerability>, ServiceError> {
    match &filters.machine_id {
        None => {
            let first = client
                .list_vulnerabilities(&page.query(filters.odata())?, opts)
                .await?;
            Ok(page
                .fill(client, first, ApiFamily::Vulnerabilities, opts)
                .await?)
        }
        Some(id) => {
            let all = client
                .list_machine_vulnerabilities(id, opts)
                .await
                .map_err(|e| ServiceError::from_defender(e, "machine", id))?;
            Ok(page.slice(all.into_iter().filter(|v| filters.matches(v)).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_filters_include_everything_at_least_as_severe() {
        let f = AlertFilters {
            machine_id: None,
            min_severity: Some(AlertSeverity::Medium),
            status: Some(AlertStatus::New),
        };
        assert_eq!(
            f.odata().as_deref(),
            Some("(severity eq 'Medium' or severity eq 'High') and status eq 'New'")
        );
        let v = VulnerabilityFilters {
            machine_id: None,
            min_severity: Some(VulnerabilitySeverity::High),
        };
        assert_eq!(
            v.odata().as_deref(),
            Some("severity eq 'High' or severity eq 'Critical'")
        );
    }

    #[test]
    fn scopes_differ_when_filters_differ() {
        let a = AlertFilters::default().scope("t");
        let b = AlertFilters {
            status: Some(AlertStatus::New),
            ..AlertFilters::default()
        }
        .scope("t");
        assert_ne!(a, b);
    }
}
