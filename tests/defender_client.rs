//! The Defender client against the simulator (two independent readings of the same wire
//! format): one token for concurrent calls, 401 → re-token, 429 + Retry-After honoured, paging
//! by nextLink and by $skip, foreign nextLinks refused without the token, permission and token
//! errors kept precise.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{api_requests, defender_client, sim_config, start_sim, token_requests};
use defender_bridge::defender::{ApiFamily, CallOptions, DefenderError, ODataQuery};
use defender_bridge::sim::{ALL_ROLES, Fault, FaultKind, SimConfig};

fn opts() -> CallOptions {
    CallOptions {
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(30)),
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, id) = (client.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            client.get_machine(&id, &opts()).await
        }));
    }
    for t in tasks {
        assert!(t.await.expect("join").is_ok());
    }
    assert_eq!(token_requests(&sim, "securitycenter"), 1);
    assert_eq!(api_requests(&sim, "/api/machines/").len(), 20);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once_with_a_new_one() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    client.get_machine(&id, &opts()).await.expect("warm-up");
    sim.inject(Fault {
        kind: FaultKind::Unauthorized,
        count: 1,
        path_contains: None,
    });
    let machine = client
        .get_machine(&id, &opts())
        .await
        .expect("re-token then success");
    assert_eq!(machine.id.as_deref(), Some(id.as_str()));
    assert_eq!(token_requests(&sim, "securitycenter"), 2);
    let statuses: Vec<u16> = api_requests(&sim, "/api/machines/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 401, 200]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    sim.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some("1".into()),
        },
        count: 1,
        path_contains: Some("/api/machines".into()),
    });
    let started = Instant::now();
    client
        .get_machine(&id, &opts())
        .await
        .expect("succeeds after waiting");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    let statuses: Vec<u16> = api_requests(&sim, "/api/machines/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_fails_fast_as_throttled() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    sim.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some("30".into()),
        },
        count: 5,
        path_contains: Some("/api/machines".into()),
    });
    let short = CallOptions {
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(2)),
    };
    let started = Instant::now();
    let err = client
        .get_machine(&id, &short)
        .await
        .expect_err("throttled");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "must not sleep past the deadline"
    );
    match err {
        DefenderError::Throttled { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)))
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    sim.shutdown().await;
}

async fn read_all_machines(sim_config: SimConfig) -> (Vec<String>, Vec<Option<String>>) {
    let sim = start_sim(sim_config.clone()).await;
    let client = defender_client(&sim, &sim_config);
    let query = ODataQuery {
        top: Some(100),
        ..ODataQuery::default()
    };
    let first = client
        .list_machines(&query, &opts())
        .await
        .expect("first page");
    let all = client
        .collect_all(first, ApiFamily::Machines, usize::MAX, &opts())
        .await
        .expect("all pages");
    assert!(all.complete);
    let ids = all.items.iter().filter_map(|m| m.id.clone()).collect();
    let queries = api_requests(&sim, "/api/machines")
        .into_iter()
        .map(|r| r.query)
        .collect();
    sim.shutdown().await;
    (ids, queries)
}

#[tokio::test]
async fn paging_follows_next_links_across_pages() {
    let (ids, queries) = read_all_machines(SimConfig {
        machines: 250,
        ..sim_config()
    })
    .await;
    assert_eq!(ids.len(), 250);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        250,
        "no machine twice"
    );
    assert_eq!(queries.len(), 3, "{queries:?}");
}

#[tokio::test]
async fn paging_falls_back_to_skip_without_next_links() {
    let (ids, queries) = read_all_machines(SimConfig {
        machines: 250,
        next_links: false,
        ..sim_config()
    })
    .await;
    assert_eq!(ids.len(), 250);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250);
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert!(
        queries[1].as_deref().unwrap_or("").contains("$skip=100"),
        "{queries:?}"
    );
    assert!(
        queries[2].as_deref().unwrap_or("").contains("$skip=200"),
        "{queries:?}"
    );
}

#[tokio::test]
async fn a_next_link_to_a_foreign_host_is_refused_without_sending_the_token() {
    let foreign = start_sim(sim_config()).await;
    let config = SimConfig {
        machines: 250,
        next_link_base: Some(foreign.base_url()),
        ..sim_config()
    };
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let query = ODataQuery {
        top: Some(100),
        ..ODataQuery::default()
    };
    let result = client.list_machines(&query, &opts()).await;
    let err = match result {
        Ok(page) => client
            .collect_all(page, ApiFamily::Machines, usize::MAX, &opts())
            .await
            .expect_err("foreign link refused"),
        Err(err) => err,
    };
    assert!(
        matches!(err, DefenderError::DisallowedNextLink { .. }),
        "{err:?}"
    );
    assert!(
        foreign.requests().is_empty(),
        "the foreign host saw {:?}",
        foreign.requests()
    );
    sim.shutdown().await;
    foreign.shutdown().await;
}

#[tokio::test]
async fn a_missing_role_names_the_required_permissions() {
    let config = SimConfig {
        roles: ALL_ROLES
            .iter()
            .filter(|r| !r.starts_with("Machine.Read") && !r.starts_with("Machine.ReadWrite"))
            .map(|r| (*r).to_string())
            .collect(),
        ..sim_config()
    };
    let sim = start_sim(config.clone()).await;
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    match client.get_machine(&id, &opts()).await {
        Err(DefenderError::MissingPermission { required, .. }) => {
            assert!(
                required.iter().any(|r| r == "Machine.Read.All"),
                "{required:?}"
            )
        }
        other => panic!("expected MissingPermission, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rejected_token_request_keeps_its_aadsts_code() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    sim.inject(Fault {
        kind: FaultKind::TokenError { aadsts: 7000222 },
        count: 1,
        path_contains: None,
    });
    let client = defender_client(&sim, &config);
    let id = sim.fleet().sample_machine_id().to_string();
    match client.get_machine(&id, &opts()).await {
        Err(DefenderError::Authentication { aadsts_code, .. }) => {
            assert_eq!(aadsts_code.as_deref(), Some("AADSTS7000222"))
        }
        other => panic!("expected Authentication, got {other:?}"),
    }
    assert!(
        api_requests(&sim, "/api/").is_empty(),
        "no API call without a token"
    );
    sim.shutdown().await;
}
