//! Entity reads: one typed method per `GET` endpoint the service uses (machines, alerts,
//! vulnerabilities, software, machine actions). Read-only, so transient failures are retried.

use std::net::IpAddr;

use super::{DefenderClient, MACHINES_VULNERABILITIES_MAX_TOP, empty_page, segment};
use crate::defender::budget::ApiFamily;
use crate::defender::error::DefenderError;
use crate::defender::models::{
    Alert, Machine, MachineAction, MachineReference, MachineVulnerability, Software, Vulnerability,
};
use crate::defender::odata::{ODataQuery, format_utc_seconds};
use crate::defender::paging::Page;
use crate::defender::settings::CallOptions;

impl DefenderClient {
    /// `GET /api/machines/{id}`.
    pub async fn get_machine(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<Machine, DefenderError> {
        let url = self.api_url(&["machines", segment("machine id", id)?])?;
        self.get_json(url, ApiFamily::Machines, "machine", opts)
            .await
    }

    /// `GET /api/machines` (one page). Defender answers 404 when it has no recent machines;
    /// that is returned as an empty page.
    pub async fn list_machines(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Machine>, DefenderError> {
        let url = self.list_url(&["machines"], q, ApiFamily::Machines.max_page_size())?;
        match self
            .get_page(url, ApiFamily::Machines, "machines", opts)
            .await
        {
            Err(DefenderError::NotFound { .. }) => Ok(empty_page()),
            other => other,
        }
    }

    /// `GET /api/machines/findbyip(ip='{ip}',timestamp={at})`: machines seen with `ip` within
    /// 15 minutes of `at` (which must be within the last 30 days). No match is an empty list.
    pub async fn find_machines_by_ip(
        &self,
        ip: IpAddr,
        at: time::OffsetDateTime,
        opts: &CallOptions,
    ) -> Result<Vec<Machine>, DefenderError> {
        let function = format!("findbyip(ip='{ip}',timestamp={})", format_utc_seconds(at));
        let url = self.api_url(&["machines", &function])?;
        match self
            .collect_links(url, ApiFamily::Machines, "machines", opts)
            .await
        {
            Err(DefenderError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// `GET /api/machines/{id}/alerts`, following next links (up to 100,000 alerts).
    pub async fn list_machine_alerts(
        &self,
        machine_id: &str,
        opts: &CallOptions,
    ) -> Result<Vec<Alert>, DefenderError> {
        let url = self.api_url(&["machines", segment("machine id", machine_id)?, "alerts"])?;
        self.collect_links(url, ApiFamily::Alerts, "alerts", opts)
            .await
    }

    /// `GET /api/alerts` (one page).
    pub async fn list_alerts(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Alert>, DefenderError> {
        let url = self.list_url(&["alerts"], q, ApiFamily::Alerts.max_page_size())?;
        self.get_page(url, ApiFamily::Alerts, "alerts", opts).await
    }

    /// `GET /api/machines/{id}/vulnerabilities`, following next links (up to 100,000).
    pub async fn list_machine_vulnerabilities(
        &self,
        machine_id: &str,
        opts: &CallOptions,
    ) -> Result<Vec<Vulnerability>, DefenderError> {
        let url = self.api_url(&[
            "machines",
            segment("machine id", machine_id)?,
            "vulnerabilities",
        ])?;
        self.collect_links(
            url,
            ApiFamily::MachineVulnerabilities,
            "vulnerabilities",
            opts,
        )
        .await
    }

    /// `GET /api/vulnerabilities` (one page; `$top` at most 8,000).
    pub async fn list_vulnerabilities(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Vulnerability>, DefenderError> {
        let url = self.list_url(
            &["vulnerabilities"],
            q,
            ApiFamily::Vulnerabilities.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::Vulnerabilities, "vulnerabilities", opts)
            .await
    }

    /// `GET /api/vulnerabilities/machinesVulnerabilities` (one page): (machine, CVE, software)
    /// rows for bulk risk computation.
    pub async fn list_machines_vulnerabilities(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineVulnerability>, DefenderError> {
        let url = self.list_url(
            &["vulnerabilities", "machinesVulnerabilities"],
            q,
            MACHINES_VULNERABILITIES_MAX_TOP,
        )?;
        self.get_page(
            url,
            ApiFamily::Vulnerabilities,
            "machinesVulnerabilities",
            opts,
        )
        .await
    }

    /// `GET /api/Software/{id}`.
    pub async fn get_software(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<Software, DefenderError> {
        let url = self.api_url(&["Software", segment("software id", id)?])?;
        self.get_json(url, ApiFamily::Software, "software", opts)
            .await
    }

    /// `GET /api/Software` (one page).
    pub async fn list_software(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<Software>, DefenderError> {
        let url = self.list_url(&["Software"], q, ApiFamily::Software.max_page_size())?;
        self.get_page(url, ApiFamily::Software, "software", opts)
            .await
    }

    /// `GET /api/Software/{id}/machineReferences` (one page): devices with that software.
    pub async fn list_software_machines(
        &self,
        software_id: &str,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineReference>, DefenderError> {
        let id = segment("software id", software_id)?;
        let url = self.list_url(
            &["Software", id, "machineReferences"],
            q,
            ApiFamily::Software.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::Software, "machineReferences", opts)
            .await
    }

    /// `GET /api/machineactions/{id}`.
    pub async fn get_machine_action(
        &self,
        id: &str,
        opts: &CallOptions,
    ) -> Result<MachineAction, DefenderError> {
        let url = self.api_url(&["machineactions", segment("action id", id)?])?;
        self.get_json(url, ApiFamily::MachineActions, "machine action", opts)
            .await
    }

    /// `GET /api/machineactions` (one page).
    pub async fn list_machine_actions(
        &self,
        q: &ODataQuery,
        opts: &CallOptions,
    ) -> Result<Page<MachineAction>, DefenderError> {
        let url = self.list_url(
            &["machineactions"],
            q,
            ApiFamily::MachineActions.max_page_size(),
        )?;
        self.get_page(url, ApiFamily::MachineActions, "machine actions", opts)
            .await
    }
}
