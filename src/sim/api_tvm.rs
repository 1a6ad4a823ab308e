//! Threat & vulnerability management routes: the vulnerability catalogue, a machine's
//! vulnerabilities, the bulk machinesVulnerabilities list, and software with its machine
//! references. All are collections with `$filter`/`$top`/`$skip` and nextLinks.

use std::borrow::Cow;

use serde::Serialize;

use super::api_machines::lookup;
use super::catalog::{SimSoftware, SimVulnerability};
use super::fleet::SimMachine;
use super::odata::{FieldType, Filterable, Schema, Value};
use super::routes::Call;
use super::wire::{self, ApiError, ApiResult, iso, paginate};

/// `$top` maximum of the vulnerability list (8,000, not 10,000).
const MAX_TOP_VULNERABILITIES: usize = 8_000;
const MAX_TOP: usize = 10_000;

static VULN_SCHEMA: Schema = Schema {
    entity: "Vulnerability",
    fields: &[
        ("id", FieldType::Str),
        ("name", FieldType::Str),
        ("description", FieldType::Str),
        ("cvssV3", FieldType::Num),
        ("publishedOn", FieldType::Date),
        ("severity", FieldType::Str),
        ("updatedOn", FieldType::Date),
    ],
    unfilterable: &[
        "exposedMachines",
        "publicExploit",
        "exploitVerified",
        "exploitInKit",
        "cvssVector",
    ],
};

static MACHINE_VULN_SCHEMA: Schema = Schema {
    entity: "PublicAssetVulnerabilityDto",
    fields: &[
        ("id", FieldType::Str),
        ("cveId", FieldType::Str),
        ("machineId", FieldType::Str),
        ("fixingKbId", FieldType::Str),
        ("productName", FieldType::Str),
        ("productVersion", FieldType::Str),
        ("severity", FieldType::Str),
        ("productVendor", FieldType::Str),
    ],
    unfilterable: &[],
};

static SOFTWARE_SCHEMA: Schema = Schema {
    entity: "Software",
    fields: &[
        ("id", FieldType::Str),
        ("name", FieldType::Str),
        ("vendor", FieldType::Str),
    ],
    unfilterable: &[
        "weaknesses",
        "publicExploit",
        "activeAlert",
        "exposedMachines",
        "impactScore",
    ],
};

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

impl Filterable for SimVulnerability {
    fn field(&self, index: usize) -> Value<'_> {
        match index {
            0 | 1 => s(&self.id),
            2 => s(&self.description),
            3 => Value::Num(self.cvss_v3),
            4 => Value::Date(self.published_on),
            5 => s(self.severity),
            6 => Value::Date(self.updated_on),
            _ => Value::Null,
        }
    }
}

impl Filterable for SimSoftware {
    fn field(&self, index: usize) -> Value<'_> {
        match index {
            0 => s(&self.id),
            1 => s(&self.name),
            2 => s(&self.vendor),
            _ => Value::Null,
        }
    }
}

/// Defender's Vulnerability entity. The per-machine list omits `cvssVector` and
/// `CveSupportability` (as `samples/machine_vulnerabilities.json` does).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VulnDto<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    severity: &'a str,
    cvss_v3: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cvss_vector: Option<&'a str>,
    exposed_machines: u32,
    published_on: String,
    updated_on: String,
    public_exploit: bool,
    exploit_verified: bool,
    exploit_in_kit: bool,
    exploit_types: &'a [&'static str],
    exploit_uris: &'a [String],
    #[serde(rename = "CveSupportability", skip_serializing_if = "Option::is_none")]
    cve_supportability: Option<&'a str>,
}

fn vuln_dto(v: &SimVulnerability, full: bool) -> VulnDto<'_> {
    VulnDto {
        id: &v.id,
        name: &v.id,
        description: &v.description,
        severity: v.severity,
        cvss_v3: v.cvss_v3,
        cvss_vector: full.then_some(v.cvss_vector),
        exposed_machines: v.exposed_machines,
        published_on: iso(v.published_on),
        updated_on: iso(v.updated_on),
        public_exploit: v.public_exploit,
        exploit_verified: v.exploit_verified,
        exploit_in_kit: v.exploit_in_kit,
        exploit_types: &v.exploit_types,
        exploit_uris: &v.exploit_uris,
        cve_supportability: full.then_some("Supported"),
    }
}

fn vuln_page<'a>(
    c: &Call<'_>,
    items: impl Iterator<Item = &'a SimVulnerability>,
    max: usize,
    context: &str,
    full: bool,
) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, max)?;
    let filter = opts.filter(&VULN_SCHEMA)?;
    let matching = items.filter(|v| filter.as_ref().is_none_or(|f| f.matches(*v)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let value: Vec<VulnDto<'_>> = page.into_iter().map(|v| vuln_dto(v, full)).collect();
    Ok(wire::collection(context, value, more, &paging))
}

/// `GET /api/vulnerabilities`.
pub(crate) fn list_vulnerabilities(c: &Call<'_>) -> ApiResult {
    vuln_page(
        c,
        c.fleet().vulnerabilities().iter(),
        MAX_TOP_VULNERABILITIES,
        "Vulnerabilities",
        true,
    )
}

/// `GET /api/vulnerabilities/{cveId}`.
pub(crate) fn get_vulnerability(c: &Call<'_>, id: &str) -> ApiResult {
    match c
        .fleet()
        .vulnerabilities()
        .iter()
        .find(|v| v.id.eq_ignore_ascii_case(id))
    {
        Some(v) => Ok(wire::entity("Vulnerabilities/$entity", vuln_dto(v, true))),
        None => Err(wire::not_found(format!("Vulnerability {id} was not found"))),
    }
}

/// `GET /api/machines/{id}/vulnerabilities`.
pub(crate) fn machine_vulnerabilities(c: &Call<'_>, id: &str) -> ApiResult {
    let m = lookup(c, id)?;
    let all = c.fleet().vulnerabilities();
    let items = m
        .vulnerabilities
        .iter()
        .filter_map(|i| all.get(*i as usize));
    vuln_page(
        c,
        items,
        MAX_TOP,
        "Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)",
        false,
    )
}

/// `GET /api/Software/{id}/vulnerabilities`.
pub(crate) fn software_vulnerabilities(c: &Call<'_>, id: &str) -> ApiResult {
    let sw = software_index(c, id)?;
    let items = c
        .fleet()
        .vulnerabilities()
        .iter()
        .filter(|v| v.software as usize == sw);
    vuln_page(c, items, MAX_TOP_VULNERABILITIES, "Vulnerabilities", true)
}

/// One row of machinesVulnerabilities: (machine, vulnerability, product).
struct MachineVulnRow<'a> {
    m: &'a SimMachine,
    v: &'a SimVulnerability,
    sw: &'a SimSoftware,
}

impl MachineVulnRow<'_> {
    fn id(&self) -> String {
        format!(
            "{}-_-{}-_-{}-_-{}-_-{}-_-{}",
            self.m.id,
            self.v.id,
            self.sw.vendor,
            self.sw.name,
            self.sw.version,
            self.v.fixing_kb.as_deref().unwrap_or("")
        )
    }
}

impl Filterable for MachineVulnRow<'_> {
    fn field(&self, index: usize) -> Value<'_> {
        match index {
            0 => Value::Str(Cow::Owned(self.id())),
            1 => s(&self.v.id),
            2 => s(&self.m.id),
            3 => self.v.fixing_kb.as_deref().map_or(Value::Null, s),
            4 => s(&self.sw.name),
            5 => s(&self.sw.version),
            6 => s(self.v.severity),
            7 => s(&self.sw.vendor),
            _ => Value::Null,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MachineVulnDto<'a> {
    id: String,
    cve_id: &'a str,
    machine_id: &'a str,
    fixing_kb_id: Option<&'a str>,
    product_name: &'a str,
    product_vendor: &'a str,
    product_version: &'a str,
    severity: &'a str,
}

/// `GET /api/vulnerabilities/machinesVulnerabilities`.
pub(crate) fn machines_vulnerabilities(c: &Call<'_>) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let filter = opts.filter(&MACHINE_VULN_SCHEMA)?;
    let fleet = c.fleet();
    let (vulns, software) = (fleet.vulnerabilities(), fleet.software());
    let rows = fleet.machines().iter().flat_map(|m| {
        m.vulnerabilities.iter().filter_map(move |i| {
            let v = vulns.get(*i as usize)?;
            Some(MachineVulnRow {
                m,
                v,
                sw: software.get(v.software as usize)?,
            })
        })
    });
    let matching = rows.filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let value: Vec<MachineVulnDto<'_>> = page
        .iter()
        .map(|r| MachineVulnDto {
            id: r.id(),
            cve_id: &r.v.id,
            machine_id: &r.m.id,
            fixing_kb_id: r.v.fixing_kb.as_deref(),
            product_name: &r.sw.name,
            product_vendor: &r.sw.vendor,
            product_version: &r.sw.version,
            severity: r.v.severity,
        })
        .collect();
    Ok(wire::collection(
        "Collection(microsoft.windowsDefenderATP.api.PublicAssetVulnerabilityDto)",
        value,
        more,
        &paging,
    ))
}

/// Defender's Software entity (with the XSOAR-observed extra fields).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SoftwareDto<'a> {
    id: &'a str,
    name: &'a str,
    vendor: &'a str,
    weaknesses: u32,
    public_exploit: bool,
    active_alert: bool,
    exposed_machines: u32,
    installed_machines: u32,
    impact_score: f64,
    is_normalized: bool,
    category: &'a str,
    distributions: &'a [&'a str],
}

fn software_dto(s: &SimSoftware) -> SoftwareDto<'_> {
    SoftwareDto {
        id: &s.id,
        name: &s.name,
        vendor: &s.vendor,
        weaknesses: s.weaknesses,
        public_exploit: s.public_exploit,
        active_alert: s.active_alert,
        exposed_machines: s.exposed_machines,
        installed_machines: s.installed_machines,
        impact_score: s.impact_score,
        is_normalized: true,
        category: "",
        distributions: &[],
    }
}

fn software_index(c: &Call<'_>, id: &str) -> Result<usize, ApiError> {
    c.fleet()
        .software_index(id)
        .ok_or_else(|| wire::not_found(format!("Software {id} was not found")))
}

fn software_page<'a>(c: &Call<'_>, items: impl Iterator<Item = &'a SimSoftware>) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let filter = opts.filter(&SOFTWARE_SCHEMA)?;
    let matching = items.filter(|s| filter.as_ref().is_none_or(|f| f.matches(*s)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let value: Vec<SoftwareDto<'_>> = page.into_iter().map(software_dto).collect();
    Ok(wire::collection("Software", value, more, &paging))
}

/// `GET /api/Software`.
pub(crate) fn list_software(c: &Call<'_>) -> ApiResult {
    software_page(c, c.fleet().software().iter())
}

/// `GET /api/machines/{id}/software`.
pub(crate) fn machine_software(c: &Call<'_>, id: &str) -> ApiResult {
    let m = lookup(c, id)?;
    let all = c.fleet().software();
    software_page(c, m.software.iter().filter_map(|i| all.get(*i as usize)))
}

/// `GET /api/Software/{id}`.
pub(crate) fn get_software(c: &Call<'_>, id: &str) -> ApiResult {
    software_index(c, id)
        .map(|i| wire::entity("Software/$entity", software_dto(&c.fleet().software()[i])))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MachineReference<'a> {
    id: &'a str,
    computer_dns_name: &'a str,
    os_platform: &'a str,
    rbac_group_name: Option<&'a str>,
}

/// `GET /api/Software/{id}/machineReferences`.
pub(crate) fn software_machines(c: &Call<'_>, id: &str) -> ApiResult {
    let sw = software_index(c, id)?;
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let machines = c.fleet().machines();
    let refs = c
        .fleet()
        .installed_on(sw)
        .iter()
        .filter_map(|i| machines.get(*i as usize));
    let (page, more) = paginate(refs, opts.skip, paging.size);
    let value: Vec<MachineReference<'_>> = page
        .into_iter()
        .map(|m| MachineReference {
            id: &m.id,
            computer_dns_name: &m.computer_dns_name,
            os_platform: m.os_platform,
            rbac_group_name: m.rbac_group_name,
        })
        .collect();
    Ok(wire::collection("MachineReferences", value, more, &paging))
}
