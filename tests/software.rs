//! `GetSoftware` and `ListSoftwareMachines` over gRPC against the simulator: the inventory
//! entry, NOT_FOUND, input checked before any call, the missing permission named, and AIP
//! paging over the devices that have the software, with signed page tokens.

mod common;

use std::collections::HashSet;

use common::risk::{bad_fields, metadata, reason, with_roles};
use common::{TestEnv, api_requests, sim_config};
use defender_bridge::proto::{GetSoftwareRequest, ListSoftwareMachinesRequest};
use defender_bridge::sim::{ALL_ROLES, SimHandle};
use tonic::Code;

/// A software product installed on between `min` and `max` machines of the fleet: (id, the
/// ids of those machines).
fn software_on(sim: &SimHandle, min: usize, max: usize) -> (String, Vec<String>) {
    let fleet = sim.fleet();
    let (index, software) = fleet
        .software()
        .iter()
        .enumerate()
        .find(|(i, _)| (min..=max).contains(&fleet.installed_on(*i).len()))
        .expect("a product with that many installs");
    let machines = fleet
        .installed_on(index)
        .iter()
        .map(|m| fleet.machines()[*m as usize].id.clone())
        .collect();
    (software.id.clone(), machines)
}

#[tokio::test]
async fn get_software_returns_the_inventory_entry_or_not_found() {
    let env = TestEnv::start(sim_config()).await;
    let expected = env.sim.fleet().software()[0].clone();
    let found = env
        .risk()
        .get_software(GetSoftwareRequest {
            software_id: expected.id.clone(),
            ..Default::default()
        })
        .await
        .expect("found")
        .into_inner();
    assert_eq!(found.id, expected.id);
    assert_eq!(found.name, expected.name);
    assert_eq!(found.vendor, expected.vendor);
    assert_eq!(
        found.installed_machines,
        env.sim.fleet().installed_on(0).len() as i64
    );

    let err = env
        .risk()
        .get_software(GetSoftwareRequest {
            software_id: "nobody-_-nothing".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(metadata(&err, "resource_type").as_deref(), Some("software"));
    assert_eq!(
        metadata(&err, "resource_name").as_deref(),
        Some("nobody-_-nothing")
    );
    env.stop().await;
}

#[tokio::test]
async fn bad_software_ids_and_page_sizes_are_refused_before_any_call() {
    let env = TestEnv::start(sim_config()).await;
    env.sim.clear_requests();
    let long = "x".repeat(257);
    // `/`, `\`, `?` and `#` would be percent-encoded into the path, but no software id has
    // them: refused here rather than costing an upstream call.
    let ids = [
        "",
        "a\u{7}b",
        &long,
        "microsoft-_-edge/../../machines",
        "microsoft-_-edge?$top=1",
        "microsoft-_-edge#x",
        "microsoft-_-edge\\x",
    ];
    for id in ids {
        let err = env
            .risk()
            .get_software(GetSoftwareRequest {
                software_id: id.to_string(),
                ..Default::default()
            })
            .await
            .expect_err("invalid");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), ["software_id"]);
        let err = env
            .risk()
            .list_software_machines(ListSoftwareMachinesRequest {
                software_id: id.to_string(),
                ..Default::default()
            })
            .await
            .expect_err("invalid");
        assert_eq!(bad_fields(&err), ["software_id"]);
    }
    for page_size in [-1, 1_001] {
        let err = env
            .risk()
            .list_software_machines(ListSoftwareMachinesRequest {
                software_id: "microsoft-_-edge".into(),
                page_size,
                ..Default::default()
            })
            .await
            .expect_err("invalid");
        assert_eq!(reason(&err), "INVALID_FIELD");
        assert_eq!(bad_fields(&err), ["page_size"]);
    }
    assert!(api_requests(&env.sim, "/api/").is_empty());
    env.stop().await;
}

#[tokio::test]
async fn list_software_machines_pages_through_every_device_exactly_once() {
    let env = TestEnv::start(sim_config()).await;
    let (id, expected) = software_on(&env.sim, 15, 150);
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = env
            .risk()
            .list_software_machines(ListSoftwareMachinesRequest {
                software_id: id.clone(),
                page_size: 7,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        assert!(page.machines.len() <= 7);
        assert!(!page.machines.is_empty(), "no empty last page");
        for m in &page.machines {
            assert_eq!(m.id.len(), 40);
            assert!(!m.computer_dns_name.is_empty() && !m.os_platform.is_empty());
        }
        seen.extend(page.machines.into_iter().map(|m| m.id));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(!page.next_page_token.contains("http"), "opaque token");
        token = page.next_page_token;
    }
    assert_eq!(pages, expected.len().div_ceil(7));
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no device twice");
    assert_eq!(unique, expected.iter().collect::<HashSet<_>>());
    // Each page was one upstream call asking for one more than the page.
    let calls = api_requests(&env.sim, &format!("/api/Software/{id}/machineReferences"));
    assert_eq!(calls.len(), pages);
    assert!(
        calls[0].query.as_deref().unwrap_or("").contains("$top=8"),
        "{:?}",
        calls[0]
    );
    env.stop().await;
}

#[tokio::test]
async fn page_tokens_are_bound_to_the_software_and_cannot_be_edited() {
    let env = TestEnv::start(sim_config()).await;
    let (id, _) = software_on(&env.sim, 3, 1_000);
    let other = env
        .sim
        .fleet()
        .software()
        .iter()
        .map(|s| s.id.clone())
        .find(|s| *s != id)
        .expect("a second product");
    let first = env
        .risk()
        .list_software_machines(ListSoftwareMachinesRequest {
            software_id: id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let mut edited = token.clone();
    edited.replace_range(2..3, if &token[2..3] == "A" { "B" } else { "A" });
    for (software_id, page_token) in [(other, token), (id, edited)] {
        let err = env
            .risk()
            .list_software_machines(ListSoftwareMachinesRequest {
                software_id,
                page_size: 1,
                page_token,
                ..Default::default()
            })
            .await
            .expect_err("foreign or edited token");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(bad_fields(&err), ["page_token"]);
    }
    env.stop().await;
}

#[tokio::test]
async fn unknown_software_and_missing_permission_are_reported() {
    let roles: Vec<&str> = ALL_ROLES
        .iter()
        .copied()
        .filter(|r| *r != "Software.Read.All")
        .collect();
    let env = TestEnv::start(with_roles(&roles)).await;
    let err = env
        .risk()
        .list_software_machines(ListSoftwareMachinesRequest {
            software_id: "microsoft-_-edge".into(),
            ..Default::default()
        })
        .await
        .expect_err("403");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(
        metadata(&err, "permission").as_deref(),
        Some("Software.Read.All")
    );
    env.stop().await;

    let env = TestEnv::start(sim_config()).await;
    let err = env
        .risk()
        .list_software_machines(ListSoftwareMachinesRequest {
            software_id: "nobody-_-nothing".into(),
            ..Default::default()
        })
        .await
        .expect_err("404");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(metadata(&err, "resource_type").as_deref(), Some("software"));
    env.stop().await;
}
