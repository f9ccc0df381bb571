//! The intake's submission store (`clover_signup::intake::store`).

use clover_signup::domain::IdempotencyKey;
use clover_signup::intake::store::{Inserted, Source};
use clover_signup::storage::Storage;

use crate::{LEASE, TestStore, store_one, submission};

on_both_stores!(
    signups_sent_together_are_each_stored_once,
    a_resend_with_the_same_key_is_stored_once_and_a_changed_one_is_told_apart,
    data_survives_reopening,
);

async fn signups_sent_together_are_each_stored_once(store: TestStore) {
    let db = store.instance().await;
    // Fifty at once; the same key twice is stored once.
    let key = IdempotencyKey::parse("double-click-key").unwrap();
    let inserts = (0..50).map(|n| {
        let db = db.clone();
        let key = (n < 2).then(|| key.clone());
        let email = format!("visitor{}@example.com", if n < 2 { 0 } else { n });
        tokio::spawn(async move {
            db.submissions()
                .insert(submission(&email, Source::Form, key))
                .await
        })
    });
    let results = futures_util::future::join_all(inserts).await;

    let new = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap().as_ref().unwrap(), Inserted::New(_)))
        .count();
    assert_eq!(new, 49);
    assert_eq!(db.statistics().queue_counts().await.unwrap().pending, 49);
}

async fn a_resend_with_the_same_key_is_stored_once_and_a_changed_one_is_told_apart(
    store: TestStore,
) {
    let db = store.instance().await;
    let other = store.instance().await;
    let key = IdempotencyKey::parse("resend-key").unwrap();
    let send = |db: &Storage, email: &str| {
        let (db, email, key) = (db.clone(), email.to_owned(), key.clone());
        async move {
            db.submissions()
                .insert(submission(&email, Source::Api, Some(key)))
                .await
                .unwrap()
        }
    };

    let first = send(&db, "ada@example.com").await;
    let resent = send(&other, "ada@example.com").await;
    let corrected = send(&db, "ada.l@example.com").await;

    assert!(matches!(first, Inserted::New(_)));
    assert_eq!(resent, Inserted::AlreadyStored(first.id().clone()));
    // The key names the first submission: a different one under it is not stored, and
    // the caller decides what to do (the form offers a fresh one, the API stores it apart).
    assert_eq!(corrected, Inserted::KeyTaken(first.id().clone()));
    assert_eq!(db.statistics().queue_counts().await.unwrap().pending, 1);
}

async fn data_survives_reopening(store: TestStore) {
    let db = store.instance().await;
    let stored = store_one(&db).await;
    drop(db);

    let reopened = store.instance().await;

    assert_eq!(
        reopened.statistics().queue_counts().await.unwrap().pending,
        1
    );
    let claimed = reopened.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, stored);
    assert_eq!(claimed[0].first_name.as_deref(), Some("Ada"));
}
