//! The admin's statistics and sessions (`clover_signup::admin`), and the bot counts they
//! show (`clover_signup::intake::store::BotTally`).

use std::time::Duration;

use clover_signup::admin::Backlog;
use clover_signup::alerts::Trouble;
use clover_signup::delivery::DeliveryOutcome;
use clover_signup::intake::store::BotTally;
use clover_signup::storage::{Storage, now_ms};

use crate::{LEASE, TestStore, submit};

on_both_stores!(
    the_backlog_counts_what_waits_and_since_when,
    bot_counts_are_added_n_at_a_time,
    bots_are_counted_in_memory_until_flushed,
    signing_out_moves_every_instance_to_a_new_session_generation,
);

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
