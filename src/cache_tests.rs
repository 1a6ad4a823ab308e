//! Unit tests of the caches (kept beside `cache.rs` to keep both short).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::defender::Machine;
use crate::risk::Score;

fn config() -> CacheConfig {
    CacheConfig {
        risk_ttl: Duration::from_millis(200),
        stale_max_age: Duration::from_millis(600),
        negative_ttl: Duration::from_millis(200),
        lookup_ttl: Duration::from_millis(200),
        max_entries: 100,
        max_bytes: 10 * 1024 * 1024,
    }
}

fn assessment(id: &str) -> Assessment {
    let machine = Machine {
        id: Some(id.into()),
        ..Machine::default()
    };
    let portal = url::Url::parse("https://security.microsoft.com").expect("url");
    Assessment::new("t", &portal, Arc::new(machine), Score::default())
}

fn unavailable() -> ServiceError {
    ServiceError::UpstreamUnavailable {
        message: "503".into(),
        retry_after: None,
    }
}

#[tokio::test]
async fn concurrent_misses_make_one_load() {
    let cache = Arc::new(RiskCache::new(&config()));
    let loads = Arc::new(AtomicUsize::new(0));
    let key = RiskKey::new("t", "m1");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, loads, key) = (cache.clone(), loads.clone(), key.clone());
            tokio::spawn(async move {
                cache
                    .risk(&key, false, async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(assessment("m1"))
                    })
                    .await
                    .map(|s| s.cached)
            })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        if !task.await.expect("join").expect("loaded") {
            fresh += 1;
        }
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(fresh, 1, "exactly one caller computed it");
}

#[tokio::test]
async fn a_hit_within_the_ttl_does_not_load_and_bypass_does() {
    let cache = RiskCache::new(&config());
    let key = RiskKey::new("t", "m1");
    cache
        .risk(&key, false, async { Ok(assessment("m1")) })
        .await
        .expect("first");
    let hit = cache
        .risk(&key, false, async {
            Err(ServiceError::Internal("must not load".into()))
        })
        .await
        .expect("hit");
    assert!(hit.cached);
    let loaded = AtomicUsize::new(0);
    let fresh = cache
        .risk(&key, true, async {
            loaded.fetch_add(1, Ordering::SeqCst);
            Ok(assessment("m1"))
        })
        .await
        .expect("bypass");
    assert!(!fresh.cached);
    assert_eq!(loaded.load(Ordering::SeqCst), 1);
    assert!(Arc::ptr_eq(
        &fresh.value,
        &cache.cached_risk("t", "m1").await.expect("replaced")
    ));
}

#[tokio::test]
async fn stale_is_served_on_unavailable_until_the_maximum_age() {
    let cache = RiskCache::new(&config());
    let key = RiskKey::new("t", "m1");
    cache
        .risk(&key, false, async { Ok(assessment("m1")) })
        .await
        .expect("first");
    tokio::time::sleep(Duration::from_millis(300)).await; // past risk_ttl
    let stale = cache
        .risk(&key, false, async { Err(unavailable()) })
        .await
        .expect("stale served");
    assert!(stale.stale_because.is_some() && stale.cached);
    let not_allowed = cache
        .risk(&key, false, async {
            Err(ServiceError::Internal("bug".into()))
        })
        .await;
    assert!(
        not_allowed.is_err(),
        "only UNAVAILABLE / RESOURCE_EXHAUSTED allow stale"
    );
    tokio::time::sleep(Duration::from_millis(400)).await; // past stale_max_age
    assert!(
        cache
            .risk(&key, false, async { Err(unavailable()) })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn not_found_look_ups_are_remembered_briefly() {
    let cache = RiskCache::new(&config());
    let key = LookupKey::new("t", &EndpointKey::Hostname("ghost".into()));
    let not_found = || ServiceError::NotFound {
        resource_type: "machine",
        name: "ghost".into(),
    };
    assert!(
        cache
            .lookup(&key, false, async { Err(not_found()) })
            .await
            .is_err()
    );
    let remembered = cache
        .lookup(&key, false, async {
            Err(ServiceError::Internal("must not load".into()))
        })
        .await;
    assert!(matches!(remembered, Err(ServiceError::NotFound { .. })));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(cache.known_missing(&key).await.is_none());
}

#[tokio::test]
async fn invalidation_drops_the_fresh_entry_only() {
    let cache = RiskCache::new(&config());
    let key = RiskKey::new("T", "M1");
    cache
        .risk(&key, false, async { Ok(assessment("m1")) })
        .await
        .expect("first");
    cache.invalidate_machine("t", "m1").await;
    assert!(cache.cached_risk("T", "M1").await.is_none());
    let stale = cache
        .risk(&key, false, async { Err(unavailable()) })
        .await
        .expect("stale");
    assert!(stale.stale_because.is_some());
}

#[tokio::test]
async fn entries_are_bounded() {
    let mut c = config();
    c.max_entries = 10;
    c.risk_ttl = Duration::from_secs(60);
    let cache = RiskCache::new(&c);
    for i in 0..50 {
        let id = format!("m{i}");
        let key = RiskKey::new("t", &id);
        cache
            .risk(&key, false, async { Ok(assessment(&id)) })
            .await
            .expect("load");
    }
    assert!(cache.risk_entries().await <= 10);
}
