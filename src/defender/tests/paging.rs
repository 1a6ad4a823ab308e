//! Paging: next links (followed verbatim, refused off the Defender hosts) and `$skip` fallback.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use url::Url;

use super::{client_for, error_body, serve};
use crate::defender::{
    ApiFamily, CallOptions, DefenderError, Machine, ODataQuery, Page, PageCursor,
};

fn machine(n: usize) -> serde_json::Value {
    serde_json::json!({"id": format!("{n:040x}"), "computerDnsName": format!("host{n}")})
}

/// `/api/machines` over `total` machines honouring `$top`/`$skip`, with no next link.
fn skip_paged(total: usize) -> Router {
    Router::new().route(
        "/api/machines",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let top: usize = q.get("$top").and_then(|v| v.parse().ok()).unwrap_or(10_000);
            let skip: usize = q.get("$skip").and_then(|v| v.parse().ok()).unwrap_or(0);
            let value: Vec<_> = (0..total).skip(skip).take(top).map(machine).collect();
            axum::Json(serde_json::json!({"@odata.context": "x", "value": value}))
        }),
    )
}

#[tokio::test]
async fn skip_fallback_pages_until_a_short_page() {
    let (client, server, _) = client_for(skip_paged(5)).await;
    let opts = CallOptions::default();
    let q = ODataQuery {
        top: Some(2),
        ..Default::default()
    };
    let first = client.list_machines(&q, &opts).await.expect("first page");
    assert_eq!(first.items.len(), 2);
    assert!(matches!(first.next, Some(PageCursor::Skip(_))));
    let all = client
        .collect_all(first, ApiFamily::Machines, 100, &opts)
        .await
        .expect("all");
    assert!(all.complete);
    let names: Vec<_> = all
        .items
        .iter()
        .filter_map(|m| m.computer_dns_name.clone())
        .collect();
    assert_eq!(names, ["host0", "host1", "host2", "host3", "host4"]);
    let uris: Vec<_> = server.log.api().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        [
            "/api/machines?$top=2",
            "/api/machines?$top=2&$skip=2",
            "/api/machines?$top=2&$skip=4"
        ]
    );
}

#[tokio::test]
async fn collect_all_stops_at_max_items_and_says_incomplete() {
    let (client, _server, _) = client_for(skip_paged(10)).await;
    let opts = CallOptions::default();
    let q = ODataQuery {
        top: Some(3),
        ..Default::default()
    };
    let first = client.list_machines(&q, &opts).await.expect("first page");
    let some = client
        .collect_all(first, ApiFamily::Machines, 5, &opts)
        .await
        .expect("some");
    assert_eq!(some.items.len(), 5);
    assert!(!some.complete);
}

#[tokio::test]
async fn default_top_is_the_apis_maximum() {
    let (client, server, _) = client_for(skip_paged(3)).await;
    let page = client
        .list_machines(&ODataQuery::default(), &CallOptions::default())
        .await
        .expect("page");
    assert_eq!(page.items.len(), 3);
    assert!(page.next.is_none());
    assert_eq!(server.log.api()[0].uri, "/api/machines?$top=10000");
}

#[tokio::test]
async fn next_link_on_the_configured_origin_is_followed_verbatim() {
    let base = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let link_base = base.clone();
    let router = Router::new().route(
        "/api/machines",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let link_base = link_base.clone();
            async move {
                if q.contains_key("$skiptoken") {
                    axum::Json(serde_json::json!({"value": [machine(2)]}))
                } else {
                    let next = format!("{}api/machines?$skiptoken=abc%3D%3D", link_base.lock().expect("lock"));
                    axum::Json(serde_json::json!({"value": [machine(0), machine(1)], "@odata.nextLink": next}))
                }
            }
        }),
    );
    let (client, server, _) = client_for(router).await;
    *base.lock().expect("lock") = server.base.to_string();
    let opts = CallOptions::default();
    let first = client
        .list_machines(&ODataQuery::default(), &opts)
        .await
        .expect("first");
    assert!(matches!(first.next, Some(PageCursor::NextLink(_))));
    let all = client
        .collect_all(first, ApiFamily::Machines, 100, &opts)
        .await
        .expect("all");
    assert_eq!(all.items.len(), 3);
    assert!(all.complete);
    assert_eq!(
        server.log.api()[1].uri,
        "/api/machines?$skiptoken=abc%3D%3D"
    );
}

#[tokio::test]
async fn foreign_next_link_is_refused_with_no_request_to_that_origin() {
    let foreign = serve(Router::new().fallback(|| async { "should never be called" })).await;
    let link = format!("{}api/machines?$skip=2", foreign.base);
    let router = Router::new().route(
        "/api/machines",
        get(move || {
            let link = link.clone();
            async move {
                axum::Json(serde_json::json!({"value": [machine(0)], "@odata.nextLink": link}))
            }
        }),
    );
    let (client, _server, _) = client_for(router).await;
    let err = client
        .list_machines(&ODataQuery::default(), &CallOptions::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, DefenderError::DisallowedNextLink { ref host } if host == "127.0.0.1"),
        "{err:?}"
    );
    assert!(
        foreign.log.all().is_empty(),
        "the foreign origin got a request"
    );
}

#[tokio::test]
async fn next_page_with_a_foreign_cursor_sends_nothing_not_even_a_token_request() {
    let (client, server, _) = client_for(Router::new()).await;
    for link in [
        "https://evil.example.com/api/machines?$skip=2",
        "http://api.securitycenter.microsoft.com/api/machines",
    ] {
        let cursor = PageCursor::NextLink(Url::parse(link).expect("url"));
        let err = client
            .next_page::<Machine>(&cursor, ApiFamily::Machines, &CallOptions::default())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, DefenderError::DisallowedNextLink { .. }),
            "{err:?}"
        );
    }
    assert!(server.log.all().is_empty());
    assert_eq!(client.token_requests(), 0);
}

#[tokio::test]
async fn no_recent_machines_404_is_an_empty_page() {
    let router = Router::new().route(
        "/api/machines",
        get(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(error_body("ResourceNotFound", "No machines found")),
            )
                .into_response()
        }),
    );
    let (client, _server, _) = client_for(router).await;
    let page: Page<Machine> = client
        .list_machines(&ODataQuery::default(), &CallOptions::default())
        .await
        .expect("empty");
    assert!(page.items.is_empty() && page.next.is_none());
}

#[tokio::test]
async fn page_cursors_round_trip_through_serde() {
    let cursor =
        PageCursor::Skip(Url::parse("https://h/api/machines?$top=2&$skip=2").expect("url"));
    let text = serde_json::to_string(&cursor).expect("ser");
    let back: PageCursor = serde_json::from_str(&text).expect("de");
    assert_eq!(back, cursor);
}
