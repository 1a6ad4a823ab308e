//! The simulator's two hunting endpoints over raw HTTP: the real answer shapes, members in the
//! real order (a streaming reader depends on it), the real 400 for an empty or unknown query
//! on each endpoint, and the CPU-quota 429 fault.

mod common;

use common::{sim_config, start_sim};
use defender_bridge::sim::{Fault, FaultKind, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEFENDER: &str = "/api/advancedqueries/run";
const GRAPH: &str = "/v1.0/security/runHuntingQuery";

async fn token(sim: &SimHandle, scope: &str) -> String {
    let c = sim.config();
    let body: Value = reqwest::Client::new()
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
        .expect("token request")
        .json()
        .await
        .expect("token json");
    body["access_token"].as_str().expect("token").to_string()
}

/// POSTs `{"Query": query}` to `path` with a token for the endpoint's resource.
async fn hunt(sim: &SimHandle, path: &str, query: &str) -> (StatusCode, String) {
    let (status, _, body) = hunt_with_headers(sim, path, query).await;
    (status, body)
}

async fn hunt_with_headers(
    sim: &SimHandle,
    path: &str,
    query: &str,
) -> (StatusCode, Option<String>, String) {
    let scope = if path == GRAPH {
        "https://graph.microsoft.com/.default"
    } else {
        "https://api.securitycenter.microsoft.com/.default"
    };
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token(sim, scope).await)
        .json(&json!({ "Query": query }))
        .send()
        .await
        .expect("hunting request");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry_after, response.text().await.expect("body"))
}

fn position(body: &str, member: &str) -> usize {
    body.find(&format!("\"{member}\":"))
        .unwrap_or_else(|| panic!("no member {member} in {}", &body[..body.len().min(300)]))
}

#[tokio::test]
async fn answers_have_the_real_shapes_with_members_in_the_real_order() {
    let sim = start_sim(sim_config()).await;
    let (status, body) = hunt(&sim, DEFENDER, "DeviceInfo | take 2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        position(&body, "Schema") < position(&body, "Results"),
        "{body}"
    );
    let parsed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        parsed["Schema"][0],
        json!({"Name": "Timestamp", "Type": "DateTime"})
    );
    assert_eq!(parsed["Results"].as_array().map(Vec::len), Some(2));

    let (status, body) = hunt(&sim, GRAPH, "DeviceInfo | take 2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(position(&body, "@odata.context") < position(&body, "schema"));
    assert!(position(&body, "schema") < position(&body, "results"));
    let parsed: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        parsed["schema"][0],
        json!({"name": "Timestamp", "type": "DateTime"})
    );
    // Dynamic values are JSON text, as Defender sends them.
    let users = parsed["results"][0]["LoggedOnUsers"]
        .as_str()
        .expect("text");
    assert!(
        serde_json::from_str::<Value>(users)
            .expect("json text")
            .is_array()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_or_unknown_query_gets_the_real_400_on_each_endpoint() {
    let sim = start_sim(sim_config()).await;
    for query in ["", "NoSuchTable | take 1"] {
        let (status, body) = hunt(&sim, DEFENDER, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(error["error"]["code"], "BadRequest");
        assert!(
            error["error"]["target"].is_string(),
            "Defender's correlation id"
        );

        let (status, body) = hunt(&sim, GRAPH, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(error["error"]["code"], "BadRequest");
        assert!(
            error["error"]["innerError"]["request-id"].is_string(),
            "Graph's request id"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_cpu_quota_fault_is_a_429_that_names_cpu_with_retry_after() {
    let sim = start_sim(sim_config()).await;
    for path in [DEFENDER, GRAPH] {
        sim.inject(Fault {
            kind: FaultKind::CpuQuota {
                retry_after: Some("600".into()),
            },
            count: 1,
            path_contains: Some(path.into()),
        });
        let (status, retry_after, body) =
            hunt_with_headers(&sim, path, "DeviceInfo | take 1").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(retry_after.as_deref(), Some("600"));
        assert!(body.contains("CPU"), "{body}");
        let (status, _) = hunt(&sim, path, "DeviceInfo | take 1").await;
        assert_eq!(status, StatusCode::OK, "one use only");
    }
    sim.shutdown().await;
}
