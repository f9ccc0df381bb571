//! The event outbox (`clover_signup::events::EventOutbox`).

use clover_signup::events::OutboxEvent;
use clover_signup::storage::now_ms;

use crate::{LEASE, TestStore};

on_both_stores!(
    an_event_is_claimed_by_one_instance_and_leaves_once_sent,
    abandoned_events_are_kept_until_their_retention_runs_out,
);

fn event(id: &str, created_at_ms: i64) -> OutboxEvent {
    OutboxEvent {
        id: id.into(),
        kind: "signup.stored".into(),
        body: format!(r#"{{"id":"{id}"}}"#),
        created_at_ms,
        attempts: 0,
    }
}

async fn an_event_is_claimed_by_one_instance_and_leaves_once_sent(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    a.events().add(&event("e1", now_ms())).await.unwrap();

    let claimed = a.events().claim_due(5, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(
        claimed[0].body, r#"{"id":"e1"}"#,
        "sent byte for byte as stored"
    );
    assert!(
        b.events().claim_due(5, LEASE).await.unwrap().is_empty(),
        "claimed once"
    );

    a.events()
        .retry_at("e1", now_ms(), "refused")
        .await
        .unwrap();
    let again = b.events().claim_due(5, LEASE).await.unwrap();
    assert_eq!(again[0].attempts, 2);
    b.events().sent("e1").await.unwrap();
    assert_eq!(a.events().pending().await.unwrap(), 0);
}

async fn abandoned_events_are_kept_until_their_retention_runs_out(store: TestStore) {
    let db = store.instance().await;
    let long_ago = now_ms() - 100 * 86_400_000;
    db.events().add(&event("old", long_ago)).await.unwrap();
    db.events().add(&event("new", now_ms())).await.unwrap();
    db.events().claim_due(5, LEASE).await.unwrap();
    db.events().abandon("old", "gone").await.unwrap();
    db.events().abandon("new", "gone").await.unwrap();
    assert_eq!(
        db.events().pending().await.unwrap(),
        0,
        "abandoned is not pending"
    );
    assert!(
        db.events().claim_due(5, LEASE).await.unwrap().is_empty(),
        "nor sent"
    );

    let cutoff = now_ms() - 90 * 86_400_000;
    assert_eq!(
        db.events().forget_abandoned_before(cutoff).await.unwrap(),
        1
    );
    assert_eq!(
        db.events().forget_abandoned_before(cutoff).await.unwrap(),
        0
    );
}
