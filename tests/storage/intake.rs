//! The intake's submission store (`clover_signup::intake::store`).

use std::time::Duration;

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

/// PostgreSQL only: signups that wait while the writers are busy are stored as one
/// batch. One the server refuses fails the batch; then each is stored on its own, so the
/// refused one gets its error and the others are stored, none twice. The same key twice
/// in one batch is stored once, and the second is told it is the first sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_signup_the_server_refuses_stores_the_others_each_once() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let db = store.instance().await;
    let (mut admin, connection) =
        tokio_postgres::connect(store.url.as_ref().unwrap(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.email = 'refused@example.com' THEN RAISE EXCEPTION 'refused'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON submissions
                 FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();
    let send = |email: String, key: Option<&str>| {
        let db = db.clone();
        let key = key.map(|key| IdempotencyKey::parse(key).unwrap());
        tokio::spawn(async move {
            db.submissions()
                .insert(submission(&email, Source::Form, key))
                .await
        })
    };

    // The table locked: the writers each take what is waiting and wait for the lock,
    // and what arrives after that waits for them, to be stored together.
    let lock = admin.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE submissions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut sent: Vec<_> = (0..10)
        .map(|n| send(format!("first{n}@example.com"), None))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = sent.len();
    sent.extend((0..10).map(|n| send(format!("second{n}@example.com"), None)));
    sent.push(send("refused@example.com".into(), None));
    sent.push(send("twice@example.com".into(), Some("twice-key")));
    sent.push(send("twice@example.com".into(), Some("twice-key")));
    sent.extend((10..20).map(|n| send(format!("second{n}@example.com"), None)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.rollback().await.unwrap();
    let results: Vec<_> = futures_util::future::join_all(sent)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let (refused, twice) = (&results[waiting + 10], &results[waiting + 11..waiting + 13]);
    assert!(refused.is_err(), "{refused:?}");
    // Either may have reached the writer first.
    let (first, again) = match (twice[0].as_ref().unwrap(), twice[1].as_ref().unwrap()) {
        (first @ Inserted::New(_), again) | (again, first @ Inserted::New(_)) => (first, again),
        other => panic!("neither was stored as new: {other:?}"),
    };
    assert_eq!(again, &Inserted::AlreadyStored(first.id().clone()));
    let new = results
        .iter()
        .filter(|r| matches!(r, Ok(Inserted::New(_))))
        .count();
    assert_eq!(new, 31);
    assert_eq!(db.statistics().queue_counts().await.unwrap().pending, 31);
    let stored: i64 = admin
        .query_one("SELECT count(*) FROM submissions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 31);
}
