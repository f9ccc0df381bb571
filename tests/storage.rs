//! The storage interface's tests, run against both stores: every test runs on a fresh
//! SQLite file, and again on a fresh PostgreSQL database when `TEST_POSTGRES_URL` names a
//! cluster. Several `Database`s opened on one store stand for several instances.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::time::Duration;

use clover_signup::domain::{FormRules, IdempotencyKey, NewSignup, SignupForm};
use clover_signup::storage::{
    CredentialKind, Database, DatabaseLocation, DeliveryOutcome, DemoCustomer, Inserted,
    SecretCipher, Source, StoredCredential, SubmissionId, SubmissionState,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use support::postgres;

/// A store to test: where it is, and what keeps it alive.
struct TestStore {
    location: DatabaseLocation,
    /// The PostgreSQL database's URL, for looking behind the store's back.
    url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = DatabaseLocation::Sqlite(dir.path().join("test.db"));
        Self {
            location,
            url: None,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Option<Self> {
        let url = postgres::fresh_database().await?;
        Some(Self {
            location: DatabaseLocation::parse(&url).unwrap(),
            url: Some(url),
            _dir: None,
        })
    }

    /// One instance of the service on this store.
    async fn instance(&self) -> Database {
        Database::open(&self.location).await.unwrap()
    }
}

/// Runs an `async fn(TestStore)` once per store, as `<name>::sqlite` and
/// `<name>::postgres`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::TestStore::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(store) = super::TestStore::postgres().await {
                    super::$name(store).await;
                }
            }
        }
    )*};
}

on_both_stores!(
    signups_sent_together_are_each_stored_once,
    a_resend_with_the_same_key_is_stored_once_and_a_changed_one_is_told_apart,
    data_survives_reopening,
    a_claim_belongs_to_one_instance_until_its_lease_runs_out,
    a_heartbeat_keeps_claims_and_counts_the_instances_alive,
    an_instance_that_leaves_hands_its_claims_over_at_once,
    two_submissions_of_one_email_are_never_claimed_at_once,
    only_the_claims_of_deliveries_under_way_are_renewed,
    a_former_holder_cannot_undo_a_claim_taken_over,
    a_delivery_recorded_first_is_kept,
    instances_claiming_together_claim_each_submission_once,
    results_are_recorded_and_counted,
    failed_submissions_can_be_retried,
    personal_data_is_erased_after_delivery_only,
    the_credential_is_stored_encrypted_and_read_back,
    bot_counts_are_added_n_at_a_time,
    bots_are_counted_in_memory_until_flushed,
    the_demo_stand_in_keeps_its_customers,
    signing_out_moves_every_instance_to_a_new_session_generation,
    the_demo_stand_ins_customers_are_erased_with_the_retention_cutoff,
);

/// Long enough that a loaded machine's pauses do not make a claim run out early.
const LEASE: Duration = Duration::from_secs(1);
const NOTHING: &[SubmissionId] = &[];

fn signup(email: &str) -> NewSignup {
    SignupForm {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some(email.into()),
        ..Default::default()
    }
    .parse(&FormRules::default())
    .unwrap()
}

async fn submit(db: &Database, email: &str) -> Inserted {
    db.insert_submission(signup(email), Source::Form, "consent".into(), None)
        .await
        .unwrap()
}

async fn signups_sent_together_are_each_stored_once(store: TestStore) {
    let db = store.instance().await;
    // Fifty at once; the same key twice is stored once.
    let key = IdempotencyKey::parse("double-click-key").unwrap();
    let inserts = (0..50).map(|n| {
        let db = db.clone();
        let key = (n < 2).then(|| key.clone());
        let email = format!("visitor{}@example.com", if n < 2 { 0 } else { n });
        tokio::spawn(async move {
            db.insert_submission(signup(&email), Source::Form, "consent".into(), key)
                .await
        })
    });
    let results = futures_util::future::join_all(inserts).await;

    let new = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap().as_ref().unwrap(), Inserted::New(_)))
        .count();
    assert_eq!(new, 49);
    assert_eq!(db.queue_counts().await.unwrap().pending, 49);
}

async fn a_resend_with_the_same_key_is_stored_once_and_a_changed_one_is_told_apart(
    store: TestStore,
) {
    let db = store.instance().await;
    let other = store.instance().await;
    let key = IdempotencyKey::parse("resend-key").unwrap();
    let send = |db: &Database, email: &str| {
        let (db, email, key) = (db.clone(), email.to_owned(), key.clone());
        async move {
            db.insert_submission(signup(&email), Source::Api, "consent".into(), Some(key))
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
    assert_eq!(db.queue_counts().await.unwrap().pending, 1);
}

async fn data_survives_reopening(store: TestStore) {
    let db = store.instance().await;
    let stored = store_one(&db).await;
    drop(db);

    let reopened = store.instance().await;

    assert_eq!(reopened.queue_counts().await.unwrap().pending, 1);
    let claimed = reopened.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, stored);
    assert_eq!(claimed[0].first_name.as_deref(), Some("Ada"));
}

async fn store_one(db: &Database) -> clover_signup::storage::SubmissionId {
    submit(db, "ada@example.com").await.id().clone()
}

async fn a_claim_belongs_to_one_instance_until_its_lease_runs_out(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    store_one(&a).await;

    let claimed = a.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(b.claim_due(10, LEASE).await.unwrap().is_empty());
    assert!(a.claim_due(10, LEASE).await.unwrap().is_empty());

    // `a` stops answering: once its lease runs out, `b` takes the submission over.
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let taken_over = b.claim_due(10, LEASE).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].id, claimed[0].id);
    assert_eq!(taken_over[0].attempts, 2);
}

async fn a_heartbeat_keeps_claims_and_counts_the_instances_alive(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    store_one(&a).await;
    assert_eq!(a.heartbeat(LEASE, NOTHING).await.unwrap(), 1);
    assert_eq!(b.heartbeat(LEASE, NOTHING).await.unwrap(), 2);
    let running: Vec<_> = a
        .claim_due(10, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(running.len(), 1);

    // Renewed every third of the lease, for more than twice its length.
    for _ in 0..7 {
        tokio::time::sleep(LEASE / 3).await;
        a.heartbeat(LEASE, &running).await.unwrap();
        assert!(b.claim_due(10, LEASE).await.unwrap().is_empty());
        assert!(a.claim_left(&running[0]).await.unwrap() > Some(LEASE / 2));
    }

    // `b` falls silent: after a lease it no longer counts.
    assert_eq!(a.heartbeat(LEASE, &running).await.unwrap(), 1);
}

async fn only_the_claims_of_deliveries_under_way_are_renewed(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    submit(&a, "ada@example.com").await;
    submit(&a, "grace@example.com").await;
    let claimed = a.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // The first delivery is still running; the second ended without a result written,
    // and a request of its may still reach Clover: its claim runs out, not released.
    let still_running = [claimed[0].id.clone()];
    tokio::time::sleep(LEASE / 2).await;
    a.heartbeat(LEASE, &still_running).await.unwrap();
    assert!(b.claim_due(10, LEASE).await.unwrap().is_empty());
    tokio::time::sleep(LEASE / 2 + Duration::from_millis(100)).await;
    a.heartbeat(LEASE, &still_running).await.unwrap();

    let ran_out = b.claim_due(10, LEASE).await.unwrap();
    assert_eq!(ran_out.len(), 1);
    assert_eq!(ran_out[0].id, claimed[1].id);
    assert!(a.claim_left(&claimed[0].id).await.unwrap() > Some(LEASE / 2));
    assert_eq!(a.claim_left(&claimed[1].id).await.unwrap(), None);
}

async fn an_instance_that_leaves_hands_its_claims_over_at_once(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    submit(&a, "ada@example.com").await;
    submit(&a, "grace@example.com").await;
    a.heartbeat(LEASE, NOTHING).await.unwrap();
    b.heartbeat(LEASE, NOTHING).await.unwrap();
    let claimed = a.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // One delivery was cut off mid-way: its request may still reach Clover.
    let cut_off = [claimed[0].id.clone()];
    a.leave(&cut_off).await.unwrap();

    let at_once = b.claim_due(10, Duration::from_secs(600)).await.unwrap();
    assert_eq!(at_once.len(), 1);
    assert_eq!(at_once[0].id, claimed[1].id);
    let b_running = [at_once[0].id.clone()];
    assert_eq!(
        b.heartbeat(Duration::from_secs(600), &b_running)
            .await
            .unwrap(),
        1,
        "a no longer counts"
    );
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let later = b.claim_due(10, LEASE).await.unwrap();
    assert_eq!(later.len(), 1, "the cut-off one, once its lease ran out");
    assert_eq!(later[0].id, claimed[0].id);
}

async fn two_submissions_of_one_email_are_never_claimed_at_once(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let ada = submit(&a, "ada@example.com").await.id().clone();
    let ada_again = submit(&a, "Ada@Example.com").await.id().clone();
    submit(&a, "grace@example.com").await;

    let first = a.claim_due(10, LEASE).await.unwrap();
    let emails: Vec<_> = first.iter().map(|d| d.email.to_lowercase()).collect();
    assert_eq!(first.len(), 2, "{emails:?}");
    assert!(b.claim_due(10, LEASE).await.unwrap().is_empty());

    assert!(
        first.iter().any(|d| d.id == ada),
        "first come, first served"
    );
    a.mark_delivered(&ada, "CUSTOMER00001", DeliveryOutcome::Created)
        .await
        .unwrap();
    let second = b.claim_due(10, LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, ada_again);
}

async fn a_former_holder_cannot_undo_a_claim_taken_over(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let id = store_one(&a).await;
    a.claim_due(10, LEASE).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    assert_eq!(
        b.claim_due(10, Duration::from_secs(600))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(a.claim_left(&id).await.unwrap(), None);

    // `a` comes back: neither its retry nor its heartbeat frees the claim, and Clover's
    // refusal of its attempt does not fail the submission `b` is delivering.
    a.reschedule(&id, 0, "timed out").await.unwrap();
    a.heartbeat(LEASE, NOTHING).await.unwrap();
    a.mark_failed(&id, "Clover said 400").await.unwrap();
    assert!(a.claim_due(10, LEASE).await.unwrap().is_empty());
    assert!(b.claim_left(&id).await.unwrap() > Some(Duration::from_secs(60)));

    b.mark_delivered(&id, "CUSTOMER00002", DeliveryOutcome::Created)
        .await
        .unwrap();
    let recent = b.recent_submissions(1).await.unwrap();
    assert_eq!(recent[0].state, SubmissionState::Delivered);
}

async fn a_delivery_recorded_first_is_kept(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let id = store_one(&a).await;
    a.claim_due(10, LEASE).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    b.claim_due(10, LEASE).await.unwrap();

    // Both reach Clover; `b` finds the customer `a` created and links to it.
    a.mark_delivered(&id, "CUSTOMER00001", DeliveryOutcome::Created)
        .await
        .unwrap();
    b.mark_delivered(&id, "CUSTOMER00001", DeliveryOutcome::Linked)
        .await
        .unwrap();
    b.mark_failed(&id, "late").await.unwrap();

    let recent = a.recent_submissions(1).await.unwrap();
    assert_eq!(recent[0].state, SubmissionState::Delivered);
    assert_eq!(recent[0].outcome, Some(DeliveryOutcome::Created));
    assert_eq!(a.queue_counts().await.unwrap().pending, 0);
}

async fn instances_claiming_together_claim_each_submission_once(store: TestStore) {
    let first = store.instance().await;
    let mut expected = HashSet::new();
    for n in 0..120 {
        expected.insert(
            submit(&first, &format!("visitor{n}@example.com"))
                .await
                .id()
                .clone(),
        );
    }
    let mut instances = vec![first];
    for _ in 0..3 {
        instances.push(store.instance().await);
    }

    let workers = instances.into_iter().map(|db| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = db.claim_due(7, Duration::from_secs(600)).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for delivery in claimed {
                    db.mark_delivered(&delivery.id, "C", DeliveryOutcome::Created)
                        .await
                        .unwrap();
                    mine.push(delivery.id);
                }
            }
        })
    });
    let claimed: Vec<_> = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();

    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 120, "a submission was claimed twice");
    assert_eq!(unique, expected);
}

async fn results_are_recorded_and_counted(store: TestStore) {
    let db = store.instance().await;
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        submit(&db, email).await;
    }
    let claimed = db.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 3);

    db.mark_delivered(&claimed[0].id, "CUSTOMER00001", DeliveryOutcome::Linked)
        .await
        .unwrap();
    db.mark_failed(&claimed[1].id, "Clover said 400")
        .await
        .unwrap();
    let later = clover_signup::storage::now_ms() + 60_000;
    db.reschedule(&claimed[2].id, later, "Clover said 503")
        .await
        .unwrap();

    let counts = db.queue_counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.failed), (1, 1, 1));
    assert!(
        db.claim_due(10, LEASE).await.unwrap().is_empty(),
        "not due yet"
    );
    let due = db.next_due_at_ms().await.unwrap().unwrap();
    assert!((later..later + 1).contains(&due), "{due} vs {later}");

    let recent = db.recent_submissions(10).await.unwrap();
    assert_eq!(recent.len(), 3);
    let delivered = recent.iter().find(|s| s.id == claimed[0].id).unwrap();
    assert_eq!(delivered.state, SubmissionState::Delivered);
    assert_eq!(delivered.outcome, Some(DeliveryOutcome::Linked));
    assert_eq!(
        delivered.clover_customer_id.as_deref(),
        Some("CUSTOMER00001")
    );
    let waiting = recent.iter().find(|s| s.id == claimed[2].id).unwrap();
    assert_eq!(waiting.last_error.as_deref(), Some("Clover said 503"));
    assert_eq!(waiting.attempts, 1);

    assert_eq!(db.make_all_due().await.unwrap(), 1);
    assert_eq!(db.claim_due(10, LEASE).await.unwrap().len(), 1);
}

async fn failed_submissions_can_be_retried(store: TestStore) {
    let db = store.instance().await;
    let id = store_one(&db).await;
    db.claim_due(10, LEASE).await.unwrap();
    db.mark_failed(&id, "rejected").await.unwrap();

    assert_eq!(db.retry_failed().await.unwrap(), 1);

    let again = db.claim_due(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

async fn personal_data_is_erased_after_delivery_only(store: TestStore) {
    let db = store.instance().await;
    let delivered = submit(&db, "gone@example.com").await.id().clone();
    let pending = submit(&db, "kept@example.com").await.id().clone();
    let claimed = db.claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    db.mark_delivered(&delivered, "C1", DeliveryOutcome::Created)
        .await
        .unwrap();

    let erased = db
        .erase_delivered_before(clover_signup::storage::now_ms() + 1)
        .await
        .unwrap();

    assert_eq!(erased, 1);
    let recent = db.recent_submissions(10).await.unwrap();
    let email_of = |id| recent.iter().find(|s| &s.id == id).unwrap().email.clone();
    assert_eq!(email_of(&delivered), "");
    assert_eq!(email_of(&pending), "kept@example.com");
}

async fn the_credential_is_stored_encrypted_and_read_back(store: TestStore) {
    let db = store.instance().await;
    let cipher = SecretCipher::from_secret_key(&SecretSlice::from(vec![7u8; 32]));
    assert!(
        db.load_credential(CredentialKind::OAuth, &cipher)
            .await
            .unwrap()
            .is_none()
    );
    let pair = StoredCredential {
        kind: CredentialKind::OAuth,
        merchant_id: "MERCHANT00001".into(),
        access_token: SecretString::from("access-1"),
        access_expires_at: Some(1_800_000_000),
        refresh_token: Some(SecretString::from("refresh-1")),
        refresh_expires_at: Some(1_900_000_000),
        previous_refresh_token: None,
        last_refresh_at: Some(1_700_000_000),
        needs_authorization: None,
        replaces_env_digest: None,
        recovery_pending: true,
    };
    db.save_credential(&pair, &cipher).await.unwrap();

    let other = store.instance().await;
    let read = other
        .load_credential(CredentialKind::OAuth, &cipher)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.access_token.expose_secret(), "access-1");
    assert_eq!(read.refresh_token.unwrap().expose_secret(), "refresh-1");
    assert_eq!(read.access_expires_at, Some(1_800_000_000));
    assert!(read.recovery_pending);
    assert!(
        other
            .load_credential(CredentialKind::ApiToken, &cipher)
            .await
            .unwrap()
            .is_none(),
        "the row holds an OAuth pair, not an API token"
    );
    let wrong_key = SecretCipher::from_secret_key(&SecretSlice::from(vec![8u8; 32]));
    assert!(
        other
            .load_credential(CredentialKind::OAuth, &wrong_key)
            .await
            .is_err(),
        "tokens are encrypted with the secret key"
    );
}

async fn bot_counts_are_added_n_at_a_time(store: TestStore) {
    let db = store.instance().await;
    db.store().add_bots("honeypot", 5).await.unwrap();
    db.store().add_bots("honeypot", 2).await.unwrap();
    db.store().add_bots("too_fast", 1).await.unwrap();

    let counts = store.instance().await.bot_counts().await.unwrap();
    assert_eq!(counts.get("honeypot"), Some(&7));
    assert_eq!(counts.get("too_fast"), Some(&1));
    assert_eq!(counts.get("bad_token"), None);
}

async fn bots_are_counted_in_memory_until_flushed(store: TestStore) {
    let db = store.instance().await;
    let other = store.instance().await;
    for _ in 0..3 {
        db.count_bot("honeypot");
    }
    db.count_bot("bad_token");

    // Shown at once by the instance that counted them, written by none yet.
    let counts = db.bot_counts().await.unwrap();
    assert_eq!(counts.get("honeypot"), Some(&3));
    assert_eq!(counts.get("bad_token"), Some(&1));
    assert!(other.bot_counts().await.unwrap().is_empty());

    db.flush_bot_counts().await.unwrap();
    db.count_bot("honeypot");
    db.flush_bot_counts().await.unwrap();
    db.flush_bot_counts().await.unwrap();

    for instance in [&db, &other] {
        let counts = instance.bot_counts().await.unwrap();
        assert_eq!(counts.get("honeypot"), Some(&4), "each counted once");
        assert_eq!(counts.get("bad_token"), Some(&1));
    }
}

async fn signing_out_moves_every_instance_to_a_new_session_generation(store: TestStore) {
    let here = store.instance().await;
    let there = store.instance().await;
    let first = here.admin_session_generation().await.unwrap();

    let next = here.end_admin_sessions().await.unwrap();

    assert_eq!(next, first + 1);
    assert_eq!(there.admin_session_generation().await.unwrap(), next);
    assert_eq!(there.end_admin_sessions().await.unwrap(), next + 1);
    drop((here, there));
    let reopened = store.instance().await;
    assert_eq!(reopened.admin_session_generation().await.unwrap(), next + 1);
}

async fn the_demo_stand_in_keeps_its_customers(store: TestStore) {
    let db = store.instance().await;
    let demo = db.store();
    demo.add_demo_customer(DemoCustomer {
        id: "DEMO000000001".into(),
        first_name: None,
        last_name: Some("Lovelace".into()),
        emails: vec!["Ada@Example.com".into()],
        phones: vec![],
        note: Some("web signup".into()),
        customer_since: Some(1_700_000_000_000),
    })
    .await
    .unwrap();

    assert!(
        demo.add_demo_phone("DEMO000000001", "+15555550100")
            .await
            .unwrap()
    );
    assert!(
        demo.set_demo_names("DEMO000000001", Some("Ada"), None)
            .await
            .unwrap()
    );
    assert!(
        !demo
            .add_demo_phone("NOSUCHCUSTOMR", "+15555550100")
            .await
            .unwrap()
    );

    let found = demo
        .demo_customers_with_email("ada@example.COM")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].first_name.as_deref(), Some("Ada"));
    assert_eq!(found[0].last_name.as_deref(), Some("Lovelace"));
    assert_eq!(found[0].phones, vec!["+15555550100".to_owned()]);
    assert!(
        demo.demo_customers_with_email("grace@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_demo_stand_ins_customers_are_erased_with_the_retention_cutoff(store: TestStore) {
    let db = store.instance().await;
    let demo = db.store();
    for (id, email, since) in [
        ("DEMO000000OLD", "old@example.com", 1_700_000_000_000),
        ("DEMO000000NEW", "new@example.com", 1_800_000_000_000),
    ] {
        demo.add_demo_customer(DemoCustomer {
            id: id.into(),
            first_name: Some("Ada".into()),
            last_name: None,
            emails: vec![email.into()],
            phones: vec!["+15555550100".into()],
            note: None,
            customer_since: Some(since),
        })
        .await
        .unwrap();
    }

    let erased = db.erase_delivered_before(1_750_000_000_000).await.unwrap();

    assert_eq!(erased, 1);
    let old = demo.demo_customers_with_email("old@example.com").await;
    assert!(old.unwrap().is_empty(), "kept past the cutoff");
    let new = demo.demo_customers_with_email("new@example.com").await;
    assert_eq!(new.unwrap().len(), 1);
}

/// PostgreSQL only: with SQLite one process owns the file, and the credential's own mutex
/// keeps refreshes apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_instance_at_a_time_holds_the_credential_lock() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let (a, b) = (store.instance().await, store.instance().await);
    let held = a.lock_credential(Duration::from_secs(10)).await.unwrap();
    assert!(held.still_held().await);

    assert!(
        b.lock_credential(Duration::from_millis(300)).await.is_err(),
        "b got the lock while a held it, or waited longer than asked"
    );
    let waiting =
        tokio::spawn(async move { b.lock_credential(Duration::from_secs(10)).await.map(drop) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b got the lock while a held it");

    drop(held);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("b gets the lock once a lets go")
        .unwrap()
        .unwrap();
}

/// PostgreSQL only: a lock whose session ended (a network failure, a failover) is known
/// to be lost, so no token is spent or stored under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_lock_whose_session_ended_is_known_to_be_lost() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let db = store.instance().await;
    let held = db.lock_credential(Duration::from_secs(10)).await.unwrap();
    assert!(held.still_held().await);

    let (admin, connection) =
        tokio_postgres::connect(store.url.as_ref().unwrap(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND database = (
                 SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await
        .unwrap();

    assert!(!held.still_held().await);
    let other = store.instance().await;
    assert!(other.lock_credential(Duration::from_secs(5)).await.is_ok());
}
