//! The in-process fleet table: one generation of every machine's row (its prepared answers and
//! look-up facts, [`super::row`]) with its look-up indexes, swapped whole when a sweep finishes.
//!
//! Per machine a generation holds a slot (the shared row and an "invalidated" flag) and a few
//! 16-byte index entries: (hash, slot) pairs for the machine id, each IP address and the
//! hostname (full and short), kept in sorted vectors. A hit is checked against the row's own
//! facts, so a hash collision costs a comparison, never a wrong answer, and the indexes hold no
//! copy of any text.
//!
//! A sweep builds the next generation from the current one: each machine it reads replaces
//! that machine's row in the generation being served at once (so the previous row is freed as
//! the sweep goes, not when it ends), and the new generation shares the row. Only the slots and
//! indexes (about 100 bytes a machine) exist twice until the swap.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

use time::OffsetDateTime;

use super::row::{Render, Row, fingerprint};
use super::{FleetStatus, FleetStore};
use crate::defender::Machine;
use crate::risk::engine::MACHINE_REUSE;
use crate::risk::lookup::hostname_matches;
use crate::risk::machine_key::MachineKey;
use crate::risk::{Assessment, EndpointKey, Resolution};

/// Find-by-IP's window around the time it is given.
const IP_WINDOW: time::Duration = time::Duration::minutes(15);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One machine of a generation.
#[derive(Debug)]
struct Slot {
    row: Mutex<Arc<Row>>,
    /// Set by an action on the machine: answers go to Defender until it is re-assessed.
    invalid: AtomicBool,
}

impl Slot {
    fn get(&self) -> Arc<Row> {
        Arc::clone(&lock(&self.row))
    }
}

/// (hash, slot index) pairs sorted by hash.
type Index = Vec<(u64, u32)>;

/// One sweep's table: immutable but for the slots' contents.
#[derive(Debug)]
pub struct Generation {
    /// Lower case, for comparisons.
    tenant: String,
    /// As configured: the answers' `tenant`.
    tenant_text: String,
    /// When the sweep started reading (every part is at least this fresh).
    read_at: SystemTime,
    started: Instant,
    render: Render,
    hasher: foldhash::fast::RandomState,
    slots: Vec<Slot>,
    ids: Index,
    ips: Index,
    names: Index,
}

/// Builds a generation as a sweep's assessments arrive.
#[derive(Debug)]
pub struct GenerationBuilder {
    generation: Generation,
    /// The generation being served, whose rows this sweep replaces as it reads them.
    previous: Option<Arc<Generation>>,
}

impl GenerationBuilder {
    /// An empty generation of `tenant` whose reads started at `read_at` (`started` on the
    /// monotonic clock), its rows rendered by `render`.
    pub fn new(tenant: &str, read_at: SystemTime, started: Instant, render: Render) -> Self {
        Self {
            generation: Generation {
                tenant: tenant.to_ascii_lowercase(),
                tenant_text: tenant.to_string(),
                read_at,
                started,
                render,
                hasher: foldhash::fast::RandomState::default(),
                slots: Vec::new(),
                ids: Vec::new(),
                ips: Vec::new(),
                names: Vec::new(),
            },
            previous: None,
        }
    }

    /// Adds one machine's assessment (a machine without an id is left out). Only its row is
    /// kept; if the generation being served has the machine, its row is replaced there too
    /// (the older one is freed now rather than at the swap).
    pub fn push(&mut self, assessment: &Assessment) {
        let g = &mut self.generation;
        let Some(row) = Row::of(assessment, &g.render) else {
            return;
        };
        let Ok(slot) = u32::try_from(g.slots.len()) else {
            return;
        };
        let f = &row.facts;
        g.ids.push((g.hasher.hash_one(&f.key), slot));
        for ip in f.ips.iter() {
            g.ips.push((g.hasher.hash_one(ip), slot));
        }
        let full = normal_name(&f.dns);
        if !full.is_empty() {
            g.names.push((g.hasher.hash_one(&full), slot));
            if let Some((short, _)) = full.split_once('.') {
                g.names.push((g.hasher.hash_one(short), slot));
            }
        }
        let row = Arc::new(row);
        if let Some(old) = self
            .previous
            .as_ref()
            .filter(|p| p.tenant == g.tenant)
            .and_then(|p| p.slot_of(&row.facts.key))
        {
            *lock(&old.row) = Arc::clone(&row);
        }
        g.slots.push(Slot {
            row: Mutex::new(row),
            invalid: AtomicBool::new(false),
        });
    }

    /// Machines added so far.
    pub fn len(&self) -> usize {
        self.generation.slots.len()
    }

    /// Whether no machine was added.
    pub fn is_empty(&self) -> bool {
        self.generation.slots.is_empty()
    }

    /// The finished generation (indexes sorted, spare capacity returned).
    pub fn finish(mut self) -> Generation {
        let g = &mut self.generation;
        for index in [&mut g.ids, &mut g.ips, &mut g.names] {
            index.sort_unstable();
            index.dedup();
            index.shrink_to_fit();
        }
        g.slots.shrink_to_fit();
        self.generation
    }
}

/// A host name as the indexes hash it: trimmed, lower case, no trailing dot.
fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl Generation {
    /// Slots whose entry in `index` has the hash of `key`.
    fn candidates<'a>(&'a self, index: &'a Index, hash: u64) -> impl Iterator<Item = &'a Slot> {
        let start = index.partition_point(|(h, _)| *h < hash);
        index[start..]
            .iter()
            .take_while(move |(h, _)| *h == hash)
            .filter_map(move |(_, slot)| self.slots.get(*slot as usize))
    }

    fn slot_of(&self, key: &MachineKey) -> Option<&Slot> {
        self.candidates(&self.ids, self.hasher.hash_one(key))
            .find(|slot| slot.get().facts.key == *key)
    }

    fn slot(&self, machine_id: &str) -> Option<&Slot> {
        self.slot_of(&MachineKey::of(machine_id))
    }

    fn is_tenant(&self, tenant: &str) -> bool {
        self.tenant.eq_ignore_ascii_case(tenant)
    }

    /// The machines that answer to `name` (hostname rules), or `None` if one of them is
    /// invalidated (the look-up then goes to Defender).
    fn by_name(&self, name: &str) -> Option<Vec<Arc<Row>>> {
        let name = normal_name(name);
        let mut found = Vec::new();
        for slot in self.candidates(&self.names, self.hasher.hash_one(name.as_str())) {
            let row = slot.get();
            if hostname_matches(&name, &row.facts.dns) {
                if slot.invalid.load(Ordering::Acquire) {
                    return None;
                }
                found.push(row);
            }
        }
        Some(found)
    }

    /// The machines seen with `ip` around `at` (find-by-IP's rule as the table can tell it:
    /// the address is one of the machine's, and `at` lies within 15 minutes of the time from
    /// its first to its last report, which runs to now for a machine still reporting), or
    /// `None` if one of them is invalidated.
    fn by_ip(&self, ip: IpAddr, at: OffsetDateTime) -> Option<Vec<Arc<Row>>> {
        let now = OffsetDateTime::now_utc();
        let mut found = Vec::new();
        for slot in self.candidates(&self.ips, self.hasher.hash_one(ip)) {
            let row = slot.get();
            let f = &row.facts;
            if f.ips.binary_search(&ip).is_err() {
                continue;
            }
            if slot.invalid.load(Ordering::Acquire) {
                return None;
            }
            let first = f.first_seen.as_ref().and_then(|t| t.datetime());
            let last = f.last_seen.as_ref().and_then(|t| t.datetime());
            let until = if f.active {
                Some(last.map_or(now, |l| l.max(now)))
            } else {
                last
            };
            let after_first = first.is_none_or(|f| f - IP_WINDOW <= at);
            let before_last = until.is_some_and(|u| at <= u + IP_WINDOW);
            if after_first && before_last {
                found.push(row);
            }
        }
        Some(found)
    }
}

/// The most recently seen machine and the others (the look-up's rule, [`lookup::choose`]),
/// over the table's rows. `None` when nothing matched.
///
/// The resolution's machine entity holds only what the table knows (identifiers and times),
/// so it is dated as too old for a cold assessment to start from it: should the table stop
/// answering the machine's risk in between, that assessment reads the machine again.
///
/// [`lookup::choose`]: crate::risk::lookup::choose
fn choose(found: Vec<Arc<Row>>) -> Option<Resolution> {
    let mut found: Vec<(String, Arc<Row>)> = found.into_iter().map(|r| (r.facts.id(), r)).collect();
    found.sort_by(|(a_id, a), (b_id, b)| {
        std::cmp::Reverse(&a.facts.last_seen)
            .cmp(&std::cmp::Reverse(&b.facts.last_seen))
            .then_with(|| a_id.cmp(b_id))
    });
    found.dedup_by(|(a, _), (b, _)| a == b);
    let resolved_at = tokio::time::Instant::now().checked_sub(2 * MACHINE_REUSE)?;
    let mut rest = found.into_iter();
    let (machine_id, chosen) = rest.next()?;
    Some(Resolution {
        machine_id,
        machine: Arc::new(chosen.facts.machine()),
        candidates: rest.map(|(_, r)| r.facts.candidate()).collect(),
        resolved_at,
    })
}

/// How long an invalidation is remembered for a generation still being built (the longest a
/// sweep may take before it is abandoned).
const REMEMBER_INVALIDATIONS: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The fleet table of this process.
#[derive(Debug, Default)]
pub struct LocalFleetTable {
    current: RwLock<Option<Arc<Generation>>>,
    /// Recent invalidations, replayed onto a generation whose sweep started before them.
    invalidations: Mutex<Vec<(MachineKey, Instant)>>,
    status: Mutex<FleetStatus>,
}

impl LocalFleetTable {
    fn generation(&self) -> Option<Arc<Generation>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl FleetStore for LocalFleetTable {
    fn risk(&self, tenant: &str, machine_id: &str) -> Option<Arc<Assessment>> {
        let g = self.generation()?;
        if !g.is_tenant(tenant) {
            return None;
        }
        let slot = g.slot(machine_id)?;
        if slot.invalid.load(Ordering::Acquire) {
            return None;
        }
        slot.get().assessment(&g.tenant_text, &g.render)
    }

    fn resolve(&self, tenant: &str, key: &EndpointKey) -> Option<Resolution> {
        let g = self.generation()?;
        if !g.is_tenant(tenant) {
            return None;
        }
        let found = match key {
            EndpointKey::MachineId(_) => return None,
            EndpointKey::Hostname(name) => g.by_name(name)?,
            EndpointKey::Ip { ip, at, explicit } => {
                // The table knows the addresses as of its sweep; an earlier time is Defender's.
                let read_at = OffsetDateTime::from(g.read_at);
                if *explicit && *at < read_at - IP_WINDOW {
                    return None;
                }
                g.by_ip(*ip, *at)?
            }
        };
        // No match: Defender may know a machine onboarded since the sweep.
        choose(found)
    }

    fn invalidate(&self, tenant: &str, machine_id: &str) {
        let key = MachineKey::of(machine_id);
        let now = Instant::now();
        {
            let mut log = lock(&self.invalidations);
            log.retain(|(_, at)| now.duration_since(*at) < REMEMBER_INVALIDATIONS);
            log.push((key, now));
        }
        if let Some(g) = self.generation().filter(|g| g.is_tenant(tenant)) {
            if let Some(slot) = g.slot(machine_id) {
                slot.invalid.store(true, Ordering::Release);
            }
        }
    }

    fn update(&self, tenant: &str, assessment: Arc<Assessment>) -> bool {
        let Some(g) = self.generation().filter(|g| g.is_tenant(tenant)) else {
            return false;
        };
        let Some(row) = Row::of(&assessment, &g.render) else {
            return false;
        };
        let Some(slot) = g.slot_of(&row.facts.key) else {
            return false;
        };
        *lock(&slot.row) = Arc::new(row);
        slot.invalid.store(false, Ordering::Release);
        true
    }

    fn next_generation(
        &self,
        tenant: &str,
        read_at: SystemTime,
        started: Instant,
        render: Render,
    ) -> GenerationBuilder {
        let mut builder = GenerationBuilder::new(tenant, read_at, started, render);
        builder.previous = self.generation();
        builder
    }

    fn changed(&self, tenant: &str, machine: &Machine) -> bool {
        let Some(id) = machine.id.as_deref() else {
            return false;
        };
        self.generation()
            .filter(|g| g.is_tenant(tenant))
            .and_then(|g| g.slot(id).map(|slot| slot.get().facts.fingerprint))
            .is_some_and(|was| was != fingerprint(machine))
    }

    fn contains(&self, tenant: &str, machine_id: &str) -> bool {
        self.generation()
            .filter(|g| g.is_tenant(tenant))
            .is_some_and(|g| g.slot(machine_id).is_some())
    }

    fn publish(&self, generation: Generation) -> usize {
        // Invalidations since the sweep started may be newer than what it read.
        for (key, at) in lock(&self.invalidations).iter() {
            if *at >= generation.started {
                if let Some(slot) = generation.slot_of(key) {
                    slot.invalid.store(true, Ordering::Release);
                }
            }
        }
        let machines = generation.slots.len();
        let old = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Arc::new(generation));
        // The previous generation is freed here (or by the last reader still holding it).
        drop(old);
        machines
    }

    fn len(&self) -> usize {
        self.generation().map_or(0, |g| g.slots.len())
    }

    fn status(&self) -> FleetStatus {
        let mut status = lock(&self.status).clone();
        status.machines = self.len() as u64;
        status
    }

    fn record(&self, change: &mut dyn FnMut(&mut FleetStatus)) {
        change(&mut lock(&self.status));
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
