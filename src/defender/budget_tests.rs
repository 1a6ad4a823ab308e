use super::*;

#[test]
fn published_limits_and_page_sizes() {
    assert_eq!(ApiFamily::MachineVulnerabilities.per_minute(), 50);
    assert_eq!(ApiFamily::AdvancedHunting.per_minute(), 45);
    assert_eq!(ApiFamily::Machines.per_minute(), 100);
    assert_eq!(ApiFamily::Machines.per_hour(), 1500);
    assert_eq!(ApiFamily::Vulnerabilities.max_page_size(), 8000);
    assert_eq!(ApiFamily::Alerts.max_page_size(), 10_000);
    for (i, f) in ApiFamily::ALL.iter().enumerate() {
        assert_eq!(f.index(), i);
    }
}

#[test]
fn the_budget_keeps_a_margin_below_the_published_limits() {
    let budget = RateBudget::new(true, 1.0);
    assert_eq!(budget.limits(ApiFamily::Machines), [90, 1350]);
    assert_eq!(budget.limits(ApiFamily::AdvancedHunting), [40, 1350]);
    let quarter = RateBudget::new(true, 0.25);
    assert_eq!(quarter.limits(ApiFamily::MachineVulnerabilities), [11, 337]);
    // Never less than one call per window.
    assert_eq!(
        RateBudget::new(true, 0.001).limits(ApiFamily::Alerts),
        [1, 1]
    );
}

#[tokio::test]
async fn budget_refuses_at_once_when_the_wait_passes_the_deadline() {
    // share 0.03 of 100/min, less the margin = 2 calls per minute.
    let budget = RateBudget::new(true, 0.03);
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    for _ in 0..2 {
        budget
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .expect("within budget");
    }
    let started = Instant::now();
    let err = budget
        .acquire("t", ApiFamily::Machines, deadline)
        .await
        .expect_err("budget spent");
    assert!(started.elapsed() < Duration::from_millis(100));
    match err {
        DefenderError::RateBudgetExhausted {
            family,
            retry_after,
        } => {
            assert_eq!(family, ApiFamily::Machines);
            assert!(retry_after > Duration::from_secs(55), "{retry_after:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Other families and tenants have their own budgets.
    budget
        .acquire("t", ApiFamily::Alerts, deadline)
        .await
        .expect("alerts budget is separate");
    budget
        .acquire("other", ApiFamily::Machines, deadline)
        .await
        .expect("tenant budget is separate");
}

#[tokio::test]
async fn budget_waits_for_a_permit_within_the_deadline() {
    // 2 per 200 ms "minute" window.
    let budget = RateBudget::with_window(true, 0.03, Duration::from_millis(200));
    let started = Instant::now();
    for _ in 0..3 {
        budget
            .acquire(
                "t",
                ApiFamily::Machines,
                Some(started + Duration::from_secs(2)),
            )
            .await
            .expect("admitted after waiting");
    }
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn hourly_window_limits_even_when_minute_window_has_room() {
    // 1 per 10 ms "minute", 3 per 10 s "hour".
    let budget = RateBudget::build(
        true,
        0.0023,
        [Duration::from_millis(10), Duration::from_secs(10)],
        DEFAULT_MAX_WAITERS,
    );
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    for _ in 0..3 {
        budget
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .expect("admitted");
    }
    let err = budget
        .acquire("t", ApiFamily::Machines, deadline)
        .await
        .expect_err("hour spent");
    assert!(
        err.retry_after()
            .is_some_and(|d| d > Duration::from_secs(9))
    );
}

#[tokio::test]
async fn a_429_blocks_the_family() {
    let budget = RateBudget::new(true, 1.0);
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    budget
        .acquire("t", ApiFamily::Alerts, deadline)
        .await
        .expect("admitted");
    budget.block_for("t", ApiFamily::Alerts, Duration::from_secs(30));
    let err = budget
        .acquire("t", ApiFamily::Alerts, deadline)
        .await
        .expect_err("blocked");
    assert!(
        err.retry_after()
            .is_some_and(|d| d > Duration::from_secs(29))
    );
    // A 429 also blocks a family no call of this process has used yet.
    budget.block_for("t", ApiFamily::Software, Duration::from_secs(30));
    assert!(
        budget
            .acquire("t", ApiFamily::Software, deadline)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn disabled_budget_admits_everything() {
    let budget = RateBudget::new(false, 0.01);
    for _ in 0..500 {
        budget
            .acquire("t", ApiFamily::AdvancedHunting, Some(Instant::now()))
            .await
            .expect("admitted");
    }
}

/// One call per 1 s window (share 0.01 of 100, floored to 1).
fn one_per_second(max_waiters: usize) -> Arc<RateBudget> {
    RateBudget::build(
        true,
        0.01,
        [Duration::from_secs(1), Duration::from_secs(60)],
        max_waiters,
    )
}

#[tokio::test]
async fn a_call_counts_until_a_window_after_its_answer_not_its_send() {
    let budget = one_per_second(DEFAULT_MAX_WAITERS);
    let mut permit = budget
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect("admitted");
    // The answer comes 300 ms after the send: Defender may have counted the call as late as that.
    tokio::time::sleep(Duration::from_millis(300)).await;
    permit.answered();
    drop(permit);
    let now = Instant::now();
    let err = budget
        .acquire(
            "t",
            ApiFamily::Machines,
            Some(now + Duration::from_millis(900)),
        )
        .await
        .expect_err("the window runs from the answer");
    let wait = err.retry_after().expect("retry_after");
    // Counted from the send, the slot would free in 0.7 s.
    assert!(wait > Duration::from_millis(950), "{wait:?}");
    // An in-flight call holds its slot however long it takes.
    let short = RateBudget::build(
        true,
        0.01,
        [Duration::from_millis(100), Duration::from_secs(6)],
        DEFAULT_MAX_WAITERS,
    );
    let _permit = short
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect("admitted");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(short.remaining("t", ApiFamily::Machines)[0], 0);
}

#[tokio::test]
async fn an_unanswered_call_counts_for_a_skew_longer() {
    let budget = one_per_second(DEFAULT_MAX_WAITERS);
    let permit = budget
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect("admitted");
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(permit); // timed out: the request may still reach Defender
    let err = budget
        .acquire("t", ApiFamily::Machines, Some(Instant::now()))
        .await
        .expect_err("spent");
    // Answered, it would count until a window after now (just under 1 s from here); the skew
    // is added since the request may still be on its way.
    let wait = err.retry_after().expect("retry_after");
    assert!(wait > Duration::from_secs(1), "{wait:?}");
}

#[tokio::test]
async fn the_waiting_queue_is_bounded_and_counts_in_the_deadline_check() {
    let budget = one_per_second(2);
    let held = budget
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect("admitted");
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire("t", ApiFamily::Machines, None).await })
        })
        .collect();
    // Let both register as waiting.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let err = budget
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect_err("queue full");
    assert!(matches!(err, DefenderError::RateBudgetExhausted { .. }));
    let other = budget
        .acquire(
            "t",
            ApiFamily::Alerts,
            Some(Instant::now() + Duration::from_secs(5)),
        )
        .await;
    assert!(other.is_ok(), "another family has its own queue");
    // Cancelled waiters leave the queue.
    for waiter in &waiters {
        waiter.abort();
    }
    for waiter in waiters {
        assert!(waiter.await.is_err(), "aborted");
    }
    drop(held);
    let queued = {
        let budget = budget.clone();
        tokio::spawn(async move { budget.acquire("t", ApiFamily::Machines, None).await })
    };
    let permit = queued.await.expect("join").expect("admitted after waiting");
    drop(permit);
}

#[tokio::test]
async fn waiters_ahead_count_when_a_deadline_is_checked() {
    let budget = one_per_second(DEFAULT_MAX_WAITERS);
    let held = budget
        .acquire("t", ApiFamily::Machines, None)
        .await
        .expect("admitted");
    let ahead = {
        let budget = budget.clone();
        tokio::spawn(async move { budget.acquire("t", ApiFamily::Machines, None).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // The slot freed in ~1 s goes to the call ahead; this one would get the next, ~2 s away.
    let err = budget
        .acquire(
            "t",
            ApiFamily::Machines,
            Some(Instant::now() + Duration::from_millis(1500)),
        )
        .await
        .expect_err("cannot be admitted in time");
    assert!(
        err.retry_after()
            .is_some_and(|d| d > Duration::from_millis(1500))
    );
    drop(held);
    drop(ahead.await.expect("join").expect("admitted"));
}

#[tokio::test]
async fn a_background_share_admits_its_fraction_and_counts_in_the_parent() {
    // Parent: 0.1 of 100/min less the margin = 9 calls a minute; the share: half of that, 4.
    let parent = RateBudget::new(true, 0.1);
    let share = RateBudget::share_of(&parent, 0.5);
    assert_eq!(share.limits(ApiFamily::Machines)[0], 4);
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            share
                .acquire("t", ApiFamily::Machines, deadline)
                .await
                .expect("within the share"),
        );
    }
    // The share is spent; the parent still admits the rest of its budget.
    assert!(
        share
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .is_err()
    );
    assert_eq!(parent.remaining("t", ApiFamily::Machines)[0], 5);
    for _ in 0..5 {
        held.push(
            parent
                .acquire("t", ApiFamily::Machines, deadline)
                .await
                .expect("the parent's rest"),
        );
    }
    assert!(
        parent
            .acquire("t", ApiFamily::Machines, deadline)
            .await
            .is_err()
    );
}
