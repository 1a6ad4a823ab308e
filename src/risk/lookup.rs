//! Rule 1 of the risk model (docs/risk-model.md): finding the Defender machine behind an endpoint.
//!
//! - By id: `GET /api/machines/{id}`.
//! - By IP: Defender's find-by-IP, which only matches machines seen with the address within
//!   about 15 minutes of the time it is given (`observed_at`, default now).
//! - By hostname: an OData filter on `computerDnsName`. A fully qualified name must match
//!   exactly; a short name (no dot) also matches the first label of a fully qualified name, so
//!   the filter is `startswith(computerDnsName,'name.') or computerDnsName eq 'name'` and the
//!   answer is re-checked here (Defender compares case-insensitively; so do we).
//!
//! When several machines match, the most recently seen (`lastSeen`) wins and the others are
//! returned as candidates, most recent first; equal times fall back to the id so the choice is
//! deterministic.

use std::cmp::Reverse;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::defender::{CallOptions, DefenderClient, DefenderTime, Filter, Machine, ODataQuery};
use crate::error::ServiceError;

/// Most machines read for one hostname: beyond that the name is not an identifier.
const MAX_HOSTNAME_MATCHES: u32 = 100;

/// How the caller identified the endpoint (validated and normalised).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKey {
    /// A machine id, lower case.
    MachineId(String),
    /// An address and when it was seen; `explicit` is false when the time is "now".
    Ip {
        /// The address.
        ip: IpAddr,
        /// When the endpoint used it.
        at: OffsetDateTime,
        /// Whether the caller gave the time (else it is the request time).
        explicit: bool,
    },
    /// A hostname, lower case, without a trailing dot.
    Hostname(String),
}

impl EndpointKey {
    /// The look-up as people write it (for NOT_FOUND messages).
    pub fn display_name(&self) -> String {
        match self {
            EndpointKey::MachineId(id) => id.clone(),
            EndpointKey::Ip { ip, .. } => ip.to_string(),
            EndpointKey::Hostname(name) => name.clone(),
        }
    }
}

/// Another machine that matched the look-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Machine id.
    pub machine_id: String,
    /// FQDN.
    pub computer_dns_name: String,
    /// Last local IP.
    pub last_ip_address: String,
    /// Last full report.
    pub last_seen: Option<DefenderTime>,
}

impl Candidate {
    /// The candidate entry of `m`.
    pub(crate) fn of(m: &Machine) -> Self {
        Self {
            machine_id: machine_key(m),
            computer_dns_name: m.computer_dns_name.clone().unwrap_or_default(),
            last_ip_address: m.last_ip_address.clone().unwrap_or_default(),
            last_seen: m.last_seen.clone(),
        }
    }
}

/// The outcome of an IP or hostname look-up, as cached.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The chosen machine's id, lower case.
    pub machine_id: String,
    /// The chosen machine as the look-up returned it (shared with the assessment).
    pub machine: Arc<Machine>,
    /// The other matches, most recently seen first.
    pub candidates: Vec<Candidate>,
    /// When the look-up was answered (the machine entity is that old).
    pub resolved_at: tokio::time::Instant,
}

impl Resolution {
    /// A rough size in bytes, for the cache's memory bound.
    pub fn approx_size(&self) -> usize {
        1200 + self.candidates.len() * 200
    }
}

/// A machine's id in lower case (cache keys and comparisons).
pub fn machine_key(m: &Machine) -> String {
    m.id.as_deref().unwrap_or_default().to_ascii_lowercase()
}

/// The most recently seen machine and the others, most recent first (ties: lower id first).
pub fn choose(mut machines: Vec<Machine>) -> Option<(Machine, Vec<Candidate>)> {
    machines.retain(|m| m.id.as_deref().is_some_and(|id| !id.is_empty()));
    machines.sort_by(|a, b| {
        Reverse(&a.last_seen)
            .cmp(&Reverse(&b.last_seen))
            .then_with(|| machine_key(a).cmp(&machine_key(b)))
    });
    machines.dedup_by(|a, b| machine_key(a) == machine_key(b));
    let mut rest = machines.into_iter();
    let chosen = rest.next()?;
    Some((chosen, rest.map(|m| Candidate::of(&m)).collect()))
}

/// The `$filter` for a hostname look-up (see the module comment).
pub fn hostname_filter(name: &str) -> Filter {
    if name.contains('.') {
        Filter::eq("computerDnsName", name)
    } else {
        Filter::startswith("computerDnsName", &format!("{name}."))
            .or(Filter::eq("computerDnsName", name))
    }
}

/// Whether `computer_dns_name` answers to `name`: equal, or (for a short name) equal to its
/// first label. Case-insensitive; a trailing dot is ignored.
pub fn hostname_matches(name: &str, computer_dns_name: &str) -> bool {
    let dns = computer_dns_name.trim().trim_end_matches('.');
    if dns.eq_ignore_ascii_case(name) {
        return true;
    }
    !name.contains('.')
        && dns
            .split_once('.')
            .is_some_and(|(first, _)| first.eq_ignore_ascii_case(name))
}

fn not_found(key: &EndpointKey) -> ServiceError {
    ServiceError::NotFound {
        resource_type: "machine",
        name: key.display_name(),
    }
}

/// Hostnames per bulk look-up request: about 2.5 KB of `$filter`.
pub const HOSTNAMES_PER_CALL: usize = 25;

/// Resolves many hostnames with one `$filter` per [`HOSTNAMES_PER_CALL`] names (the or of
/// each name's filter), then matches the answers to the names exactly as one look-up would.
/// Each name gets its resolution or NOT_FOUND; a failed request is returned as is.
pub async fn resolve_hostnames(
    client: &DefenderClient,
    names: &[String],
    opts: &CallOptions,
    calls: &super::bulk::CallCounter,
) -> Result<Vec<(String, Result<Resolution, ServiceError>)>, ServiceError> {
    let mut out = Vec::with_capacity(names.len());
    for chunk in names.chunks(HOSTNAMES_PER_CALL) {
        let query = ODataQuery {
            filter: chunk
                .iter()
                .map(|n| hostname_filter(n))
                .reduce(Filter::or)
                .map(Into::into),
            top: Some(MAX_HOSTNAME_MATCHES * u32::try_from(chunk.len()).unwrap_or(1)),
            skip: None,
        };
        let machines = super::bulk::read_all(
            client,
            client.list_machines(&query, opts),
            crate::defender::ApiFamily::Machines,
            opts,
            calls,
        )
        .await?;
        for name in chunk {
            let matching: Vec<Machine> = machines
                .iter()
                .filter(|m| hostname_matches(name, m.computer_dns_name.as_deref().unwrap_or("")))
                .cloned()
                .collect();
            let resolved = choose(matching)
                .map(|(machine, candidates)| Resolution {
                    machine_id: machine_key(&machine),
                    machine: Arc::new(machine),
                    candidates,
                    resolved_at: tokio::time::Instant::now(),
                })
                .ok_or_else(|| not_found(&EndpointKey::Hostname(name.clone())));
            out.push((name.clone(), resolved));
        }
    }
    Ok(out)
}

/// Resolves an IP or hostname look-up. (Look-ups by id need no resolution.)
pub async fn resolve(
    client: &DefenderClient,
    key: &EndpointKey,
    opts: &CallOptions,
) -> Result<Resolution, ServiceError> {
    let machines = match key {
        EndpointKey::MachineId(_) => {
            return Err(ServiceError::Internal(
                "a machine id needs no resolution".into(),
            ));
        }
        EndpointKey::Ip { ip, at, .. } => client
            .find_machines_by_ip(*ip, *at, opts)
            .await
            .map_err(|e| ServiceError::from_defender(e, "machine", &ip.to_string()))?,
        EndpointKey::Hostname(name) => {
            let query = ODataQuery {
                filter: Some(hostname_filter(name).into()),
                top: Some(MAX_HOSTNAME_MATCHES),
                skip: None,
            };
            let not_found = |e| ServiceError::from_defender(e, "machine", name);
            let first = client
                .list_machines(&query, opts)
                .await
                .map_err(not_found)?;
            // A short answer with a next link (server-driven paging) may hide candidates.
            let read = client
                .collect_all(
                    first,
                    crate::defender::ApiFamily::Machines,
                    MAX_HOSTNAME_MATCHES as usize,
                    opts,
                )
                .await
                .map_err(not_found)?;
            read.items
                .into_iter()
                .filter(|m| hostname_matches(name, m.computer_dns_name.as_deref().unwrap_or("")))
                .collect()
        }
    };
    let (machine, candidates) = choose(machines).ok_or_else(|| not_found(key))?;
    Ok(Resolution {
        machine_id: machine_key(&machine),
        machine: Arc::new(machine),
        candidates,
        resolved_at: tokio::time::Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, seen: &str) -> Machine {
        Machine {
            id: Some(id.into()),
            computer_dns_name: Some(format!("{id}.contoso.com")),
            last_seen: Some(DefenderTime::parse(seen)),
            ..Machine::default()
        }
    }

    #[test]
    fn the_most_recently_seen_machine_wins_and_the_rest_are_candidates() {
        let (chosen, others) = choose(vec![
            m("aa", "2024-01-01T00:00:00Z"),
            m("bb", "2024-03-01T00:00:00Z"),
            m("cc", "2024-02-01T00:00:00Z"),
        ])
        .expect("some");
        assert_eq!(chosen.id.as_deref(), Some("bb"));
        let ids: Vec<_> = others.iter().map(|c| c.machine_id.as_str()).collect();
        assert_eq!(ids, ["cc", "aa"]);
    }

    #[test]
    fn equal_times_choose_the_lower_id_and_duplicates_collapse() {
        let (chosen, others) = choose(vec![
            m("BB", "2024-01-01T00:00:00Z"),
            m("aa", "2024-01-01T00:00:00Z"),
            m("bb", "2024-01-01T00:00:00Z"),
        ])
        .expect("some");
        assert_eq!(chosen.id.as_deref(), Some("aa"));
        assert_eq!(others.len(), 1);
        assert!(choose(vec![]).is_none());
    }

    #[test]
    fn short_names_match_the_first_label_and_fqdns_match_exactly() {
        assert!(hostname_matches("desk1", "DESK1.contoso.com"));
        assert!(hostname_matches("desk1", "desk1"));
        assert!(!hostname_matches("desk1", "desk10.contoso.com"));
        assert!(!hostname_matches("desk", "desk1.contoso.com"));
        assert!(hostname_matches("desk1.contoso.com", "Desk1.Contoso.Com."));
        assert!(!hostname_matches("desk1.contoso.com", "desk1"));
        assert!(!hostname_matches(
            "desk1.contoso.com",
            "desk1.contoso.com.au"
        ));
    }

    #[test]
    fn hostname_filters_are_quoted() {
        assert_eq!(
            hostname_filter("desk1").as_str(),
            "startswith(computerDnsName,'desk1.') or computerDnsName eq 'desk1'"
        );
        assert_eq!(hostname_filter("a.b").as_str(), "computerDnsName eq 'a.b'");
    }
}
