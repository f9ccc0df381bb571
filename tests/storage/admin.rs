//! The admin's statistics and sessions (`clover_signup::admin`), and the bot counts they
//! show (`clover_signup::intake::store::BotTally`).

use std::time::Duration;

use clover_signup::admin::{
    Backlog, DeliveryTimes, OpenAlert, QUARTER_HOUR_MS, SourceCount, SubmissionState,
};
use clover_signup::alerts::Trouble;
use clover_signup::delivery::DeliveryOutcome;
use clover_signup::domain::SourceTag;
use clover_signup::intake::store::BotTally;
use clover_signup::intake::store::Source;
use clover_signup::storage::{Storage, now_ms};

use crate::{LEASE, TestStore, submit};

on_both_stores!(
    the_backlog_counts_what_waits_and_since_when,
    bot_counts_are_added_n_at_a_time,
    bots_are_counted_in_memory_until_flushed,
    signing_out_moves_every_instance_to_a_new_session_generation,
    open_alerts_are_read_oldest_first_until_cleared,
    signups_are_counted_per_quarter_hour_from_a_moment,
    delivery_times_are_the_median_and_the_slowest_of_a_period,
    a_search_by_email_finds_every_submission_under_it_newest_first,
    the_export_holds_each_submission_of_the_period_as_stored,
    signups_are_counted_per_source_over_a_period,
);

async fn signups_are_counted_per_source_over_a_period(store: TestStore) {
    let db = store.instance().await;
    let from = now_ms();
    for (email, source) in [
        ("a@example.com", Some("counter")),
        ("b@example.com", Some("counter")),
        ("c@example.com", Some("kiosk:front counter")),
        ("d@example.com", None),
    ] {
        let mut submission = crate::submission(email, Source::Form, None);
        submission.source_tag = source.map(|s| SourceTag::from_stored(s.to_owned()));
        db.submissions().insert(submission).await.unwrap();
    }
    let counts = db
        .statistics()
        .signups_per_source(from, i64::MAX)
        .await
        .unwrap();
    let counted = |source: Option<&str>, signups| SourceCount {
        source: source.map(str::to_owned),
        signups,
    };
    assert_eq!(
        counts,
        vec![
            counted(Some("counter"), 2),
            counted(Some("kiosk:front counter"), 1),
            counted(None, 1),
        ]
    );
    let later = db
        .statistics()
        .signups_per_source(now_ms() + 1, i64::MAX)
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
}

async fn bot_counts_are_added_n_at_a_time(store: TestStore) {
    let bots = store.instance().await.submissions();
    bots.add_bots("honeypot", 5).await.unwrap();
    bots.add_bots("honeypot", 2).await.unwrap();
    bots.add_bots("too_fast", 1).await.unwrap();

    let counts = store.instance().await.statistics().bot_counts().await;
    let counts = counts.unwrap();
    assert_eq!(counts.get("honeypot"), Some(&7));
    assert_eq!(counts.get("too_fast"), Some(&1));
    assert_eq!(counts.get("bad_token"), None);
}

async fn bots_are_counted_in_memory_until_flushed(store: TestStore) {
    let (db, other) = (store.instance().await, store.instance().await);
    let tally = BotTally::new(db.submissions());
    let others = BotTally::new(other.submissions());
    let counts_of = |db: &Storage, tally: &BotTally| {
        let (statistics, tally) = (db.statistics(), tally.clone());
        async move { tally.with_stored(statistics.bot_counts()).await.unwrap() }
    };
    for _ in 0..3 {
        tally.count("honeypot");
    }
    tally.count("bad_token");

    // Shown at once by the instance that counted them, written by none yet.
    let counts = counts_of(&db, &tally).await;
    assert_eq!(counts.get("honeypot"), Some(&3));
    assert_eq!(counts.get("bad_token"), Some(&1));
    assert!(counts_of(&other, &others).await.is_empty());

    tally.flush().await.unwrap();
    tally.count("honeypot");
    tally.flush().await.unwrap();
    tally.flush().await.unwrap();

    for (instance, tally) in [(&db, &tally), (&other, &others)] {
        let counts = counts_of(instance, tally).await;
        assert_eq!(counts.get("honeypot"), Some(&4), "each counted once");
        assert_eq!(counts.get("bad_token"), Some(&1));
    }
}

async fn signing_out_moves_every_instance_to_a_new_session_generation(store: TestStore) {
    let here = store.instance().await;
    let there = store.instance().await;
    let first = here.admin_sessions().generation().await.unwrap();

    let next = here.admin_sessions().end_all().await.unwrap();

    assert_eq!(next, first + 1);
    assert_eq!(there.admin_sessions().generation().await.unwrap(), next);
    assert_eq!(there.admin_sessions().end_all().await.unwrap(), next + 1);
    drop((here, there));
    let reopened = store.instance().await;
    assert_eq!(
        reopened.admin_sessions().generation().await.unwrap(),
        next + 1
    );
}

async fn the_backlog_counts_what_waits_and_since_when(store: TestStore) {
    let db = store.instance().await;
    let statistics = db.statistics();
    assert_eq!(statistics.backlog().await.unwrap(), Backlog::default());

    let before = now_ms();
    let oldest = submit(&db, "a@example.com").await.id().clone();
    let after = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let next = now_ms();
    for email in ["b@example.com", "c@example.com", "d@example.com"] {
        submit(&db, email).await;
    }
    let claimed = db.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let by_email = |email: &str| {
        let claimed = claimed.iter().find(|d| d.email == email).unwrap();
        claimed.id.clone()
    };
    let queue = db.queue();
    let delivered = by_email("c@example.com");
    queue
        .mark_delivered(&delivered, "C1", DeliveryOutcome::Created)
        .await
        .unwrap();
    let failed = by_email("d@example.com");
    queue.mark_failed(&failed, "rejected").await.unwrap();
    let remind = Duration::from_secs(3600);
    db.alerts()
        .raise(Trouble::FailedSignups, now_ms(), remind)
        .await
        .unwrap();

    let backlog = statistics.backlog().await.unwrap();
    assert_eq!(
        (backlog.pending, backlog.failed, backlog.alerts_open),
        (2, 1, 1),
        "claimed is still pending; delivered and failed are not"
    );
    let since = backlog.oldest_pending_at_ms.unwrap();
    assert!(
        (before..=after).contains(&since),
        "{before} <= {since} <= {after}"
    );

    // The oldest delivered, the next one is the oldest still waiting, on any instance.
    queue
        .mark_delivered(&oldest, "C2", DeliveryOutcome::Linked)
        .await
        .unwrap();
    let other = store.instance().await;
    let backlog = other.statistics().backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.failed), (1, 1));
    assert!(backlog.oldest_pending_at_ms.unwrap() >= next);
    db.alerts().clear(Trouble::FailedSignups).await.unwrap();
    assert_eq!(other.statistics().backlog().await.unwrap().alerts_open, 0);
}

/// Stores a signup for each email, delivers those in `delivered` (as customer `C-<email>`),
/// then sets each one's received_at (and delivered_at, `taking` ms later) behind the
/// store's back. `at` gives, per email, received_at and the delivery's duration.
async fn stored_at(store: &TestStore, db: &Storage, at: &[(&str, i64, Option<i64>)]) {
    for (email, _, _) in at {
        submit(db, email).await;
    }
    let claimed = db.queue().claim_due(10, LEASE).await.unwrap();
    for (email, received, taking) in at {
        let id = &claimed.iter().find(|d| d.email == *email).unwrap().id;
        if taking.is_some() {
            let customer = format!("C-{email}");
            db.queue()
                .mark_delivered(id, &customer, DeliveryOutcome::Created)
                .await
                .unwrap();
        }
        let delivered = taking.map_or("NULL".to_owned(), |t| (received + t).to_string());
        store
            .execute(&format!(
                "UPDATE submissions SET received_at = {received}, delivered_at = {delivered}
                 WHERE id = '{id}'"
            ))
            .await;
    }
}

async fn open_alerts_are_read_oldest_first_until_cleared(store: TestStore) {
    let db = store.instance().await;
    let statistics = db.statistics();
    assert_eq!(statistics.open_alerts().await.unwrap(), []);
    let remind = Duration::from_secs(3600);
    let alerts = db.alerts();
    alerts
        .raise(Trouble::SignupsWaiting, 2_000, remind)
        .await
        .unwrap();
    alerts
        .raise(Trouble::Connection, 1_000, remind)
        .await
        .unwrap();
    // A reminder leaves the moment it opened as it was.
    alerts
        .raise(Trouble::Connection, 5_000_000, remind)
        .await
        .unwrap();

    let open = store
        .instance()
        .await
        .statistics()
        .open_alerts()
        .await
        .unwrap();
    let alert = |trouble: Trouble, opened_at_ms| OpenAlert {
        trouble: trouble.key().to_owned(),
        opened_at_ms,
    };
    assert_eq!(
        open,
        [
            alert(Trouble::Connection, 1_000),
            alert(Trouble::SignupsWaiting, 2_000)
        ]
    );
    alerts.clear(Trouble::Connection).await.unwrap();
    assert_eq!(
        statistics.open_alerts().await.unwrap(),
        [alert(Trouble::SignupsWaiting, 2_000)]
    );
}

async fn signups_are_counted_per_quarter_hour_from_a_moment(store: TestStore) {
    let db = store.instance().await;
    let quarter = 1_900_000;
    let start = quarter * QUARTER_HOUR_MS;
    stored_at(
        &store,
        &db,
        &[
            ("before@example.com", start - 1, None),
            ("a@example.com", start, None),
            ("b@example.com", start + QUARTER_HOUR_MS - 1, Some(10)),
            ("c@example.com", start + 3 * QUARTER_HOUR_MS + 5, None),
        ],
    )
    .await;

    let counts = db
        .statistics()
        .received_per_quarter_hour(start)
        .await
        .unwrap();

    assert_eq!(counts, [(quarter, 2), (quarter + 3, 1)]);
    let later = db
        .statistics()
        .received_per_quarter_hour(start + 1)
        .await
        .unwrap();
    assert_eq!(later, [(quarter, 1), (quarter + 3, 1)]);
}

async fn delivery_times_are_the_median_and_the_slowest_of_a_period(store: TestStore) {
    let db = store.instance().await;
    let statistics = db.statistics();
    let from = 1_700_000_000_000;
    assert_eq!(
        statistics.delivery_times(from).await.unwrap(),
        DeliveryTimes::default()
    );
    stored_at(
        &store,
        &db,
        &[
            ("old@example.com", from - 1, Some(900_000)),
            ("a@example.com", from, Some(5_000)),
            ("b@example.com", from + 10, Some(60_000)),
            ("c@example.com", from + 20, Some(1_000)),
            ("d@example.com", from + 30, Some(3_000)),
            ("waiting@example.com", from + 40, None),
        ],
    )
    .await;

    let times = store
        .instance()
        .await
        .statistics()
        .delivery_times(from)
        .await;

    assert_eq!(
        times.unwrap(),
        DeliveryTimes {
            delivered: 4,
            median_ms: Some(3_000),
            slowest_ms: Some(60_000),
        },
        "the lower middle of four; the one received before and the one waiting left out"
    );
    let last_three = statistics.delivery_times(from + 10).await.unwrap();
    assert_eq!(last_three.median_ms, Some(3_000));
}

async fn a_search_by_email_finds_every_submission_under_it_newest_first(store: TestStore) {
    let db = store.instance().await;
    stored_at(
        &store,
        &db,
        &[
            ("ada@example.com", 1_000, Some(2_000)),
            ("bob@example.com", 2_000, None),
        ],
    )
    .await;
    // A resend of Ada's, after the first one reached Clover.
    submit(&db, "ADA@Example.com").await;
    store
        .execute("UPDATE submissions SET received_at = 3000 WHERE received_at > 1000000")
        .await;

    let found = db
        .statistics()
        .find_by_email("ada@example.com", 10)
        .await
        .unwrap();

    let seen: Vec<_> = found
        .iter()
        .map(|s| {
            (
                s.email.as_str(),
                s.received_at_ms,
                s.state,
                s.delivered_at_ms,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ada@example.com", 3_000, SubmissionState::Pending, None),
            (
                "ada@example.com",
                1_000,
                SubmissionState::Delivered,
                Some(3_000)
            ),
        ]
    );
    assert_eq!(
        found[1].clover_customer_id.as_deref(),
        Some("C-ada@example.com")
    );
    let one = db
        .statistics()
        .find_by_email("ada@example.com", 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let none = db
        .statistics()
        .find_by_email("nobody@example.com", 10)
        .await;
    assert!(none.unwrap().is_empty());
}

async fn the_export_holds_each_submission_of_the_period_as_stored(store: TestStore) {
    let db = store.instance().await;
    let day = 86_400_000;
    stored_at(
        &store,
        &db,
        &[
            ("before@example.com", 10 * day - 1, None),
            ("erased@example.com", 10 * day, Some(500)),
            ("ada@example.com", 10 * day + 5, Some(1_500)),
            ("waiting@example.com", 11 * day - 1, None),
            ("after@example.com", 11 * day, None),
        ],
    )
    .await;
    store
        .execute(
            "UPDATE submissions SET phone = '+44 20 7946 0000' WHERE email = 'ada@example.com'",
        )
        .await;
    let erased = db
        .queue()
        .erase_delivered_before(10 * day + 501)
        .await
        .unwrap();
    assert_eq!(erased, 1);

    let rows = db.statistics().export(10 * day, 11 * day).await.unwrap();

    let emails: Vec<_> = rows.iter().map(|r| r.email.as_str()).collect();
    assert_eq!(emails, ["", "ada@example.com", "waiting@example.com"]);
    let (gone, ada, waiting) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(
        (gone.first_name.as_deref(), gone.phone.as_deref()),
        (None, None)
    );
    assert_eq!(
        gone.clover_customer_id.as_deref(),
        Some("C-erased@example.com")
    );
    assert_eq!(ada.received_at_ms, 10 * day + 5);
    assert_eq!(ada.source, "form");
    assert_eq!(
        (ada.first_name.as_deref(), ada.last_name.as_deref()),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(ada.phone.as_deref(), Some("+44 20 7946 0000"));
    assert!(!ada.marketing_consent);
    assert_eq!(ada.state, SubmissionState::Delivered);
    assert_eq!(ada.delivered_at_ms, Some(10 * day + 1_505));
    assert_eq!(
        (waiting.state, waiting.delivered_at_ms),
        (SubmissionState::Pending, None)
    );
    assert_eq!(waiting.clover_customer_id, None);
}
