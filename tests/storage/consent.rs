//! The consent ledger (`clover_signup::consent::ledger`) and the consents stored with a
//! signup.

use clover_signup::consent::{
    Actor, ConsentChannel, ConsentEvent, ConsentKind, ConsentRecording, Given, IpRecording,
    PersonKeys, Withdrawn, Wording,
};
use clover_signup::domain::IdempotencyKey;
use clover_signup::intake::store::{Inserted, NewSubmission, Source};
use clover_signup::storage::{DatabaseLocation, Storage};

use crate::{TestStore, submission};

on_both_stores!(
    a_consent_is_stored_with_its_signup_and_a_resend_adds_none,
    a_held_signup_waits_once_and_reads_back_as_it_was_sent,
    events_are_only_ever_added,
    an_erasure_keeps_the_proof_and_removes_the_person,
    a_person_is_found_by_phone,
    a_withdrawal_another_instance_commits_late_is_still_followed,
);

const EMAIL: &str = "zebulon.quartermaine@example.com";
const PHONE: &str = "+15550104477";

fn recording() -> ConsentRecording {
    ConsentRecording {
        keys: PersonKeys::new(None),
        ip: IpRecording::Truncated,
    }
}

/// A signup from `EMAIL` with its phone, its email consent given.
fn consenting(key: Option<IdempotencyKey>) -> NewSubmission {
    let mut submission = submission(EMAIL, Source::Form, key);
    submission.signup.phone = Some(clover_signup::domain::PhoneNumber::parse(PHONE).unwrap());
    submission.signup.marketing_consent = true;
    submission.consents = vec![recording().given(Given {
        email: EMAIL,
        phone: Some(PHONE),
        channel: ConsentChannel::Email,
        wording: Wording::new("Yes, email me news.", "en"),
        source: "form".to_owned(),
        form_id: Some("form-7-0123456789"),
        ip_address: Some("198.51.100.23".parse().unwrap()),
        user_agent: Some("Mozilla/5.0 (Quartermaine)"),
        needs_confirmation: false,
    })];
    submission
}

async fn a_consent_is_stored_with_its_signup_and_a_resend_adds_none(store: TestStore) {
    let db = store.instance().await;
    let key = IdempotencyKey::parse("form-7-0123456789").unwrap();
    let first = db.submissions().insert(consenting(Some(key.clone()))).await;
    let again = db.submissions().insert(consenting(Some(key))).await;
    let Ok(Inserted::New(id)) = first else {
        panic!("{first:?}")
    };
    assert_eq!(again.unwrap(), Inserted::AlreadyStored(id.clone()));

    let person = recording().keys.of(EMAIL);
    let history = db.consent().history(&person).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    let given = &history[0];
    assert_eq!(given.kind, ConsentKind::Given);
    assert_eq!(given.channel, Some(ConsentChannel::Email));
    assert_eq!(given.submission_id.as_deref(), Some(id.as_ref()));
    assert_eq!(given.form_id.as_deref(), Some("form-7-0123456789"));
    assert_eq!(given.source.as_deref(), Some("form"));
    let wording = given.wording.as_ref().unwrap();
    assert_eq!(wording.text, "Yes, email me news.");
    assert_eq!(wording.language, "en");
    let evidence = given.evidence.as_ref().unwrap();
    assert_eq!(evidence.email, EMAIL);
    assert_eq!(evidence.ip_address.as_deref(), Some("198.51.100.0/24"));
    assert_eq!(
        evidence.user_agent.as_deref(),
        Some("Mozilla/5.0 (Quartermaine)")
    );
}

/// Every event as stored, evidence left aside: what must never change.
async fn events_as_stored(db: &Storage) -> Vec<ConsentEvent> {
    let mut events = db.consent().every_event().await.unwrap();
    for event in &mut events {
        event.evidence = None;
    }
    events
}

async fn events_are_only_ever_added(store: TestStore) {
    let db = store.instance().await;
    let ledger = db.consent();
    let person = recording().keys.of(EMAIL);
    let mut seen = Vec::new();
    // After each of the store's writes, every event seen before is still there, as it was.
    let mut check = async |db: &Storage, step: &str| {
        let now = events_as_stored(db).await;
        assert!(now.len() >= seen.len(), "{step}: an event went");
        assert_eq!(now[..seen.len()], seen[..], "{step}: an event changed");
        seen = now;
    };
    db.submissions().insert(consenting(None)).await.unwrap();
    check(&db, "a signup").await;
    let held = db
        .submissions()
        .hold(consenting(None), &person)
        .await
        .unwrap();
    check(&db, "a signup held for its confirmation").await;
    assert_eq!(db.submissions().held(&person).await.unwrap().len(), 1);
    db.submissions().release(held.id()).await.unwrap();
    db.submissions()
        .hold(consenting(None), &person)
        .await
        .unwrap();
    assert_eq!(
        db.submissions().forget_held_before(i64::MAX).await.unwrap(),
        1
    );
    check(&db, "a held signup forgotten").await;
    let withdrawn = ConsentEvent::now(person.clone(), ConsentKind::Withdrawn, Actor::Visitor)
        .on(ConsentChannel::Email)
        .from_source("unsubscribe");
    ledger.record(withdrawn).await.unwrap();
    check(&db, "a withdrawal").await;
    db.queue().erase_delivered_before(i64::MAX).await.unwrap();
    assert_eq!(ledger.withdrawn_before(0).await.unwrap(), []);
    assert_eq!(
        ledger.withdrawn_before(i64::MAX).await.unwrap(),
        std::slice::from_ref(&person)
    );
    // The signup's consent, and the one held and released (confirmed) before it.
    assert_eq!(
        ledger.remove_evidence(&person, 0).await.unwrap(),
        0,
        "none that old"
    );
    assert_eq!(ledger.remove_evidence(&person, i64::MAX).await.unwrap(), 2);
    assert_eq!(
        ledger.withdrawn_before(i64::MAX).await.unwrap(),
        [],
        "no evidence left"
    );
    check(&db, "retention").await;
    let erased = ConsentEvent::now(person.clone(), ConsentKind::Erased, Actor::Merchant);
    ledger.erase(&person, EMAIL, erased).await.unwrap();
    check(&db, "an erasure").await;
    // What the set of withdrawn people in memory is followed from, in order.
    let followed: Vec<ConsentKind> = ledger
        .withdrawals_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|(who, kind, _)| {
            assert_eq!(who, person);
            kind
        })
        .collect();
    assert_eq!(followed, [ConsentKind::Withdrawn, ConsentKind::Erased]);
    assert!(ledger.withdrawals_since(i64::MAX).await.unwrap().is_empty());
    assert_eq!(seen.len(), 5);

    // And behind the store's back, the database itself refuses.
    for sql in [
        "UPDATE consent_events SET kind = 'given'",
        "DELETE FROM consent_events",
    ] {
        let refused = std::panic::AssertUnwindSafe(store.execute(sql));
        let outcome = futures_util::FutureExt::catch_unwind(refused).await;
        assert!(outcome.is_err(), "{sql} was let through");
    }
    assert_eq!(events_as_stored(&db).await, seen);
}

async fn an_erasure_keeps_the_proof_and_removes_the_person(store: TestStore) {
    let db = store.instance().await;
    let ledger = db.consent();
    let person = recording().keys.of(EMAIL);
    db.submissions().insert(consenting(None)).await.unwrap();
    let withdrawn = ConsentEvent::now(person.clone(), ConsentKind::Withdrawn, Actor::Visitor)
        .on(ConsentChannel::Email);
    ledger.record(withdrawn).await.unwrap();
    let outbox_event = clover_signup::events::OutboxEvent {
        id: "event-1".into(),
        kind: "signup.stored".into(),
        body: format!(r#"{{"data":{{"email":"{EMAIL}"}}}}"#),
        created_at_ms: 1,
        attempts: 0,
    };
    db.events().add(&outbox_event).await.unwrap();
    db.submissions()
        .hold(consenting(None), &person)
        .await
        .unwrap();

    let erased = ConsentEvent::now(person.clone(), ConsentKind::Erased, Actor::Merchant)
        .from_source("admin");
    let removed = ledger.erase(&person, EMAIL, erased).await.unwrap();

    assert_eq!(
        (removed.submissions, removed.evidence),
        (2, 2),
        "the signup held too"
    );
    assert!(db.submissions().held(&person).await.unwrap().is_empty());
    let history = ledger.history(&person).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ConsentKind::Given,
            ConsentKind::Withdrawn,
            // The held signup's.
            ConsentKind::Given,
            ConsentKind::Erased
        ]
    );
    assert!(history.iter().all(|e| e.evidence.is_none()));
    assert_eq!(
        history[0].wording.as_ref().unwrap().text,
        "Yes, email me news.",
        "the proof of what was agreed stays"
    );
    let statistics = db.statistics();
    assert!(
        statistics
            .find_by_email(EMAIL, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(statistics.queue_counts().await.unwrap().pending, 0);
    assert!(ledger.emails_with_phone(PHONE).await.unwrap().is_empty());
    let outbox = db.events();
    let due = outbox
        .claim_due(10, std::time::Duration::from_secs(5))
        .await;
    assert!(due.unwrap().is_empty());

    // Nothing of the person is left anywhere in the database's files.
    if let DatabaseLocation::Sqlite(path) = &store.location {
        drop((db, ledger, statistics, outbox));
        let mut bytes = std::fs::read(path).unwrap();
        for suffix in ["-wal", "-journal"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            bytes.extend(std::fs::read(name).unwrap_or_default());
        }
        let text = String::from_utf8_lossy(&bytes);
        for trace in ["zebulon", "Quartermaine", "5550104477", "198.51.100"] {
            assert!(!text.contains(trace), "{trace} is still in the file");
        }
    }
}

async fn a_person_is_found_by_phone(store: TestStore) {
    let db = store.instance().await;
    db.submissions().insert(consenting(None)).await.unwrap();
    let mut other = submission("other@example.com", Source::Api, None);
    other.signup.phone = Some(clover_signup::domain::PhoneNumber::parse(PHONE).unwrap());
    db.submissions().insert(other).await.unwrap();
    assert_eq!(
        db.consent().emails_with_phone(PHONE).await.unwrap(),
        ["other@example.com", EMAIL]
    );
    assert!(
        db.consent()
            .emails_with_phone("+15550000000")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_held_signup_waits_once_and_reads_back_as_it_was_sent(store: TestStore) {
    let db = store.instance().await;
    let person = recording().keys.of(EMAIL);
    let key = IdempotencyKey::parse("form-held-0123456789").unwrap();
    let first = db
        .submissions()
        .hold(consenting(Some(key.clone())), &person)
        .await
        .unwrap();
    let again = db
        .submissions()
        .hold(consenting(Some(key)), &person)
        .await
        .unwrap();
    assert_eq!(
        again,
        Inserted::AlreadyStored(first.id().clone()),
        "a double click"
    );
    // Not a signup yet: neither counted nor queued.
    assert_eq!(db.statistics().queue_counts().await.unwrap().pending, 0);
    let held = db.submissions().held(&person).await.unwrap();
    assert_eq!(held.len(), 1);
    let confirmed = held[0].confirmed().expect("reads back");
    let sent = consenting(None);
    assert_eq!(confirmed.signup, sent.signup);
    assert_eq!(confirmed.consent_text, sent.consent_text);
    // Its consent was stored with it, naming it.
    let history = db.consent().history(&person).await.unwrap();
    assert_eq!(
        history[0].submission_id.as_deref(),
        Some(first.id().as_ref())
    );
    assert_eq!(db.submissions().forget_held_before(0).await.unwrap(), 0);
    assert_eq!(
        db.submissions().forget_held_before(i64::MAX).await.unwrap(),
        1
    );
    let history = db.consent().history(&person).await.unwrap();
    assert!(
        history[0].evidence.is_none(),
        "who entered the address, never confirmed"
    );
}

/// Instances' clocks and commits do not keep one order: a withdrawal stamped a little
/// before the newest one already followed, but committed after it, still counts.
async fn a_withdrawal_another_instance_commits_late_is_still_followed(store: TestStore) {
    let db = store.instance().await;
    let ledger = db.consent();
    let keys = PersonKeys::new(None);
    let withdrawal = |email: &str, at_ms: i64| ConsentEvent {
        occurred_at_ms: at_ms,
        ..ConsentEvent::now(keys.of(email), ConsentKind::Withdrawn, Actor::Visitor)
            .on(ConsentChannel::Email)
    };
    let now = clover_signup::storage::now_ms();
    ledger
        .record(withdrawal("fast@example.com", now))
        .await
        .unwrap();
    let withdrawn = Withdrawn::default();
    withdrawn.follow(&*ledger).await.unwrap();
    assert!(withdrawn.contains(&keys.of("fast@example.com")));

    // Stamped two seconds earlier by a slower clock, committed only now.
    ledger
        .record(withdrawal("slow@example.com", now - 2_000))
        .await
        .unwrap();
    withdrawn.follow(&*ledger).await.unwrap();
    assert!(withdrawn.contains(&keys.of("slow@example.com")));
    assert!(withdrawn.contains(&keys.of("fast@example.com")));
}
