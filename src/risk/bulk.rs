//! Reading the inputs of many assessments with Defender's bulk list APIs instead of one call
//! per machine (`StreamFleetRisk`, and the cold part of a batch):
//!
//! - machines by id: `GET /api/machines?$filter=id eq 'a' or id eq 'b' ...`, 40 ids a call;
//! - active alerts: `GET /api/alerts?$filter=status ne 'Resolved'&$top=10000`, paged, grouped
//!   by `machineId` (the alerts list cannot filter on the machine);
//! - vulnerabilities: `GET /api/vulnerabilities/machinesVulnerabilities` rows (machine, CVE,
//!   product; filtered by `machineId` 40 ids a call, or all of them for the fleet), then the
//!   CVE details (CVSS, exploits) of each machine's top-severity CVEs from
//!   `GET /api/vulnerabilities` — by id when they are few, else the whole list.
//!
//! The rules still apply per machine ([`BulkParts::score`]): the bulk reads only replace the
//! per-machine calls. Rows are kept compact (CVE ids interned), since a fleet has millions.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use super::level::RiskLevel;
use super::scoring::{
    self, ALERT_PERMISSION, Part, Score, VULNERABILITY_PERMISSION, Vulnerabilities,
};
use crate::defender::{
    Alert, ApiFamily, CallOptions, DefenderClient, DefenderError, Filter, Machine, ODataQuery,
    Page, RepeatGuard, Vulnerability,
};
use crate::error::ServiceError;

/// Ids per `$filter=... or ...` request: about 2.5 KB of URL, well under every server's limit.
pub const IDS_PER_CALL: usize = 40;
/// At most this many CVE details (two calls) are read by id; beyond that the whole list, 8,000
/// a page, is usually as cheap (a tenant's list is a few pages) and does not grow with the fleet.
const CVES_BY_ID_MAX: usize = 2 * IDS_PER_CALL;
/// Bulk requests in flight at once.
const PARALLEL: usize = 4;
/// Defender's largest `$top` for alerts and machinesVulnerabilities.
const BULK_TOP: u32 = 10_000;
/// Defender's largest `$top` for the vulnerability list.
const VULNERABILITY_TOP: u32 = 8_000;

/// Counts the upstream requests of a bulk read (pages included).
#[derive(Debug, Default)]
pub struct CallCounter(AtomicU32);

impl CallCounter {
    /// Requests counted so far.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one request.
    pub fn add_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads `first` and every page after it.
pub(crate) async fn read_all<T: DeserializeOwned>(
    client: &DefenderClient,
    first: impl std::future::Future<Output = Result<Page<T>, DefenderError>>,
    family: ApiFamily,
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Vec<T>, DefenderError> {
    calls.add_one();
    let page = first.await?;
    let mut items = page.items;
    let mut next = page.next;
    let mut seen = HashSet::new();
    // Offsets only: these rows have no single id, and a repeat here cannot inflate the fleet.
    let mut repeats = RepeatGuard::default();
    repeats.items(items.len());
    while let Some(cursor) = next {
        if let Err(message) = repeats.check_link(&cursor) {
            return Err(DefenderError::Decode {
                what: "@odata.nextLink".into(),
                message,
            });
        }
        if !seen.insert(cursor.url().clone()) {
            return Err(DefenderError::Decode {
                what: "@odata.nextLink".into(),
                message: "paging links form a loop".into(),
            });
        }
        calls.add_one();
        let page = client.next_page::<T>(&cursor, family, opts).await?;
        repeats.items(page.items.len());
        items.extend(page.items);
        next = page.next;
    }
    Ok(items)
}

/// `field eq 'a' or field eq 'b' ...`.
fn any_of(field: &str, values: &[String]) -> Option<String> {
    values
        .iter()
        .map(|v| Filter::eq(field, v))
        .reduce(Filter::or)
        .map(Into::into)
}

/// Reads machines by id, 40 a call; ids Defender does not know are simply absent.
pub async fn machines_by_ids(
    client: &DefenderClient,
    ids: &[String],
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Vec<Machine>, ServiceError> {
    // Owned chunks: a stream of borrowed slices trips the `Send` check of async handlers.
    let chunks: Vec<Vec<String>> = ids.chunks(IDS_PER_CALL).map(<[String]>::to_vec).collect();
    let chunks: Vec<Vec<Machine>> = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let query = ODataQuery {
                filter: any_of("id", &chunk),
                // One more than can match: a full page would make the client look for a next one.
                top: Some(u32::try_from(chunk.len() + 1).unwrap_or(BULK_TOP)),
                skip: None,
            };
            read_all(
                client,
                client.list_machines(&query, opts),
                ApiFamily::Machines,
                opts,
                calls,
            )
            .await
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await
        .map_err(ServiceError::from)?;
    Ok(chunks.into_iter().flatten().collect())
}

/// A missing permission leaves a bulk part out (rule 7); other failures fail the read.
fn optional<T>(
    result: Result<T, DefenderError>,
    permission: &str,
) -> Result<Part<T>, ServiceError> {
    match result {
        Ok(value) => Ok(Part::Fetched(value)),
        Err(DefenderError::MissingPermission { .. } | DefenderError::Forbidden { .. }) => {
            Ok(Part::MissingPermission(permission.to_string()))
        }
        Err(err) => Err(err.into()),
    }
}

/// Every active (not Resolved) alert of the tenant, grouped by machine id (lower case).
pub async fn active_alerts(
    client: &DefenderClient,
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Part<HashMap<String, Vec<Alert>>>, ServiceError> {
    let query = ODataQuery {
        filter: Some(Filter::ne("status", "Resolved").into()),
        top: Some(BULK_TOP),
        skip: None,
    };
    let alerts = read_all(
        client,
        client.list_alerts(&query, opts),
        ApiFamily::Alerts,
        opts,
        calls,
    )
    .await;
    Ok(optional(alerts, ALERT_PERMISSION)?.map(|alerts| {
        let mut by_machine: HashMap<String, Vec<Alert>> = HashMap::new();
        for alert in alerts.into_iter().filter(scoring::is_active) {
            if let Some(id) = alert.machine_id.as_deref().filter(|id| !id.is_empty()) {
                by_machine
                    .entry(id.to_ascii_lowercase())
                    .or_default()
                    .push(alert);
            }
        }
        by_machine
    }))
}

/// Machines' vulnerabilities, compact: interned CVE ids per machine and the details of the
/// CVEs that can be a machine's most severe one.
#[derive(Debug, Default)]
pub struct VulnerabilityIndex {
    cves: Vec<(String, RiskLevel)>,
    by_machine: HashMap<String, Vec<u32>>,
    details: HashMap<u32, Vulnerability>,
}

impl VulnerabilityIndex {
    fn add_row(
        &mut self,
        interned: &mut HashMap<String, u32>,
        machine: &str,
        cve: &str,
        level: RiskLevel,
    ) {
        let next = u32::try_from(self.cves.len()).unwrap_or(u32::MAX);
        let index = *interned.entry(cve.to_string()).or_insert_with(|| {
            self.cves.push((cve.to_string(), level));
            next
        });
        self.by_machine
            .entry(machine.to_ascii_lowercase())
            .or_default()
            .push(index);
    }

    fn finish_rows(&mut self) {
        for list in self.by_machine.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
    }

    /// The CVEs at each machine's highest severity: the only ones whose details matter.
    fn top_cves(&self) -> HashSet<u32> {
        let mut top = HashSet::new();
        for list in self.by_machine.values() {
            let max = list.iter().map(|i| self.cves[*i as usize].1).max();
            top.extend(
                list.iter()
                    .filter(|i| Some(self.cves[**i as usize].1) == max),
            );
        }
        top
    }

    /// One machine's vulnerabilities as scoring needs them.
    pub fn for_machine(&self, machine_id: &str) -> Vulnerabilities {
        let Some(list) = self.by_machine.get(&machine_id.to_ascii_lowercase()) else {
            return Vulnerabilities::default();
        };
        let max = list.iter().map(|i| self.cves[*i as usize].1).max();
        let candidates = list
            .iter()
            .filter(|i| Some(self.cves[**i as usize].1) == max)
            .map(|i| {
                self.details.get(i).cloned().unwrap_or_else(|| {
                    let (id, level) = &self.cves[*i as usize];
                    Vulnerability {
                        id: Some(id.clone()),
                        name: Some(id.clone()),
                        severity: Some(crate::defender::VulnerabilitySeverity::parse(
                            level.as_str(),
                        )),
                        ..Vulnerability::default()
                    }
                })
            })
            .collect();
        Vulnerabilities {
            count: list.len(),
            candidates,
        }
    }
}

/// Vulnerabilities of the machines `ids` (40 a call), or of every machine when `ids` is `None`.
pub async fn vulnerabilities(
    client: &DefenderClient,
    ids: Option<&[String]>,
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Part<VulnerabilityIndex>, ServiceError> {
    let filters: Vec<Option<String>> = match ids {
        Some(ids) => ids
            .chunks(IDS_PER_CALL)
            .map(|c| any_of("machineId", c))
            .collect(),
        None => vec![None],
    };
    let rows = futures::stream::iter(filters)
        .map(|filter| async move {
            let query = ODataQuery {
                filter,
                top: Some(BULK_TOP),
                skip: None,
            };
            read_all(
                client,
                client.list_machines_vulnerabilities(&query, opts),
                ApiFamily::Vulnerabilities,
                opts,
                calls,
            )
            .await
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await;
    let Part::Fetched(chunks) = optional(rows, VULNERABILITY_PERMISSION)? else {
        return Ok(Part::MissingPermission(
            VULNERABILITY_PERMISSION.to_string(),
        ));
    };
    let mut index = VulnerabilityIndex::default();
    let mut interned = HashMap::new();
    for row in chunks.into_iter().flatten() {
        if let (Some(machine), Some(cve)) = (row.machine_id.as_deref(), row.cve_id.as_deref()) {
            let level = RiskLevel::from_vulnerability_severity(row.severity.as_ref());
            index.add_row(&mut interned, machine, cve, level);
        }
    }
    index.finish_rows();
    let wanted: Vec<u32> = index.top_cves().into_iter().collect();
    let details = cve_details(client, &index, &wanted, opts, calls).await;
    match optional(details, VULNERABILITY_PERMISSION)? {
        Part::Fetched(list) => {
            for v in list {
                if let Some(i) = v.id.as_deref().and_then(|id| interned.get(id)) {
                    index.details.insert(*i, v);
                }
            }
            Ok(Part::Fetched(index))
        }
        _ => Ok(Part::MissingPermission(
            VULNERABILITY_PERMISSION.to_string(),
        )),
    }
}

/// The details of `wanted` CVEs: by id (40 a call) when few, else the whole list.
async fn cve_details(
    client: &DefenderClient,
    index: &VulnerabilityIndex,
    wanted: &[u32],
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Vec<Vulnerability>, DefenderError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let filters: Vec<Option<String>> = if wanted.len() <= CVES_BY_ID_MAX {
        let ids: Vec<String> = wanted
            .iter()
            .map(|i| index.cves[*i as usize].0.clone())
            .collect();
        ids.chunks(IDS_PER_CALL).map(|c| any_of("id", c)).collect()
    } else {
        vec![None]
    };
    let lists: Vec<Vec<Vulnerability>> = futures::stream::iter(filters)
        .map(|filter| async move {
            let query = ODataQuery {
                filter,
                top: Some(VULNERABILITY_TOP),
                skip: None,
            };
            read_all(
                client,
                client.list_vulnerabilities(&query, opts),
                ApiFamily::Vulnerabilities,
                opts,
                calls,
            )
            .await
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}

/// The bulk-read inputs of many assessments.
#[derive(Debug)]
pub struct BulkParts {
    /// Active alerts by machine, or why they are absent.
    pub alerts: Part<HashMap<String, Vec<Alert>>>,
    /// Vulnerabilities by machine, or why they are absent.
    pub vulnerabilities: Part<VulnerabilityIndex>,
}

impl BulkParts {
    /// Scores one machine from the bulk inputs, applying rules 3, 4 and 7 to it.
    pub fn score(&self, machine: &Machine) -> Score {
        let id = machine.id.as_deref().unwrap_or_default();
        let vulnerabilities = match scoring::vulnerabilities_needed(
            machine.risk_score.as_ref(),
            machine.exposure_level.as_ref(),
        ) {
            Err(why) => Part::Skipped(why),
            Ok(()) => match &self.vulnerabilities {
                Part::Fetched(index) => Part::Fetched(index.for_machine(id)),
                Part::Skipped(why) => Part::Skipped(why.clone()),
                Part::MissingPermission(p) => Part::MissingPermission(p.clone()),
            },
        };
        let alerts = match scoring::alerts_needed(machine.risk_score.as_ref()) {
            Err(why) => Part::Skipped(why),
            Ok(()) => match &self.alerts {
                Part::Fetched(map) => Part::Fetched(
                    map.get(&id.to_ascii_lowercase())
                        .cloned()
                        .unwrap_or_default(),
                ),
                Part::Skipped(why) => Part::Skipped(why.clone()),
                Part::MissingPermission(p) => Part::MissingPermission(p.clone()),
            },
        };
        scoring::score(machine, vulnerabilities, alerts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keeps_counts_and_only_top_severity_candidates() {
        let mut index = VulnerabilityIndex::default();
        let mut interned = HashMap::new();
        for (m, cve, level) in [
            ("M1", "CVE-1", RiskLevel::High),
            ("m1", "CVE-1", RiskLevel::High), // another product, same CVE
            ("m1", "CVE-2", RiskLevel::Low),
            ("m1", "CVE-3", RiskLevel::High),
            ("m2", "CVE-2", RiskLevel::Low),
        ] {
            index.add_row(&mut interned, m, cve, level);
        }
        index.finish_rows();
        let m1 = index.for_machine("M1");
        assert_eq!(m1.count, 3);
        let mut ids: Vec<_> = m1.candidates.iter().filter_map(|v| v.id.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["CVE-1", "CVE-3"]);
        assert_eq!(index.top_cves().len(), 3);
        assert_eq!(index.for_machine("m3"), Vulnerabilities::default());
    }

    #[test]
    fn id_filters_are_or_chains() {
        let ids = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            any_of("id", &ids).as_deref(),
            Some("id eq 'a' or id eq 'b'")
        );
        assert_eq!(any_of("id", &[]), None);
    }
}
