//! HTTP tests: the simulator on 127.0.0.1:0, called with reqwest like the real client would.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

mod api;

use super::{ALL_ROLES, Fault, FaultKind, SimConfig, SimHandle, spawn};

pub(super) async fn start(config: SimConfig) -> SimHandle {
    spawn(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim starts")
}

pub(super) fn small() -> SimConfig {
    SimConfig {
        machines: 25,
        rate_limits: false,
        ..SimConfig::default()
    }
}

pub(super) async fn token_for(sim: &SimHandle, scope: &str) -> String {
    let c = sim.config();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url(),
            c.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub(super) async fn token(sim: &SimHandle) -> String {
    token_for(sim, "https://api.securitycenter.microsoft.com/.default").await
}

pub(super) async fn get(
    sim: &SimHandle,
    token: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    get_url(&format!("{}{path}", sim.base_url()), token).await
}

pub(super) async fn get_url(
    url: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub(super) async fn post(
    sim: &SimHandle,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn machines_page_by_next_link_until_the_fleet_is_covered() {
    let sim = start(SimConfig {
        default_page_size: 10,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let mut url = format!("{}/api/machines", sim.base_url());
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = get_url(&url, &t).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["@odata.context"],
            "https://api.securitycenter.microsoft.com/api/$metadata#Machines"
        );
        for m in body["value"].as_array().expect("value") {
            ids.push(m["id"].as_str().expect("id").to_string());
        }
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&sim.base_url()), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = sim
        .fleet()
        .machines()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(ids, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn next_links_keep_filter_and_top_and_can_be_disabled_or_rebased() {
    let sim = start(SimConfig {
        machines: 60,
        next_link_base: Some("https://evil.example".into()),
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let (_, _, body) = get(
        &sim,
        &t,
        "/api/machines?$filter=healthStatus+eq+'Active'&$top=3",
    )
    .await;
    let next = body["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with("https://evil.example/api/machines?"),
        "{next}"
    );
    assert!(
        next.contains("$top=3") && next.contains("$skip=3") && next.contains("healthStatus"),
        "{next}"
    );
    sim.shutdown().await;

    let sim = start(SimConfig {
        next_links: false,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let (_, _, body) = get(&sim, &t, "/api/machines?$top=5").await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(5));
    assert!(body.get("@odata.nextLink").is_none());
    let (_, _, body) = get(&sim, &t, "/api/machines?$top=5&$skip=20").await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(5));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_page_size_answers_short_pages_that_link_onwards() {
    // Next links come with server-driven paging even where plain paging has none.
    let sim = start(SimConfig {
        machines: 20,
        next_links: false,
        server_page_size: Some(3),
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let mut url = format!("{}/api/machines?$top=10&$skip=2", sim.base_url());
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let (status, _, body) = get_url(&url, &t).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let value = body["value"].as_array().expect("value");
        sizes.push(value.len());
        ids.extend(
            value
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string()),
        );
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$top=10"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 3, 3, 3, 3]);
    let expected: Vec<String> = sim.fleet().machines()[2..]
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(ids, expected);
    // A `$top` within the server's size is answered as asked, with no link (links are off).
    let (_, _, body) = get(&sim, &t, "/api/machines?$top=2").await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    assert!(body.get("@odata.nextLink").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_role_gives_defenders_403_body() {
    let sim = start(SimConfig {
        roles: vec!["Machine.Isolate".into()],
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let (status, _, body) = get(&sim, &t, "/api/machines").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(
        body["error"]["message"],
        "Missing application roles. API required roles: Machine.Read.All,Machine.ReadWrite.All, application roles: Machine.Isolate."
    );
    assert_eq!(body["error"]["target"].as_str().map(str::len), Some(36));
    // Roles changed at runtime apply to tokens issued afterwards.
    sim.set_roles(ALL_ROLES.iter().map(|r| (*r).to_string()).collect());
    let (status, _, _) = get(&sim, &t, "/api/machines").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let t2 = token(&sim).await;
    let (status, _, _) = get(&sim, &t2, "/api/machines").await;
    assert_eq!(status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn over_the_rate_limit_gives_429_with_retry_after() {
    let sim = start(SimConfig {
        rate_limits: true,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let id = sim.fleet().sample_machine_id().to_string();
    let path = format!("/api/machines/{id}/vulnerabilities");
    for _ in 0..50 {
        let (status, _, _) = get(&sim, &t, &path).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, body) = get(&sim, &t, &path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Another family still has budget.
    let (status, _, _) = get(&sim, &t, "/api/machines?$top=1").await;
    assert_eq!(status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_injected_fault_applies_exactly_count_times() {
    let sim = start(small()).await;
    let t = token(&sim).await;
    sim.inject(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some("2".into()),
        },
        count: 2,
        path_contains: Some("/api/machines".into()),
    });
    let (s1, h1, b1) = get(&sim, &t, "/api/machines?$top=1").await;
    let (s2, _, _) = get(&sim, &t, "/api/machines?$top=1").await;
    let (s3, _, _) = get(&sim, &t, "/api/machines?$top=1").await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        )
    );
    assert_eq!(h1["retry-after"], "2");
    assert_eq!(b1["error"]["code"], "ServiceUnavailable");
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/machines")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_request_log_records_authorization_and_redacts_the_secret() {
    let sim = start(small()).await;
    let t = token(&sim).await;
    get(&sim, &t, "/api/machines?$filter=riskScore+eq+'High'").await;
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    let token_req = &log[0];
    assert!(token_req.path.ends_with("/oauth2/v2.0/token"));
    let body = token_req.body.as_deref().expect("form logged");
    assert!(!body.contains("sim-secret"), "{body}");
    assert!(body.contains("client_secret=%3Credacted%3E"), "{body}");
    assert_eq!(
        log[1].authorization.as_deref(),
        Some(format!("Bearer {t}").as_str())
    );
    assert_eq!(log[1].query.as_deref(), Some("$filter=riskScore eq 'High'"));
    assert_eq!(log[1].status, 200);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_are_checked_for_presence_expiry_and_audience() {
    let sim = start(SimConfig {
        token_lifetime_secs: 1,
        ..small()
    })
    .await;
    let (status, _, body) = get(&sim, "not-a-token", "/api/machines").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "Unauthorized");
    let graph = token_for(&sim, "https://graph.microsoft.com/.default").await;
    let (status, _, _) = get(&sim, &graph, "/api/machines").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a Graph token is not a Defender token"
    );
    let t = token(&sim).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = get(&sim, &t, "/api/machines").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_secret_and_token_faults_return_entra_errors() {
    let sim = start(small()).await;
    let c = sim.config().clone();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url(),
            c.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", "wrong"),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    sim.inject(Fault {
        kind: FaultKind::TokenError { aadsts: 7000222 },
        count: 1,
        path_contains: None,
    });
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url(),
            c.tenant_id
        ))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS7000222:"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_http_control_plane_drives_the_same_state_and_is_not_logged() {
    let sim = start(small()).await;
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"kind": "Unauthorized", "count": 1}))
        .send()
        .await
        .expect("post fault");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let t = token(&sim).await;
    let (status, _, body) = get(&sim, &t, "/api/machines?$top=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "Unauthorized");
    let log: Vec<Value> = http
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(log.len(), 2, "control-plane calls are not logged: {log:?}");
    let fleet: Vec<Value> = http
        .get(format!("{base}/_sim/fleet?top=3"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fleet.len(), 3);
    assert_eq!(fleet[0]["id"], sim.fleet().sample_machine_id());
    let resp = http
        .put(format!("{base}/_sim/roles"))
        .json(&json!(["Alert.Read.All"]))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let t = token(&sim).await;
    let (status, _, _) = get(&sim, &t, "/api/machines").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    http.delete(format!("{base}/_sim/requests"))
        .send()
        .await
        .expect("delete");
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_hung_request_is_released_by_shutdown() {
    let sim = start(small()).await;
    sim.inject(Fault {
        kind: FaultKind::Hang,
        count: 1,
        path_contains: None,
    });
    let url = format!("{}/api/machines", sim.base_url());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = client.get(&url).send().await.expect_err("times out");
    assert!(err.is_timeout());
    assert_eq!(sim.requests()[0].status, 0, "never answered");
    let stopped = tokio::time::timeout(Duration::from_secs(5), sim.clone().shutdown()).await;
    assert!(stopped.is_ok(), "shutdown must not wait for the hang");
    sim.wait().await;
}

#[test]
fn debug_output_redacts_the_client_secret() {
    let text = format!("{:?}", SimConfig::default());
    assert!(!text.contains("sim-secret"));
    assert!(text.contains("<redacted>"));
}
