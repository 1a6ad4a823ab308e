//! HTTP tests of the read APIs, machine actions and hunting (harness in `super`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{SimConfig, get, post, small, start, token, token_for};

#[tokio::test]
async fn filters_are_parsed_and_bad_ones_are_400() {
    let sim = start(SimConfig {
        machines: 300,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let f = sim.fleet();
    let target = &f.machines()[17];
    let q = format!(
        "/api/machines?$filter=computerDnsName eq '{}'",
        target.computer_dns_name.to_uppercase()
    );
    let (_, _, body) = get(&sim, &t, &q).await;
    assert_eq!(body["value"][0]["id"], target.id.as_str());
    let short = f.ambiguous_short_name().expect("short").to_string();
    let (_, _, body) = get(
        &sim,
        &t,
        &format!("/api/machines?$filter=startswith(computerDnsName,'{short}.')"),
    )
    .await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    let ip = f.shared_ip().expect("ip").to_string();
    let (_, _, body) = get(
        &sim,
        &t,
        &format!("/api/machines?$filter=lastIpAddress eq '{ip}' or id eq 'x'"),
    )
    .await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    let expected = f
        .machines()
        .iter()
        .filter(|m| m.risk_score == Some("High") && m.health_status != "Active")
        .count();
    let (_, _, body) = get(
        &sim,
        &t,
        "/api/machines?$filter=(riskScore eq 'High') and healthStatus ne 'Active'",
    )
    .await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(expected));
    for bad in [
        "/api/machines?$filter=bogus eq 'x'",
        "/api/machines?$filter=riskScore eq",
        "/api/machines?$top=10001",
        "/api/alerts?$filter=machineId eq 'abc'",
        "/api/vulnerabilities?$top=8001",
    ] {
        let (status, _, body) = get(&sim, &t, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn machine_lookups_and_find_by_ip_follow_the_docs() {
    let sim = start(small()).await;
    let t = token(&sim).await;
    let f = sim.fleet();
    let m = &f.machines()[3];
    let (status, _, body) = get(&sim, &t, &format!("/api/v1.0/machines/{}", m.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Machines/$entity"
    );
    assert_eq!(body["computerDnsName"], m.computer_dns_name.as_str());
    assert!(
        body["lastSeen"]
            .as_str()
            .is_some_and(|s| s.len() == 28 && s.ends_with('Z'))
    );
    let (status, _, body) = get(
        &sim,
        &t,
        "/api/machines/0000000000000000000000000000000000000000",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"]["message"],
        "Machine 0000000000000000000000000000000000000000 was not found"
    );

    let ip = f.shared_ip().expect("shared ip");
    let now = crate::sim::wire::iso(time::OffsetDateTime::now_utc());
    let (status, _, body) = get(
        &sim,
        &t,
        &format!("/api/machines/findbyip(ip='{ip}',timestamp={now})"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["value"].as_array().map(Vec::len),
        Some(1),
        "only the recently seen machine"
    );
    let five_days =
        crate::sim::wire::iso(time::OffsetDateTime::now_utc() - time::Duration::days(5));
    let (_, _, body) = get(
        &sim,
        &t,
        &format!("/api/machines/findbyip(ip='{ip}',timestamp={five_days})"),
    )
    .await;
    assert_eq!(body["value"].as_array().map(Vec::len), Some(2));
    let (status, _, body) = get(
        &sim,
        &t,
        &format!("/api/machines/findbyip(ip='10.1.2',timestamp={now})"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidIpAddress"))
    );
    let old = crate::sim::wire::iso(time::OffsetDateTime::now_utc() - time::Duration::days(31));
    let (status, _, _) = get(
        &sim,
        &t,
        &format!("/api/machines/findbyip(ip='{ip}',timestamp={old})"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_fleet_lists_as_404() {
    let sim = start(SimConfig {
        machines: 0,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let (status, _, _) = get(&sim, &t, "/api/machines").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn alerts_vulnerabilities_and_software_have_defender_shapes() {
    let sim = start(small()).await;
    let t = token(&sim).await;
    let id = sim.fleet().sample_machine_id().to_string();
    let (_, _, alerts) = get(
        &sim,
        &t,
        &format!("/api/machines/{id}/alerts?$expand=evidence"),
    )
    .await;
    let first = &alerts["value"][0];
    assert_eq!(first["machineId"], id.as_str());
    assert!(first["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    let alert_id = first["id"].as_str().expect("id");
    let (status, _, one) = get(&sim, &t, &format!("/api/alerts/{alert_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], alert_id);
    let (_, _, count) = get(
        &sim,
        &t,
        &format!("/api/machines/{id}/alerts/$count?$filter=status ne 'Resolved'"),
    )
    .await;
    assert_eq!(
        count.as_u64(),
        Some(u64::from(sim.fleet().find(&id).expect("m").active_alerts))
    );
    let (_, _, vulns) = get(&sim, &t, &format!("/api/machines/{id}/vulnerabilities")).await;
    assert!(
        vulns["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("PublicVulnerabilityDto)"))
    );
    let v = &vulns["value"][0];
    for key in [
        "id",
        "name",
        "severity",
        "cvssV3",
        "exposedMachines",
        "publicExploit",
        "exploitVerified",
        "exploitTypes",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    let (_, _, list) = get(
        &sim,
        &t,
        "/api/vulnerabilities?$filter=cvssV3 ge 9.0&$top=5",
    )
    .await;
    assert!(
        list["value"]
            .as_array()
            .is_some_and(|l| l.iter().all(|v| v["cvssV3"].as_f64() >= Some(9.0)))
    );
    assert!(list["value"][0].get("CveSupportability").is_some());
    let (status, _, sw) = get(&sim, &t, "/api/Software/microsoft-_-edge").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sw["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Software/$entity"
    );
    let (_, _, refs) = get(
        &sim,
        &t,
        "/api/software/microsoft-_-edge/machineReferences?$top=2",
    )
    .await;
    assert_eq!(refs["value"].as_array().map(Vec::len), Some(2));
    assert!(refs["@odata.nextLink"].is_string());
    let (status, _, _) = get(&sim, &t, "/api/Software/nobody-_-nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, rows) = get(
        &sim,
        &t,
        &format!("/api/vulnerabilities/machinesVulnerabilities?$filter=machineId eq '{id}'"),
    )
    .await;
    assert_eq!(
        rows["value"].as_array().map(Vec::len),
        Some(sim.fleet().find(&id).expect("m").vulnerabilities.len())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_move_through_states_and_refuse_duplicates() {
    let sim = start(SimConfig {
        action_step: Duration::from_millis(300),
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let id = sim.fleet().machines()[5].id.clone();
    let path = format!("/api/machines/{id}/isolate");
    let (status, body) = post(&sim, &t, &path, json!({"comment": "x"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidRequestBody"))
    );
    let (status, body) = post(&sim, &t, &path, json!({"IsolationType": "Full"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("MissingRequiredParameter"))
    );
    let (status, action) = post(
        &sim,
        &t,
        &path,
        json!({"Comment": "isolate", "IsolationType": "Full"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (action["type"].as_str(), action["status"].as_str()),
        (Some("Isolate"), Some("Pending"))
    );
    assert_eq!(action["requestor"], sim.config().client_id.as_str());
    let (status, dup) = post(
        &sim,
        &t,
        &path,
        json!({"Comment": "again", "IsolationType": "Full"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(dup["error"]["code"], "ActiveRequestAlreadyExists");
    let (status, _) = post(
        &sim,
        &t,
        &format!("/api/machines/{id}/runAntiVirusScan"),
        json!({"Comment": "scan", "ScanType": "Quick"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let action_id = action["id"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (_, _, now) = get(&sim, &t, &format!("/api/machineactions/{action_id}")).await;
    assert_eq!(now["status"], "InProgress");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, _, now) = get(&sim, &t, &format!("/api/machineactions/{action_id}")).await;
    assert_eq!(now["status"], "Succeeded");
    let (_, _, list) = get(
        &sim,
        &t,
        &format!("/api/machineactions?$filter=machineId eq '{id}' and type eq 'Isolate'"),
    )
    .await;
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    let (_, _, all) = get(&sim, &t, "/api/machineactions").await;
    assert_eq!(all["value"][0]["type"], "RunAntiVirusScan", "newest first");
    let (status, body) = post(
        &sim,
        &t,
        &format!("/api/machineactions/{action_id}/cancel"),
        json!({"Comment": "late"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn hunting_runs_on_both_backends_with_their_own_tokens() {
    let sim = start(small()).await;
    let defender = token(&sim).await;
    let (status, body) = post(
        &sim,
        &defender,
        "/api/advancedqueries/run",
        json!({"Query": "DeviceInfo | take 3 | project DeviceId, DeviceName"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["Schema"][0],
        json!({"Name": "DeviceId", "Type": "String"})
    );
    assert_eq!(body["Results"].as_array().map(Vec::len), Some(3));
    let graph = token_for(&sim, "https://graph.microsoft.com/.default").await;
    let (status, body) = post(
        &sim,
        &graph,
        "/v1.0/security/runHuntingQuery",
        json!({"Query": "DeviceInfo | count"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["Count"], 25);
    let (status, _) = post(
        &sim,
        &defender,
        "/v1.0/security/runHuntingQuery",
        json!({"Query": "DeviceInfo"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(
        &sim,
        &defender,
        "/api/advancedqueries/run",
        json!({"Query": "DeviceInfo | summarize count()"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn hunting_quota_is_45_per_minute_with_the_observed_429_body() {
    let sim = start(SimConfig {
        rate_limits: true,
        ..small()
    })
    .await;
    let t = token(&sim).await;
    let query = json!({"Query": "DeviceInfo | take 1"});
    for _ in 0..45 {
        let (status, _) = post(&sim, &t, "/api/advancedqueries/run", query.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = post(&sim, &t, "/api/advancedqueries/run", query).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "429");
    assert_eq!(
        body["error"]["message"],
        "API calls quota exceeded! maximum allowed 45 per 00:01:00"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_changed_machine_is_listed_as_reported_now_with_its_new_levels() {
    let sim = start(small()).await;
    let t = token(&sim).await;
    let m = sim
        .fleet()
        .machines()
        .iter()
        .find(|m| m.risk_score != Some("High"))
        .expect("a machine below High")
        .clone();
    let since = time::OffsetDateTime::now_utc() - Duration::from_secs(60);
    let recent = format!(
        "/api/machines?$filter=lastSeen gt {}",
        since
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    );
    let (_, _, before) = get(&sim, &t, &recent).await;
    let listed = |page: &serde_json::Value| -> Vec<String> {
        page["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect()
    };
    assert!(!listed(&before).contains(&m.id));

    let http = reqwest::Client::new();
    let change = |body: serde_json::Value| {
        http.post(format!("{}/_sim/machine-changes", sim.base_url()))
            .json(&body)
            .send()
    };
    let bad = change(json!({"machineId": m.id, "riskScore": "Severe"}))
        .await
        .expect("post");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let ok = change(json!({"machineId": m.id, "riskScore": "high", "healthStatus": "Inactive"}))
        .await
        .expect("post");
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);

    let (_, _, after) = get(&sim, &t, &recent).await;
    let new: Vec<String> = listed(&after)
        .into_iter()
        .filter(|id| !listed(&before).contains(id))
        .collect();
    assert_eq!(
        new,
        [m.id.as_str()],
        "only the changed machine reported since"
    );
    let (_, _, one) = get(&sim, &t, &format!("/api/machines/{}", m.id)).await;
    assert_eq!(
        (one["riskScore"].as_str(), one["healthStatus"].as_str()),
        (Some("High"), Some("Inactive"))
    );
    assert_eq!(one["exposureLevel"].as_str(), m.exposure_level, "unchanged");
    sim.shutdown().await;
}
