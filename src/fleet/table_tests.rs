use std::time::Duration;

use super::*;
use crate::defender::{DefenderTime, IpAddressInfo};
use crate::defender::{HealthStatus, Machine};
use crate::risk::scoring::{self, Part};

const TENANT: &str = "tenant-a";

fn machine(id: &str, dns: &str, ips: &[&str], last_seen: &str) -> Machine {
    Machine {
        id: Some(id.into()),
        computer_dns_name: Some(dns.into()),
        last_seen: Some(DefenderTime::parse(last_seen)),
        first_seen: Some(DefenderTime::parse("2020-01-01T00:00:00Z")),
        health_status: Some(HealthStatus::Active),
        last_ip_address: ips.first().map(|ip| ip.to_string()),
        ip_addresses: Some(
            ips.iter()
                .map(|ip| IpAddressInfo {
                    ip_address: Some(ip.to_string()),
                    ..IpAddressInfo::default()
                })
                .collect(),
        ),
        ..Machine::default()
    }
}

fn assessment(m: Machine) -> Arc<Assessment> {
    let portal: url::Url = "https://security.microsoft.com".parse().expect("url");
    let score = scoring::score(
        &m,
        Part::Skipped("test".into()),
        Part::Skipped("test".into()),
    );
    Arc::new(Assessment::new(TENANT, &portal, Arc::new(m), score))
}

fn render() -> Render {
    let portal: url::Url = "https://security.microsoft.com".parse().expect("url");
    Arc::new(crate::services::TablePortalEncoder::new(portal))
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn table(machines: Vec<Machine>) -> LocalFleetTable {
    let table = LocalFleetTable::default();
    let mut builder = GenerationBuilder::new(TENANT, SystemTime::now(), Instant::now(), render());
    for m in machines {
        builder.push(&assessment(m));
    }
    table.publish(builder.finish());
    table
}

fn ip_now(ip: &str) -> EndpointKey {
    EndpointKey::Ip {
        ip: ip.parse().expect("ip"),
        at: OffsetDateTime::now_utc(),
        explicit: false,
    }
}

#[test]
fn machines_are_found_by_id_in_any_case_and_only_in_their_tenant() {
    let t = table(vec![machine(
        &id(1),
        "desk1.contoso.com",
        &["10.0.0.1"],
        "2026-01-01T00:00:00Z",
    )]);
    assert!(t.risk(TENANT, &id(1)).is_some());
    assert!(t.risk("TENANT-A", &id(1).to_uppercase()).is_some());
    assert!(t.risk("other", &id(1)).is_none());
    assert!(t.risk(TENANT, &id(2)).is_none());
    assert_eq!(t.len(), 1);
}

#[test]
fn hostnames_follow_the_look_up_rules_with_candidates() {
    let t = table(vec![
        machine(
            &id(1),
            "desk1.contoso.com",
            &["10.0.0.1"],
            "2026-01-01T00:00:00Z",
        ),
        machine(
            &id(2),
            "DESK1.fabrikam.com",
            &["10.0.0.2"],
            "2026-02-01T00:00:00Z",
        ),
        machine(
            &id(3),
            "desk10.contoso.com",
            &["10.0.0.3"],
            "2026-03-01T00:00:00Z",
        ),
    ]);
    let short = t
        .resolve(TENANT, &EndpointKey::Hostname("desk1".into()))
        .expect("resolved");
    // The most recently seen wins; the other is a candidate; desk10 is not a match.
    assert_eq!(short.machine_id, id(2));
    let others: Vec<_> = short
        .candidates
        .iter()
        .map(|c| c.machine_id.clone())
        .collect();
    assert_eq!(others, [id(1)]);
    let full = t
        .resolve(TENANT, &EndpointKey::Hostname("desk1.contoso.com".into()))
        .expect("resolved");
    assert_eq!(full.machine_id, id(1));
    assert!(full.candidates.is_empty());
    assert!(
        t.resolve(TENANT, &EndpointKey::Hostname("nobody".into()))
            .is_none()
    );
}

#[test]
fn ips_resolve_every_address_and_shared_ones_are_ambiguous() {
    let t = table(vec![
        machine(
            &id(1),
            "a.contoso.com",
            &["10.0.0.1", "fe80::1"],
            "2026-01-01T00:00:00Z",
        ),
        machine(
            &id(2),
            "b.contoso.com",
            &["10.0.0.9", "10.0.0.1"],
            "2026-02-01T00:00:00Z",
        ),
    ]);
    let shared = t.resolve(TENANT, &ip_now("10.0.0.1")).expect("resolved");
    assert_eq!(shared.machine_id, id(2));
    assert_eq!(shared.candidates.len(), 1);
    let v6 = t.resolve(TENANT, &ip_now("fe80::1")).expect("resolved");
    assert_eq!(v6.machine_id, id(1));
    assert!(t.resolve(TENANT, &ip_now("10.9.9.9")).is_none());
    // A time before the sweep is Defender's to answer.
    let old = EndpointKey::Ip {
        ip: "10.0.0.1".parse().expect("ip"),
        at: OffsetDateTime::now_utc() - Duration::from_secs(3600),
        explicit: true,
    };
    assert!(t.resolve(TENANT, &old).is_none());
}

#[test]
fn invalidated_machines_go_to_defender_until_updated_also_across_a_swap() {
    let m1 = machine(
        &id(1),
        "a.contoso.com",
        &["10.0.0.1"],
        "2026-01-01T00:00:00Z",
    );
    let t = table(vec![m1.clone()]);
    t.invalidate(TENANT, &id(1));
    assert!(t.risk(TENANT, &id(1)).is_none());
    assert!(t.resolve(TENANT, &ip_now("10.0.0.1")).is_none());
    assert!(t.contains(TENANT, &id(1)));
    assert!(t.update(TENANT, assessment(m1.clone())));
    assert!(t.risk(TENANT, &id(1)).is_some());

    // A sweep that started before an invalidation is published with the machine invalid.
    let started = Instant::now();
    let mut builder = GenerationBuilder::new(TENANT, SystemTime::now(), started, render());
    builder.push(&assessment(m1.clone()));
    t.invalidate(TENANT, &id(1));
    t.publish(builder.finish());
    assert!(t.risk(TENANT, &id(1)).is_none());
    // One that started after it is not.
    let mut builder = GenerationBuilder::new(TENANT, SystemTime::now(), Instant::now(), render());
    builder.push(&assessment(m1));
    t.publish(builder.finish());
    assert!(t.risk(TENANT, &id(1)).is_some());
}

#[test]
fn a_new_generation_replaces_the_old_one_whole() {
    let t = table(vec![
        machine(
            &id(1),
            "a.contoso.com",
            &["10.0.0.1"],
            "2026-01-01T00:00:00Z",
        ),
        machine(
            &id(2),
            "b.contoso.com",
            &["10.0.0.2"],
            "2026-01-01T00:00:00Z",
        ),
    ]);
    let mut builder = GenerationBuilder::new(TENANT, SystemTime::now(), Instant::now(), render());
    builder.push(&assessment(machine(
        &id(2),
        "b.contoso.com",
        &["10.0.0.2"],
        "2026-01-01T00:00:00Z",
    )));
    assert_eq!(t.publish(builder.finish()), 1);
    assert!(t.risk(TENANT, &id(1)).is_none());
    assert!(!t.update(
        TENANT,
        assessment(machine(&id(1), "a", &[], "2026-01-01T00:00:00Z"))
    ));
    assert!(t.risk(TENANT, &id(2)).is_some());
    assert!(t.resolve(TENANT, &ip_now("10.0.0.1")).is_none());
}

/// Repeated hits from the table give the same whole answer every time; also prints what a hit
/// costs (the light assessment and its two whole answers, made per read) next to the bare
/// look-up: `cargo test --lib table_hit_cost -- --nocapture` (in release for real figures). A
/// figure to read, never a timing assertion.
#[test]
fn table_hit_cost() {
    let mut m = machine(
        &id(7),
        "desk7.contoso.com",
        &["10.0.0.7"],
        "2026-01-01T00:00:00Z",
    );
    m.os_platform = Some("Windows11".into());
    let t = table(vec![m]);
    let rounds = 2_000u32;
    let first = t
        .risk(TENANT, &id(7))
        .and_then(|a| a.rendered.get().map(|r| r.hit_frame.clone()))
        .expect("a hit with its answer");
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        assert!(t.contains(TENANT, &id(7)));
    }
    let lookup = started.elapsed() / rounds;
    let started = std::time::Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        let a = t.risk(TENANT, &id(7)).expect("hit");
        let frame = &a.rendered.get().expect("answer").hit_frame;
        assert_eq!(frame, &first, "every hit gives the same answer");
        bytes += frame.len();
    }
    let hit = started.elapsed() / rounds;
    let g = t.generation().expect("generation");
    let row = g.slot(&id(7)).expect("slot").get();
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        assert!(g.render.answers(&row.core, &id(7), TENANT).is_some());
    }
    let answers = started.elapsed() / rounds;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        assert!(row.facts.machine().id.is_some());
    }
    let machine = started.elapsed() / rounds;
    println!(
        "table hit: {hit:?} per read (look-up alone {lookup:?}, answers {answers:?}, \
         machine entity {machine:?}); full frame {} bytes",
        bytes / rounds as usize
    );
}
