//! Reading the inputs of many assessments with Defender's bulk list APIs instead of one call
//! per machine (`StreamFleetRisk`, and the cold part of a batch):
//!
//! - machines by id: `GET /api/machines?$filter=id eq 'a' or id eq 'b' ...`, 40 ids a call;
//! - active alerts: `GET /api/alerts?$filter=status ne 'Resolved'&$top=10000`, paged, folded
//!   by `machineId` into per-machine summaries (the alerts list cannot filter on the machine),
//!   or, for a few machines, `GET /api/machines/{id}/alerts` each (see [`AlertRead`]);
//! - vulnerabilities: `GET /api/vulnerabilities/machinesVulnerabilities` rows (machine, CVE,
//!   product; filtered by `machineId` 40 ids a call, or all of them for the fleet), then the
//!   CVE details (CVSS, exploits) of each machine's top-severity CVEs from
//!   `GET /api/vulnerabilities` — by id when they are few, else the whole list.
//!
//! The rules still apply per machine ([`BulkParts::score`]): the bulk reads only replace the
//! per-machine calls. Every bulk page is decoded item by item and folded into compact
//! per-machine summaries ([`AlertIndex`], [`VulnerabilityIndex`]: CVE ids interned) as it is
//! read, so memory holds one page's body and the summaries, never a tenant's alerts or rows.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use super::alert_index::AlertIndex;
use super::level::RiskLevel;
use super::scoring::{self, ALERT_PERMISSION, Part, Score, VULNERABILITY_PERMISSION};
pub use super::vulnerability_index::VulnerabilityIndex;
use super::vulnerability_index::VulnerabilityRows;
use crate::defender::{
    Alert, ApiFamily, BulkList, CallOptions, DefenderClient, DefenderError, Filter, Machine,
    MachineVulnerability, ODataQuery, Page, PageCursor, RepeatGuard, Vulnerability,
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

/// Tenant-wide alert pages assumed when no tenant-wide read has counted them yet: up to this
/// many machines, per-machine alert reads are chosen.
pub const UNKNOWN_ALERT_PAGES: u64 = 16;

/// How the alerts of a set of machines are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertRead {
    /// `GET /api/machines/{id}/alerts`, one call per machine.
    PerMachine,
    /// Every active alert of the tenant, `$top=10000` a page, kept for the wanted machines.
    TenantWide,
}

impl AlertRead {
    /// The cheaper read for `machines` machines, by upstream calls: per machine it is one call
    /// each; tenant-wide it is one per 10,000 active alerts, known from `known_active` (the
    /// count of the last tenant-wide read) or else assumed to be [`UNKNOWN_ALERT_PAGES`]. A
    /// tie goes to the per-machine reads, which hold far less.
    pub fn cheaper(machines: usize, known_active: Option<u64>) -> Self {
        let pages = known_active.map_or(UNKNOWN_ALERT_PAGES, |n| {
            n.div_ceil(u64::from(BULK_TOP)).max(1)
        });
        if machines as u64 <= pages {
            AlertRead::PerMachine
        } else {
            AlertRead::TenantWide
        }
    }
}

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
        self.add(1);
    }

    /// Counts `n` requests.
    pub fn add(&self, n: u32) {
        self.0.fetch_add(n, Ordering::Relaxed);
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
    let mut links = LinkCheck::default();
    let mut read = items.len();
    while let Some(cursor) = next {
        links.check(&cursor, read)?;
        calls.add_one();
        let page = client.next_page::<T>(&cursor, family, opts).await?;
        read = page.items.len();
        items.extend(page.items);
        next = page.next;
    }
    Ok(items)
}

/// Refuses a next link that would re-read items (its `$skip` goes back) or loop. Offsets only:
/// bulk rows have no single id, and a repeat here cannot inflate the fleet.
#[derive(Default)]
struct LinkCheck {
    seen: HashSet<url::Url>,
    repeats: RepeatGuard,
}

impl LinkCheck {
    /// Checks `cursor`, after `read` more items were read since the last check.
    fn check(&mut self, cursor: &PageCursor, read: usize) -> Result<(), DefenderError> {
        self.repeats.items(read);
        let refused = |message: String| DefenderError::Decode {
            what: "@odata.nextLink".into(),
            message,
        };
        self.repeats.check_link(cursor).map_err(refused)?;
        if !self.seen.insert(cursor.url().clone()) {
            return Err(refused("paging links form a loop".into()));
        }
        Ok(())
    }
}

/// Reads the bulk `list` and every page after it, handing each item to `each` as it is
/// decoded: one page's body at a time, never the items of a page together.
pub(crate) async fn fold_all<T: DeserializeOwned>(
    client: &DefenderClient,
    list: BulkList,
    query: &ODataQuery,
    opts: &CallOptions,
    calls: &CallCounter,
    each: &mut (dyn FnMut(T) + Send),
) -> Result<(), DefenderError> {
    // Items folded so far, for the repeat check.
    let folded = AtomicUsize::new(0);
    let mut counted = |item: T| {
        folded.fetch_add(1, Ordering::Relaxed);
        each(item);
    };
    calls.add_one();
    let mut next = client.fold_list(list, query, opts, &mut counted).await?;
    let mut links = LinkCheck::default();
    let mut accounted = 0;
    while let Some(cursor) = next {
        let total = folded.load(Ordering::Relaxed);
        links.check(&cursor, total - accounted)?;
        accounted = total;
        calls.add_one();
        next = client
            .fold_next_page(&cursor, list.family(), opts, &mut counted)
            .await?;
    }
    Ok(())
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

/// Every active (not Resolved) alert of the tenant, folded page by page into per-machine
/// summaries; only the machines in `keep` (lower-case ids) are kept, all when `None`.
pub async fn active_alerts(
    client: &DefenderClient,
    keep: Option<&HashSet<String>>,
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Part<AlertIndex>, ServiceError> {
    let query = ODataQuery {
        filter: Some(Filter::ne("status", "Resolved").into()),
        top: Some(BULK_TOP),
        skip: None,
    };
    let mut index = AlertIndex::default();
    let read = fold_all(
        client,
        BulkList::Alerts,
        &query,
        opts,
        calls,
        &mut |alert: Alert| {
            if scoring::is_active(&alert) {
                index.add(alert, |id| keep.is_none_or(|k| k.contains(id)));
            }
        },
    )
    .await;
    index.freeze();
    Ok(optional(read, ALERT_PERMISSION)?.map(|()| index))
}

/// The alerts of each machine in `ids`, one `GET /api/machines/{id}/alerts` each (cheaper
/// than the tenant-wide read for a few machines), folded into summaries. A machine whose read
/// fails is in the second map (by lower-case id) with its error.
pub async fn machine_alerts(
    client: &DefenderClient,
    ids: &[String],
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<Part<(AlertIndex, HashMap<String, ServiceError>)>, ServiceError> {
    let reads: Vec<(String, Result<Vec<Alert>, DefenderError>)> =
        futures::stream::iter(ids.to_vec())
            .map(|id| async move {
                calls.add_one();
                let alerts = client.list_machine_alerts(&id, opts).await;
                (id, alerts)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    let mut index = AlertIndex::default();
    let mut failed = HashMap::new();
    for (id, read) in reads {
        match read {
            Ok(alerts) => {
                index.mark_read(&id);
                for alert in alerts {
                    index.add_for(&id, alert);
                }
            }
            Err(DefenderError::MissingPermission { .. } | DefenderError::Forbidden { .. }) => {
                return Ok(Part::MissingPermission(ALERT_PERMISSION.to_string()));
            }
            Err(err) => {
                let err = ServiceError::from_defender(err, "machine", &id);
                failed.insert(id.to_ascii_lowercase(), err);
            }
        }
    }
    index.freeze();
    Ok(Part::Fetched((index, failed)))
}

/// Vulnerabilities of the machines `ids` (40 a call), or of every machine when `ids` is `None`,
/// folded into the index as each page is decoded.
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
    let shared = Mutex::new(VulnerabilityRows::default());
    let state = &shared;
    let rows = futures::stream::iter(filters)
        .map(|filter| async move {
            let query = ODataQuery {
                filter,
                top: Some(BULK_TOP),
                skip: None,
            };
            fold_all(
                client,
                BulkList::MachinesVulnerabilities,
                &query,
                opts,
                calls,
                &mut |row: MachineVulnerability| {
                    if let (Some(machine), Some(cve)) =
                        (row.machine_id.as_deref(), row.cve_id.as_deref())
                    {
                        let level = RiskLevel::from_vulnerability_severity(row.severity.as_ref());
                        state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .add(machine, cve, level);
                    }
                },
            )
            .await
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await;
    if let Part::MissingPermission(p) = optional(rows, VULNERABILITY_PERMISSION)? {
        return Ok(Part::MissingPermission(p));
    }
    let rows = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    let (mut index, interned) = rows.finish();
    let wanted = index.top_cves();
    let details = cve_details(client, &index, &interned, &wanted, opts, calls).await;
    match optional(details, VULNERABILITY_PERMISSION)? {
        Part::Fetched(details) => {
            index.set_details(details);
            Ok(Part::Fetched(index))
        }
        _ => Ok(Part::MissingPermission(
            VULNERABILITY_PERMISSION.to_string(),
        )),
    }
}

/// The details of `wanted` CVEs: by id (40 a call) when few, else the whole list, keeping only
/// the wanted ones as each page is decoded.
async fn cve_details(
    client: &DefenderClient,
    index: &VulnerabilityIndex,
    interned: &HashMap<Box<str>, u32>,
    wanted: &HashSet<u32>,
    opts: &CallOptions,
    calls: &CallCounter,
) -> Result<HashMap<u32, Vulnerability>, DefenderError> {
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let filters: Vec<Option<String>> = if wanted.len() <= CVES_BY_ID_MAX {
        let mut ids: Vec<String> = wanted
            .iter()
            .filter_map(|i| index.cve_id(*i).map(str::to_string))
            .collect();
        ids.sort();
        ids.chunks(IDS_PER_CALL).map(|c| any_of("id", c)).collect()
    } else {
        vec![None]
    };
    let details = Mutex::new(HashMap::new());
    let details_ref = &details;
    futures::stream::iter(filters)
        .map(|filter| async move {
            let query = ODataQuery {
                filter,
                top: Some(VULNERABILITY_TOP),
                skip: None,
            };
            fold_all(
                client,
                BulkList::Vulnerabilities,
                &query,
                opts,
                calls,
                &mut |v: Vulnerability| {
                    let i = v.id.as_deref().and_then(|id| interned.get(id)).copied();
                    if let Some(i) = i.filter(|i| wanted.contains(i)) {
                        details_ref
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(i, v);
                    }
                },
            )
            .await
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(details.into_inner().unwrap_or_else(PoisonError::into_inner))
}

/// The bulk-read inputs of many assessments.
#[derive(Debug)]
pub struct BulkParts {
    /// Active alerts by machine, or why they are absent.
    pub alerts: Part<AlertIndex>,
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
                Part::Fetched(index) => Part::Fetched(index.for_machine(id)),
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
    fn alert_reads_are_chosen_by_call_count() {
        // Unknown tenant: per machine up to the assumed page count.
        assert_eq!(AlertRead::cheaper(5, None), AlertRead::PerMachine);
        assert_eq!(AlertRead::cheaper(16, None), AlertRead::PerMachine);
        assert_eq!(AlertRead::cheaper(17, None), AlertRead::TenantWide);
        // 125,000 active alerts: 13 pages.
        assert_eq!(AlertRead::cheaper(13, Some(125_000)), AlertRead::PerMachine);
        assert_eq!(AlertRead::cheaper(14, Some(125_000)), AlertRead::TenantWide);
        // A small tenant: one page beats two calls.
        assert_eq!(AlertRead::cheaper(1, Some(0)), AlertRead::PerMachine);
        assert_eq!(AlertRead::cheaper(2, Some(300)), AlertRead::TenantWide);
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
