//! The digest's ledger (`clover_signup::alerts::digest::DigestLedger`).

use clover_signup::alerts::digest::PeriodCounts;
use clover_signup::consent::{Actor, ConsentChannel, ConsentEvent, ConsentKind, PersonKeys};
use clover_signup::delivery::DeliveryOutcome;
use clover_signup::intake::store::Source;
use clover_signup::storage::now_ms;

use crate::{LEASE, TestStore, submit};

on_both_stores!(
    a_period_counts_what_was_received_and_delivered_in_it,
    a_period_is_claimed_once_and_tells_the_bots_counted_at_the_last_digest,
);

async fn a_period_counts_what_was_received_and_delivered_in_it(store: TestStore) {
    let db = store.instance().await;
    let before = now_ms();
    submit(&db, "ada@example.com").await;
    submit(&db, "grace@example.com").await;
    let claimed = db.queue().claim_due(1, LEASE).await.unwrap();
    db.queue()
        .mark_delivered(&claimed[0].id, "C1", DeliveryOutcome::Created)
        .await
        .unwrap();
    // Under double opt-in the box is in the ledger, not yet in the signup's column.
    let mut unconfirmed = crate::submission("mae@example.com", Source::Form, None);
    let person = PersonKeys::new(None).of("mae@example.com");
    let mut given =
        ConsentEvent::now(person, ConsentKind::Given, Actor::Visitor).on(ConsentChannel::Email);
    given.needs_confirmation = true;
    unconfirmed.consents = vec![given];
    db.submissions().insert(unconfirmed).await.unwrap();
    let ada = PersonKeys::new(None).of("ada@example.com");
    let withdrawn =
        ConsentEvent::now(ada, ConsentKind::Withdrawn, Actor::Visitor).on(ConsentChannel::Email);
    db.consent().record(withdrawn).await.unwrap();
    let after = now_ms() + 1;

    let counts = db.digests().counts(before, after).await.unwrap();
    // The test's own submissions say no to marketing; the unconfirmed one ticked the box.
    assert_eq!(
        counts,
        PeriodCounts {
            received: 3,
            consented: 1,
            delivered: 1,
            withdrawn: 1,
        }
    );
    let earlier = db
        .digests()
        .counts(before - 86_400_000, before)
        .await
        .unwrap();
    assert_eq!(earlier, PeriodCounts::default());
}

async fn a_period_is_claimed_once_and_tells_the_bots_counted_at_the_last_digest(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    assert_eq!(
        a.digests()
            .claim("daily:2026-12-04", 1_000, 5)
            .await
            .unwrap(),
        Some(None)
    );
    assert_eq!(
        b.digests()
            .claim("daily:2026-12-04", 1_001, 5)
            .await
            .unwrap(),
        None,
        "once"
    );
    assert_eq!(
        b.digests()
            .claim("daily:2026-12-05", 2_000, 9)
            .await
            .unwrap(),
        Some(Some(5)),
        "the bots counted at the last digest"
    );
    // A digest that could not be sent is claimed again.
    b.digests().release("daily:2026-12-05").await.unwrap();
    assert_eq!(
        a.digests()
            .claim("daily:2026-12-05", 3_000, 9)
            .await
            .unwrap(),
        Some(Some(5))
    );
}
