//! The outbox of emails to visitors (`clover_signup::mail::MailOutbox`).

use std::time::Duration;

use clover_signup::consent::PersonKeys;
use clover_signup::mail::{MailKind, VisitorMail};

use crate::{LEASE, TestStore};

on_both_stores!(an_email_is_claimed_once_sent_once_and_remembered);

async fn an_email_is_claimed_once_sent_once_and_remembered(store: TestStore) {
    let db = store.instance().await;
    let other = store.instance().await;
    let person = PersonKeys::new(None).of("ana@example.com");
    let mail = VisitorMail::new(
        MailKind::Confirmation,
        person.clone(),
        "ana@example.com",
        "fr",
    );
    db.mail().add(&mail).await.unwrap();

    let claimed = db.mail().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].language, "fr");
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        other.mail().claim_due(10, LEASE).await.unwrap().is_empty(),
        "claimed"
    );
    assert_eq!(
        db.mail()
            .last_sent(&person, MailKind::Confirmation)
            .await
            .unwrap(),
        None
    );

    db.mail()
        .retry_at(&mail.id, 0, "the mail server answered 451")
        .await
        .unwrap();
    let again = other.mail().claim_due(10, LEASE).await.unwrap();
    assert_eq!(again[0].attempts, 2);
    other.mail().sent(&mail.id).await.unwrap();
    assert!(
        db.mail()
            .claim_due(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "sent"
    );
    let sent_at = db
        .mail()
        .last_sent(&person, MailKind::Confirmation)
        .await
        .unwrap();
    assert!(sent_at.is_some());
    assert_eq!(
        db.mail()
            .last_sent(&person, MailKind::Welcome)
            .await
            .unwrap(),
        None
    );

    let dropped = VisitorMail::new(MailKind::Welcome, person.clone(), "ana@example.com", "en");
    db.mail().add(&dropped).await.unwrap();
    db.mail()
        .settle(&dropped.id, "the person withdrew")
        .await
        .unwrap();
    assert!(db.mail().claim_due(10, LEASE).await.unwrap().is_empty());
    assert_eq!(
        db.mail()
            .last_sent(&person, MailKind::Welcome)
            .await
            .unwrap(),
        None,
        "not sent"
    );
    assert_eq!(db.mail().forget_settled_before(i64::MAX).await.unwrap(), 2);
}
