//! CheckConnection (the connection test) over gRPC and `defender-bridge check` as a
//! process, against the simulator with all roles, with roles missing and with a bad secret.

mod common;

use common::{TestEnv, sim_config, start_sim, token_requests};
use defender_bridge::proto::{self, Capability};
use defender_bridge::sim::{ALL_ROLES, SimConfig};

fn roles_without(missing: &[&str]) -> Vec<String> {
    ALL_ROLES
        .iter()
        .filter(|r| !missing.contains(r))
        .map(|r| (*r).to_string())
        .collect()
}

async fn check(env: &TestEnv) -> proto::CheckConnectionResponse {
    env.risk()
        .check_connection(proto::CheckConnectionRequest::default())
        .await
        .expect("check connection")
        .into_inner()
}

fn capability(resp: &proto::CheckConnectionResponse, c: Capability) -> &proto::CapabilityCheck {
    resp.capabilities
        .iter()
        .find(|x| x.capability == c as i32)
        .expect("capability reported")
}

#[tokio::test]
async fn with_every_role_everything_is_available_and_the_probe_passes() {
    let env = TestEnv::start(sim_config()).await;
    let resp = check(&env).await;
    let token = resp.token.clone().expect("token part");
    assert!(token.ok, "{token:?}");
    assert_eq!(token.app_id, env.sim_config.client_id);
    assert!(token.expires_at.is_some());
    for role in ALL_ROLES {
        assert!(
            resp.granted_permissions.iter().any(|g| g == role),
            "{role} not reported"
        );
    }
    assert_eq!(resp.capabilities.len(), 8);
    assert!(
        resp.capabilities
            .iter()
            .all(|c| c.available && c.missing_permissions.is_empty())
    );
    let probe = resp.probe.clone().expect("probe");
    assert!(probe.attempted && probe.ok, "{probe:?}");
    assert!(resp.ready);
    assert!(
        resp.admin_consent_reminder.is_empty(),
        "nothing to consent to"
    );
    assert_eq!(resp.cloud, "commercial");
    env.stop().await;
}

#[tokio::test]
async fn a_missing_role_is_named_exactly_and_the_rest_still_works() {
    let config = SimConfig {
        roles: roles_without(&["Machine.Isolate", "Vulnerability.Read.All"]),
        ..sim_config()
    };
    let env = TestEnv::start(config).await;
    let resp = check(&env).await;
    // Reading machines is all the service needs to be ready; the rest is reported.
    assert!(resp.ready);
    assert!(resp.admin_consent_reminder.contains("admin consent"));
    let isolate = capability(&resp, Capability::Isolate);
    assert!(!isolate.available);
    assert_eq!(
        isolate.missing_permissions,
        vec!["Machine.Isolate".to_string()]
    );
    let vulns = capability(&resp, Capability::Vulnerabilities);
    assert_eq!(
        vulns.missing_permissions,
        vec!["Vulnerability.Read.All".to_string()]
    );
    let unavailable: Vec<i32> = resp
        .capabilities
        .iter()
        .filter(|c| !c.available)
        .map(|c| c.capability)
        .collect();
    assert_eq!(
        unavailable,
        vec![
            Capability::Vulnerabilities as i32,
            Capability::Isolate as i32
        ]
    );
    assert!(resp.probe.expect("probe").ok);
    env.stop().await;
}

#[tokio::test]
async fn a_bad_secret_reports_the_aadsts_code_and_a_fix() {
    let env = TestEnv::start_with(sim_config(), |args| {
        args.client_secret = Some("wrong-secret".into());
    })
    .await;
    let resp = check(&env).await;
    let token = resp.token.expect("token part");
    assert!(!token.ok);
    assert_eq!(token.aadsts_code, "AADSTS7000215");
    assert!(token.fix.contains("secret"), "{}", token.fix);
    assert!(!resp.ready);
    assert!(!resp.probe.expect("probe").attempted);
    env.stop().await;
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let env = TestEnv::start(sim_config()).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = env.risk();
        tasks.push(tokio::spawn(async move {
            client
                .check_connection(proto::CheckConnectionRequest {
                    skip_probe: true,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().ready)
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task").expect("rpc"));
    }
    assert_eq!(
        token_requests(&env.sim, "securitycenter"),
        1,
        "{:#?}",
        env.sim.requests()
    );
    assert_eq!(token_requests(&env.sim, "graph.microsoft.com"), 1);
    env.stop().await;
}

fn run_check_cli(sim: &defender_bridge::sim::SimHandle, config: &SimConfig) -> (i32, String) {
    let base = sim.base_url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .arg("check")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEFENDER_API_URL", &base)
        .env("DEFENDER_LOGIN_URL", &base)
        .env("DEFENDER_GRAPH_URL", &base)
        .env("DEFENDER_TENANT_ID", &config.tenant_id)
        .env("DEFENDER_CLIENT_ID", &config.client_id)
        .env("DEFENDER_CLIENT_SECRET", &config.client_secret)
        .output()
        .expect("run defender-bridge check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn check_command_reports_every_permission_granted() {
    let config = sim_config();
    let sim = start_sim(config.clone()).await;
    let (code, text) = tokio::task::spawn_blocking({
        let (sim, config) = (sim.clone(), config.clone());
        move || run_check_cli(&sim, &config)
    })
    .await
    .expect("join");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Result:       READY"), "{text}");
    assert!(!text.contains("MISSING"), "{text}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn check_command_names_exactly_the_missing_permissions_and_fails() {
    let config = SimConfig {
        roles: roles_without(&["Machine.Isolate", "Machine.Scan"]),
        ..sim_config()
    };
    let sim = start_sim(config.clone()).await;
    let (code, text) = tokio::task::spawn_blocking({
        let (sim, config) = (sim.clone(), config.clone());
        move || run_check_cli(&sim, &config)
    })
    .await
    .expect("join");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Missing:      Machine.Isolate, Machine.Scan\n"),
        "{text}"
    );
    assert!(text.contains("NOT READY"), "{text}");
    assert!(text.contains("admin consent"), "{text}");
    sim.shutdown().await;
}

#[tokio::test]
async fn without_machine_read_the_service_is_not_ready_and_makes_no_probe() {
    let config = SimConfig {
        roles: roles_without(&["Machine.Read.All", "Machine.ReadWrite.All"]),
        ..sim_config()
    };
    let env = TestEnv::start(config).await;
    env.sim.clear_requests();
    let resp = check(&env).await;
    assert!(!resp.ready);
    let machine = capability(&resp, Capability::MachineRisk);
    assert!(machine.required && !machine.available);
    assert_eq!(
        machine.missing_permissions,
        vec!["Machine.Read.All".to_string()]
    );
    assert!(!resp.probe.expect("probe").attempted);
    assert!(
        common::api_requests(&env.sim, "/api/").is_empty(),
        "no Defender API call without the machine permission"
    );
    env.stop().await;
}
