//! The delivery queue (`clover_signup::delivery::Queue`).

use std::collections::HashSet;
use std::time::Duration;

use clover_signup::admin::SubmissionState;
use clover_signup::consent::{Actor, ConsentEvent, ConsentKind, PersonKeys};
use clover_signup::delivery::DeliveryOutcome;
use clover_signup::storage::now_ms;

use crate::{LEASE, NOTHING, TestStore, store_one, submit};

on_both_stores!(
    a_claim_belongs_to_one_instance_until_its_lease_runs_out,
    a_heartbeat_keeps_claims_and_counts_the_instances_alive,
    an_instance_that_leaves_hands_its_claims_over_at_once,
    two_submissions_of_one_email_are_never_claimed_at_once,
    only_the_claims_of_deliveries_under_way_are_renewed,
    a_former_holder_cannot_undo_a_claim_taken_over,
    a_delivery_recorded_first_is_kept,
    a_delivery_ending_after_its_signup_was_erased_says_so,
    instances_claiming_together_claim_each_submission_once,
    results_are_recorded_and_counted,
    failed_submissions_can_be_retried,
    personal_data_is_erased_after_delivery_only,
    one_instance_at_a_time_has_the_turn_to_deliver,
    a_pause_clover_imposed_through_one_instance_reaches_the_others,
);

async fn a_claim_belongs_to_one_instance_until_its_lease_runs_out(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    store_one(&a).await;

    let claimed = a.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(b.queue().claim_due(10, LEASE).await.unwrap().is_empty());
    assert!(a.queue().claim_due(10, LEASE).await.unwrap().is_empty());

    // `a` stops answering: once its lease runs out, `b` takes the submission over.
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let taken_over = b.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].id, claimed[0].id);
    assert_eq!(taken_over[0].attempts, 2);
}

async fn a_heartbeat_keeps_claims_and_counts_the_instances_alive(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    store_one(&a).await;
    assert_eq!(a.queue().heartbeat(LEASE, NOTHING).await.unwrap(), 1);
    assert_eq!(b.queue().heartbeat(LEASE, NOTHING).await.unwrap(), 2);
    let running: Vec<_> = a
        .queue()
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
        a.queue().heartbeat(LEASE, &running).await.unwrap();
        assert!(b.queue().claim_due(10, LEASE).await.unwrap().is_empty());
        assert!(a.queue().claim_left(&running[0]).await.unwrap() > Some(LEASE / 2));
    }

    // `b` falls silent: after a lease it no longer counts.
    assert_eq!(a.queue().heartbeat(LEASE, &running).await.unwrap(), 1);
}

async fn an_instance_that_leaves_hands_its_claims_over_at_once(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    submit(&a, "ada@example.com").await;
    submit(&a, "grace@example.com").await;
    a.queue().heartbeat(LEASE, NOTHING).await.unwrap();
    b.queue().heartbeat(LEASE, NOTHING).await.unwrap();
    let claimed = a.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // One delivery was cut off mid-way: its request may still reach Clover.
    let cut_off = [claimed[0].id.clone()];
    a.queue().leave(&cut_off).await.unwrap();

    let at_once = b
        .queue()
        .claim_due(10, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(at_once.len(), 1);
    assert_eq!(at_once[0].id, claimed[1].id);
    let b_running = [at_once[0].id.clone()];
    assert_eq!(
        b.queue()
            .heartbeat(Duration::from_secs(600), &b_running)
            .await
            .unwrap(),
        1,
        "a no longer counts"
    );
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let later = b.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(later.len(), 1, "the cut-off one, once its lease ran out");
    assert_eq!(later[0].id, claimed[0].id);
}

async fn two_submissions_of_one_email_are_never_claimed_at_once(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let ada = submit(&a, "ada@example.com").await.id().clone();
    let ada_again = submit(&a, "Ada@Example.com").await.id().clone();
    submit(&a, "grace@example.com").await;

    let first = a.queue().claim_due(10, LEASE).await.unwrap();
    let emails: Vec<_> = first.iter().map(|d| d.email.to_lowercase()).collect();
    assert_eq!(first.len(), 2, "{emails:?}");
    assert!(b.queue().claim_due(10, LEASE).await.unwrap().is_empty());

    assert!(
        first.iter().any(|d| d.id == ada),
        "first come, first served"
    );
    a.queue()
        .mark_delivered(&ada, "CUSTOMER00001", DeliveryOutcome::Created)
        .await
        .unwrap();
    let second = b.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, ada_again);
}

async fn only_the_claims_of_deliveries_under_way_are_renewed(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    submit(&a, "ada@example.com").await;
    submit(&a, "grace@example.com").await;
    let claimed = a.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // The first delivery is still running; the second ended without a result written,
    // and a request of its may still reach Clover: its claim runs out, not released.
    let still_running = [claimed[0].id.clone()];
    tokio::time::sleep(LEASE / 2).await;
    a.queue().heartbeat(LEASE, &still_running).await.unwrap();
    assert!(b.queue().claim_due(10, LEASE).await.unwrap().is_empty());
    tokio::time::sleep(LEASE / 2 + Duration::from_millis(100)).await;
    a.queue().heartbeat(LEASE, &still_running).await.unwrap();

    let ran_out = b.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(ran_out.len(), 1);
    assert_eq!(ran_out[0].id, claimed[1].id);
    assert!(a.queue().claim_left(&claimed[0].id).await.unwrap() > Some(LEASE / 2));
    assert_eq!(a.queue().claim_left(&claimed[1].id).await.unwrap(), None);
}

async fn a_former_holder_cannot_undo_a_claim_taken_over(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let id = store_one(&a).await;
    a.queue().claim_due(10, LEASE).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    assert_eq!(
        b.queue()
            .claim_due(10, Duration::from_secs(600))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(a.queue().claim_left(&id).await.unwrap(), None);

    // `a` comes back: neither its retry nor its heartbeat frees the claim, and Clover's
    // refusal of its attempt does not fail the submission `b` is delivering.
    a.queue().reschedule(&id, 0, "timed out").await.unwrap();
    a.queue().heartbeat(LEASE, NOTHING).await.unwrap();
    a.queue().mark_failed(&id, "Clover said 400").await.unwrap();
    assert!(a.queue().claim_due(10, LEASE).await.unwrap().is_empty());
    assert!(b.queue().claim_left(&id).await.unwrap() > Some(Duration::from_secs(60)));

    b.queue()
        .mark_delivered(&id, "CUSTOMER00002", DeliveryOutcome::Created)
        .await
        .unwrap();
    let recent = b.statistics().recent_submissions(1).await.unwrap();
    assert_eq!(recent[0].state, SubmissionState::Delivered);
}

async fn a_delivery_ending_after_its_signup_was_erased_says_so(store: TestStore) {
    let db = store.instance().await;
    let erased = submit(&db, "erased@example.com").await.id().clone();
    let kept = submit(&db, "kept@example.com").await.id().clone();
    let refused = submit(&db, "refused@example.com").await.id().clone();
    assert_eq!(db.queue().claim_due(10, LEASE).await.unwrap().len(), 3);
    // The merchant erases the person while their delivery is on its way to Clover.
    let person = PersonKeys::new(None).of("erased@example.com");
    let event = ConsentEvent::now(person.clone(), ConsentKind::Erased, Actor::Merchant);
    db.consent()
        .erase(&person, "erased@example.com", event)
        .await
        .unwrap();

    let outcome = DeliveryOutcome::Created;
    let queue = db.queue();
    assert!(!queue.mark_delivered(&erased, "C1", outcome).await.unwrap());
    assert!(queue.mark_delivered(&kept, "C2", outcome).await.unwrap());
    assert!(
        queue.mark_delivered(&kept, "C2", outcome).await.unwrap(),
        "recorded already, and still kept"
    );
    assert!(!queue.mark_failed(&erased, "Clover said 400").await.unwrap());
    assert!(
        queue
            .mark_failed(&refused, "Clover said 400")
            .await
            .unwrap()
    );
}

async fn a_delivery_recorded_first_is_kept(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    let id = store_one(&a).await;
    a.queue().claim_due(10, LEASE).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    b.queue().claim_due(10, LEASE).await.unwrap();

    // Both reach Clover; `b` finds the customer `a` created and links to it.
    a.queue()
        .mark_delivered(&id, "CUSTOMER00001", DeliveryOutcome::Created)
        .await
        .unwrap();
    b.queue()
        .mark_delivered(&id, "CUSTOMER00001", DeliveryOutcome::Linked)
        .await
        .unwrap();
    b.queue().mark_failed(&id, "late").await.unwrap();

    let recent = a.statistics().recent_submissions(1).await.unwrap();
    assert_eq!(recent[0].state, SubmissionState::Delivered);
    assert_eq!(recent[0].outcome, Some(DeliveryOutcome::Created));
    assert_eq!(a.statistics().queue_counts().await.unwrap().pending, 0);
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
                let claimed = db
                    .queue()
                    .claim_due(7, Duration::from_secs(600))
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for delivery in claimed {
                    db.queue()
                        .mark_delivered(&delivery.id, "C", DeliveryOutcome::Created)
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
    let claimed = db.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 3);

    db.queue()
        .mark_delivered(&claimed[0].id, "CUSTOMER00001", DeliveryOutcome::Linked)
        .await
        .unwrap();
    db.queue()
        .mark_failed(&claimed[1].id, "Clover said 400")
        .await
        .unwrap();
    let later = now_ms() + 60_000;
    db.queue()
        .reschedule(&claimed[2].id, later, "Clover said 503")
        .await
        .unwrap();

    let counts = db.statistics().queue_counts().await.unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.failed), (1, 1, 1));
    assert!(
        db.queue().claim_due(10, LEASE).await.unwrap().is_empty(),
        "not due yet"
    );
    let due = db.queue().next_due_at_ms().await.unwrap().unwrap();
    assert!((later..later + 1).contains(&due), "{due} vs {later}");

    let recent = db.statistics().recent_submissions(10).await.unwrap();
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

    assert_eq!(db.queue().make_all_due().await.unwrap(), 1);
    assert_eq!(db.queue().claim_due(10, LEASE).await.unwrap().len(), 1);
}

async fn failed_submissions_can_be_retried(store: TestStore) {
    let db = store.instance().await;
    let id = store_one(&db).await;
    db.queue().claim_due(10, LEASE).await.unwrap();
    db.queue().mark_failed(&id, "rejected").await.unwrap();

    assert_eq!(db.queue().retry_failed().await.unwrap(), 1);

    let again = db.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

async fn personal_data_is_erased_after_delivery_only(store: TestStore) {
    let db = store.instance().await;
    let delivered = submit(&db, "gone@example.com").await.id().clone();
    let pending = submit(&db, "kept@example.com").await.id().clone();
    let claimed = db.queue().claim_due(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    db.queue()
        .mark_delivered(&delivered, "C1", DeliveryOutcome::Created)
        .await
        .unwrap();

    let erased = db
        .queue()
        .erase_delivered_before(now_ms() + 1)
        .await
        .unwrap();

    assert_eq!(erased, 1);
    let recent = db.statistics().recent_submissions(10).await.unwrap();
    let email_of = |id| recent.iter().find(|s| &s.id == id).unwrap().email.clone();
    assert_eq!(email_of(&delivered), "");
    assert_eq!(email_of(&pending), "kept@example.com");
}

async fn one_instance_at_a_time_has_the_turn_to_deliver(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    assert!(a.queue().take_turn(LEASE, None).await.unwrap().ours);
    assert!(!b.queue().take_turn(LEASE, None).await.unwrap().ours);

    // Renewed every third of the lease, for more than twice its length.
    for _ in 0..7 {
        tokio::time::sleep(LEASE / 3).await;
        assert!(a.queue().take_turn(LEASE, None).await.unwrap().ours);
        assert!(!b.queue().take_turn(LEASE, None).await.unwrap().ours);
    }

    // `a` falls silent: once its turn runs out, `b` takes it, and `a` must wait.
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    assert!(b.queue().take_turn(LEASE, None).await.unwrap().ours);
    assert!(!a.queue().take_turn(LEASE, None).await.unwrap().ours);

    // `b` stops: `a` takes the turn at once, not a lease later.
    b.queue().leave(NOTHING).await.unwrap();
    assert!(a.queue().take_turn(LEASE, None).await.unwrap().ours);
}

async fn a_pause_clover_imposed_through_one_instance_reaches_the_others(store: TestStore) {
    let (a, b) = (store.instance().await, store.instance().await);
    assert_eq!(
        a.queue()
            .take_turn(LEASE, None)
            .await
            .unwrap()
            .clover_paused_until,
        None
    );
    let until = now_ms() + 5_000;
    let told = b.queue().take_turn(LEASE, Some(until)).await.unwrap();
    assert_eq!(told.clover_paused_until, Some(until));
    assert!(!told.ours, "passing a pause on does not take the turn");

    let heard = a.queue().take_turn(LEASE, None).await.unwrap();
    assert_eq!(heard.clover_paused_until, Some(until));
    assert!(heard.ours);
    // An earlier end, told later, does not cut the pause short.
    let earlier = a
        .queue()
        .take_turn(LEASE, Some(until - 1_000))
        .await
        .unwrap();
    assert_eq!(earlier.clover_paused_until, Some(until));

    // The holder stops during the pause: the next holder still keeps it.
    a.queue().leave(&[]).await.unwrap();
    let next = b.queue().take_turn(LEASE, None).await.unwrap();
    assert!(next.ours, "a turn given up is taken at once");
    assert_eq!(next.clover_paused_until, Some(until));
}
