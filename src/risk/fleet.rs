//! `StreamFleetRisk`: every machine's risk from the bulk list APIs, never one
//! call per machine. The alerts and vulnerability bulk reads come first (they are per tenant,
//! not per page; folded page by page into per-machine summaries, and shared by the tenant's
//! concurrent streams: see [`super::sweep`]), then the machine list is read page by page
//! (`$top=10000`) and each machine is scored and sent as its page arrives, so memory holds
//! the summaries and one page of machines.
//!
//! The stream ends with a [`FleetSummary`] whose `complete` says whether every matching machine
//! was sent: a caller must never mistake a partial list for the fleet. Failures
//! that make the whole read meaningless (no machine permission, authentication, bad filter)
//! end the stream with an error instead.

use std::collections::HashSet;
use std::sync::Arc;

use crate::defender::RepeatGuard;

use tokio::sync::mpsc;
use url::Url;

use super::assess::Assessment;
use super::bulk::{self, BulkParts, CallCounter};
use super::level::RiskLevel;
use super::scoring::Part;
use super::sweep::{SharedSweep, SweepNeeds, SweepResult, Sweeps};
use crate::defender::{
    ApiFamily, CallOptions, DefenderClient, DefenderError, Filter, Machine, ODataQuery, PageCursor,
    RawPage,
};
use crate::error::ServiceError;

/// Defender's largest `$top` for the machine list.
const MACHINES_TOP: u32 = 10_000;

/// Which machines to stream (validated). Filters combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineFilters {
    /// `startswith(computerDnsName, ...)`, lower case.
    pub hostname_prefix: Option<String>,
    /// `riskScore eq ...`.
    pub risk_score: Option<RiskLevel>,
    /// `exposureLevel eq ...`.
    pub exposure_level: Option<RiskLevel>,
    /// `healthStatus eq ...`, as Defender spells it.
    pub health_status: Option<String>,
    /// `osPlatform eq ...`, as Defender spells it.
    pub os_platform: Option<String>,
}

impl MachineFilters {
    /// The `$filter` expression, `None` when no filter is set.
    pub fn odata(&self) -> Option<String> {
        let parts = [
            self.hostname_prefix
                .as_deref()
                .map(|p| Filter::startswith("computerDnsName", p)),
            self.risk_score.map(|l| Filter::eq("riskScore", l.as_str())),
            self.exposure_level
                .map(|l| Filter::eq("exposureLevel", l.as_str())),
            self.health_status
                .as_deref()
                .map(|h| Filter::eq("healthStatus", h)),
            self.os_platform
                .as_deref()
                .map(|o| Filter::eq("osPlatform", o)),
        ];
        parts
            .into_iter()
            .flatten()
            .reduce(Filter::and)
            .map(Into::into)
    }
}

/// One message of the fleet stream.
#[derive(Debug)]
pub enum FleetItem {
    /// A machine's risk.
    Risk(Arc<Assessment>),
    /// The end.
    Summary(FleetSummary),
}

/// How the stream ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetSummary {
    /// Machines sent.
    pub machine_count: u64,
    /// Every matching machine was sent.
    pub complete: bool,
    /// Why not, for people; empty when complete.
    pub reason_incomplete: String,
    /// Permissions whose absence left parts out.
    pub missing_permissions: Vec<String>,
    /// Upstream requests made for this stream: its machine pages and the bulk reads it scored
    /// with (counted in full in each stream that shared them).
    pub upstream_call_count: u32,
}

/// What a fleet stream needs; owned, so the producer can run in its own task.
#[derive(Clone, Debug)]
pub struct FleetRequest {
    /// The tenant's client.
    pub client: DefenderClient,
    /// Portal base for the links.
    pub portal: Url,
    /// Filters.
    pub filters: MachineFilters,
    /// Stop after this many machines (`None`: all).
    pub max_machines: Option<u64>,
    /// The caller's deadline.
    pub opts: CallOptions,
    /// The tenant's shared bulk reads (from the risk cache).
    pub sweeps: Arc<Sweeps>,
}

/// Starts the producer; items arrive on the returned channel (bounded, so a slow reader
/// slows the reads rather than filling memory). The channel closes after the summary or
/// the error.
pub fn stream_fleet(request: FleetRequest) -> mpsc::Receiver<Result<FleetItem, ServiceError>> {
    let (tx, rx) = mpsc::channel(256);
    // Run as part of the RPC: its upstream requests count in the call's access line.
    tokio::spawn(crate::metrics::in_current_call(async move {
        let result = produce(&request, &tx).await;
        let last = match result {
            Ok(summary) => Ok(FleetItem::Summary(summary)),
            Err(err) => Err(err),
        };
        let _ = tx.send(last).await;
    }));
    rx
}

/// Errors that make a fleet read meaningless end the stream with an error; others end it
/// with an incomplete summary.
fn is_fatal(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::MissingAppPermission { .. }
            | ServiceError::AuthenticationFailed { .. }
            | ServiceError::InvalidField { .. }
            | ServiceError::IntegrationDisabled
    )
}

async fn produce(
    req: &FleetRequest,
    tx: &mpsc::Sender<Result<FleetItem, ServiceError>>,
) -> Result<FleetSummary, ServiceError> {
    let calls = CallCounter::default();
    let client = &req.client;
    let tenant = client.settings().tenant_id.clone();
    let mut summary = FleetSummary::default();
    let sweep = match shared_bulk_parts(req, &tenant).await {
        Ok(sweep) => sweep,
        Err(err) if is_fatal(&err) => return Err(err),
        Err(err) => {
            return Ok(incomplete(
                summary,
                &calls,
                format!("bulk read failed: {err}"),
            ));
        }
    };
    calls.add(sweep.result().calls);
    let parts = &sweep.result().parts;
    for part in [&parts.vulnerabilities.missing(), &parts.alerts.missing()] {
        summary.missing_permissions.extend(part.clone());
    }
    let query = ODataQuery {
        filter: req.filters.odata(),
        top: Some(MACHINES_TOP),
        skip: None,
    };
    calls.add_one();
    let first = match client.read_machines_page(&query, &req.opts).await {
        Ok(Some(page)) => page,
        Ok(None) => {
            summary.complete = true;
            summary.upstream_call_count = calls.get();
            return Ok(summary);
        }
        Err(err) => {
            let err = ServiceError::from(err);
            if is_fatal(&err) {
                return Err(err);
            }
            return Ok(incomplete(
                summary,
                &calls,
                format!("reading machines failed: {err}"),
            ));
        }
    };
    let mut walk = Walk {
        scorer: Scorer {
            sweep: sweep.shared(),
            tenant,
            portal: req.portal.clone(),
        },
        tx: tx.clone(),
        max_machines: req.max_machines,
        summary,
        repeats: RepeatGuard::default(),
        stop: None,
    };
    let mut page = first;
    let mut seen_pages = HashSet::new();
    loop {
        let (back, decoded) = walk.page(page).await?;
        walk = back;
        let next = match (decoded, walk.stop.take()) {
            (_, Some(Stop::CallerGone)) => return Ok(walk.summary),
            (_, Some(Stop::Incomplete(reason))) => {
                return Ok(incomplete(walk.summary, &calls, reason));
            }
            (Err(err), None) => {
                let message = format!(
                    "reading machines failed after {} machines: {}",
                    walk.summary.machine_count,
                    ServiceError::from(err)
                );
                return Ok(incomplete(walk.summary, &calls, message));
            }
            (Ok(next), None) => next,
        };
        let Some(cursor) = next else { break };
        if let Err(message) = walk.repeats.check_link(&cursor) {
            return Ok(incomplete(walk.summary, &calls, message));
        }
        if !seen_pages.insert(cursor.url().clone()) {
            return Ok(incomplete(
                walk.summary,
                &calls,
                "Defender's paging links form a loop".into(),
            ));
        }
        calls.add_one();
        page = match client
            .read_next_page(&cursor, ApiFamily::Machines, &req.opts)
            .await
        {
            Ok(page) => page,
            Err(err) => {
                let message = format!(
                    "reading machines failed after {} machines: {}",
                    walk.summary.machine_count,
                    ServiceError::from(err)
                );
                return Ok(incomplete(walk.summary, &calls, message));
            }
        };
    }
    let mut summary = walk.summary;
    summary.complete = true;
    summary.upstream_call_count = calls.get();
    Ok(summary)
}

/// Why a page walk stopped before the end of the list.
#[derive(Debug)]
enum Stop {
    /// The stream's receiver is gone; nobody reads the summary.
    CallerGone,
    /// The stream ends incomplete, for this reason.
    Incomplete(String),
}

/// Scores machines against a sweep; owned, so it can move to a blocking thread.
struct Scorer {
    sweep: Arc<SweepResult>,
    tenant: String,
    portal: Url,
}

impl Scorer {
    fn assess(&self, machine: Machine) -> Arc<Assessment> {
        let score = self.sweep.parts.score(&machine);
        Arc::new(Assessment::new(
            &self.tenant,
            &self.portal,
            Arc::new(machine),
            score,
        ))
    }
}

/// The state of the walk over the machine pages, moved to the blocking thread that decodes a
/// page and back.
struct Walk {
    scorer: Scorer,
    tx: mpsc::Sender<Result<FleetItem, ServiceError>>,
    max_machines: Option<u64>,
    summary: FleetSummary,
    repeats: RepeatGuard,
    stop: Option<Stop>,
}

impl Walk {
    /// Decodes `page` on a blocking thread, scoring and sending each machine as soon as it is
    /// decoded (`blocking_send` waits for room in the bounded channel, so a slow reader slows
    /// the decoding and memory holds the body plus the channel's items, never the page's
    /// machines at once). Returns the walk and where the next page is.
    async fn page(
        self,
        page: RawPage,
    ) -> Result<(Walk, Result<Option<PageCursor>, DefenderError>), ServiceError> {
        tokio::task::spawn_blocking(move || {
            let mut walk = self;
            let decoded = page.fold(&mut |machine: Machine| walk.machine(machine));
            (walk, decoded)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("fleet page decoding failed: {e}")))
    }

    fn machine(&mut self, machine: Machine) {
        if self.stop.is_some() {
            return;
        }
        if self
            .max_machines
            .is_some_and(|max| self.summary.machine_count >= max)
        {
            // More machines exist (this one): the stream is not the whole fleet.
            self.stop = Some(Stop::Incomplete("max_machines reached".into()));
            return;
        }
        if !self.repeats.item(machine.id.as_deref()) {
            // Pages overlap: sending on would repeat machines and a count past the fleet.
            self.stop = Some(Stop::Incomplete(format!(
                "Defender's pages repeated machine {} after {} machines",
                machine.id.as_deref().unwrap_or_default(),
                self.summary.machine_count
            )));
            return;
        }
        let assessment = self.scorer.assess(machine);
        if self
            .tx
            .blocking_send(Ok(FleetItem::Risk(assessment)))
            .is_err()
        {
            self.stop = Some(Stop::CallerGone);
            return;
        }
        self.summary.machine_count += 1;
    }
}

fn incomplete(mut summary: FleetSummary, calls: &CallCounter, reason: String) -> FleetSummary {
    summary.complete = false;
    summary.reason_incomplete = reason;
    summary.upstream_call_count = calls.get();
    summary
}

/// The alert and vulnerability bulk reads, skipping those the filters make useless (rule 4:
/// every machine has riskScore None; rule 3: none can be above Informational); shared with
/// the concurrent streams of the tenant ([`Sweeps::fleet_sweep`]).
async fn shared_bulk_parts(req: &FleetRequest, tenant: &str) -> Result<SharedSweep, ServiceError> {
    let f = &req.filters;
    let needs = SweepNeeds {
        alerts: f.risk_score != Some(RiskLevel::None),
        vulnerabilities: !(f.risk_score.is_some_and(|l| !l.is_meaningful())
            && f.exposure_level.is_some_and(|l| !l.is_meaningful())),
    };
    req.sweeps
        .fleet_sweep(tenant, needs, move || async move {
            let calls = CallCounter::default();
            let parts = bulk_parts(req, needs, &calls).await?;
            if let Part::Fetched(index) = &parts.alerts {
                req.sweeps.record_active_alerts(tenant, index.active_seen());
            }
            Ok(SweepResult {
                parts,
                calls: calls.get(),
            })
        })
        .await
}

async fn bulk_parts(
    req: &FleetRequest,
    needs: SweepNeeds,
    calls: &CallCounter,
) -> Result<BulkParts, ServiceError> {
    // One after the other, not at once: each read holds a page body (about 10 MB at 10,000
    // items) while it folds it, and the summaries of the first are already whole when the
    // second runs, so reading both at once added a page body to the stream's peak for a few
    // seconds saved (docs/memory.md).
    let vulnerabilities = if needs.vulnerabilities {
        bulk::vulnerabilities(&req.client, None, &req.opts, calls).await
    } else {
        Ok(Part::Skipped("no machine can need them".into()))
    };
    let vulnerabilities = vulnerabilities?;
    let alerts = if needs.alerts {
        bulk::active_alerts(&req.client, None, &req.opts, calls).await
    } else {
        Ok(Part::Skipped("no machine can need them".into()))
    };
    Ok(BulkParts {
        vulnerabilities,
        alerts: alerts?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine_with_and_and_are_quoted() {
        let f = MachineFilters {
            hostname_prefix: Some("desk".into()),
            risk_score: Some(RiskLevel::High),
            exposure_level: None,
            health_status: Some("Active".into()),
            os_platform: Some("Windows11".into()),
        };
        assert_eq!(
            f.odata().as_deref(),
            Some(
                "startswith(computerDnsName,'desk') and riskScore eq 'High' and healthStatus eq 'Active' and osPlatform eq 'Windows11'"
            )
        );
        assert_eq!(MachineFilters::default().odata(), None);
    }
}
