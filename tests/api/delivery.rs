use std::time::Duration;

use serde_json::json;

use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::{self, Endpoint, FakeClover};

const DELIVERY: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn clover_receives_exactly_the_documented_customer_json() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    // First a search by email, with the contacts expanded.
    let searches = fake.requests_to(Endpoint::SearchCustomers);
    assert_eq!(searches.len(), 1);
    let query = searches[0].query_pairs();
    assert!(query.contains(&("filter".into(), "emailAddress=ada@example.com".into())));
    assert!(
        query.iter().any(|(k, v)| k == "expand"
            && v.contains("emailAddresses")
            && v.contains("phoneNumbers"))
    );
    // Then one create, with nested contacts and the consent note.
    let creates = fake.requests_to(Endpoint::CreateCustomer);
    assert_eq!(creates.len(), 1);
    let create = &creates[0];
    assert_eq!(
        create.header("authorization"),
        Some(format!("Bearer {}", fake_clover::API_TOKEN).as_str())
    );
    assert!(
        create
            .header("user-agent")
            .unwrap()
            .starts_with("clover-signup/")
    );
    assert_eq!(create.header("content-type"), Some("application/json"));
    let body = create.body.clone().unwrap();
    let submission = status["recent"][0]["id"].as_str().unwrap();
    let note = body["metadata"]["note"].as_str().unwrap();
    assert!(note.starts_with("Signed up through the web signup form on "));
    assert!(note.contains(
        "Marketing consent: yes (unverified: whoever typed this email address did not prove it is \
         theirs) (\"Yes, send me news and offers by email. I can unsubscribe at any time.\")"
    ));
    assert!(note.ends_with(&format!("ref {submission}")));
    let customer_since = body["customerSince"].as_i64().unwrap();
    assert!(
        customer_since > 1_700_000_000_000,
        "customerSince is in milliseconds"
    );
    assert_eq!(
        body,
        json!({
            "firstName": "Ada",
            "lastName": "Lovelace",
            "emailAddresses": [{"emailAddress": "ada@example.com"}],
            "phoneNumbers": [{"phoneNumber": "5551234567"}],
            "metadata": {"note": note},
            "customerSince": customer_since,
        })
    );
    // The customer id is kept with the submission.
    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(
        status["recent"][0]["clover_customer_id"],
        customers[0].id.as_str()
    );
    assert_eq!(status["recent"][0]["outcome"], "created");
    assert_eq!(status["recent"][0]["email"], "a***@example.com");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn declining_marketing_is_recorded_in_the_note() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::token(&fake)).await;
    let mut form = valid_form();
    form.retain(|(name, _)| *name != "marketing_consent");

    app.post_form(&form).await;
    app.wait_for_delivered(1, DELIVERY).await;

    let note = fake.customers()[0].note.clone().unwrap();
    assert!(note.contains("Marketing consent: no"), "{note}");
    app.stop().await;
}

#[tokio::test]
async fn demo_mode_delivers_end_to_end_to_the_stand_in() {
    let app = spawn_app(&Config::demo()).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    assert_eq!(status["mode"], "demo");
    assert_eq!(status["auth"]["state"], "ok");
    let recent = &status["recent"][0];
    assert_eq!(recent["state"], "delivered");
    assert_eq!(recent["outcome"], "created");
    assert_eq!(recent["clover_customer_id"].as_str().unwrap().len(), 13);
    let admin = app.get("/admin").await.text().await.unwrap();
    assert!(admin.contains("Nothing reaches Clover"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submissions_pending_at_a_stop_are_delivered_after_the_restart() {
    let fake = FakeClover::start().await;
    fake.set_accepted_token("not-yet");
    let config = Config::token(&fake);
    let app = spawn_app(&config).await;
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let mut form = valid_form();
        form.retain(|(name, _)| *name != "email");
        form.push(("email", email));
        assert_eq!(app.post_form(&form).await.status(), 303);
    }
    app.stop().await;
    assert!(fake.customers().is_empty());

    fake.set_accepted_token(fake_clover::API_TOKEN);
    let restarted = spawn_app(&config).await;

    restarted.wait_for_delivered(3, DELIVERY).await;
    assert_eq!(fake.customers().len(), 3);
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_signups_stays_within_clovers_rate_and_concurrency_limits() {
    let fake = FakeClover::start().await;
    // Slow answers make requests overlap, so the in-flight limit is really exercised.
    fake.set_latency(Duration::from_millis(150));
    let app = spawn_app(&Config::token(&fake)).await;

    for n in 0..40 {
        let response = app
            .post_json(&json!({
                "first_name": "Visitor", "last_name": format!("Number {n}"),
                "email": format!("visitor{n}@example.com"),
            }))
            .await;
        assert_eq!(response.status(), 202);
    }
    app.wait_for_delivered(40, Duration::from_secs(30)).await;

    assert_eq!(fake.customers().len(), 40);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_of_delivered_submissions_is_erased_after_the_retention_period() {
    let fake = FakeClover::start().await;
    let config = Config::token(&fake);
    let app = spawn_app(&config).await;
    // Without marketing consent: a consent's evidence has a retention of its own
    // (`consent::a_consents_evidence_stays_while_it_stands_and_goes_after_its_withdrawal`).
    app.post_form(&without_consent()).await;
    app.wait_for_delivered(1, DELIVERY).await;
    // A second visitor while Clover refuses the token: pending, so kept whole.
    fake.set_accepted_token("revoked");
    let mut pending = without_consent();
    pending.retain(|(name, _)| *name != "email");
    pending.push(("email", "grace.hopper@example.com"));
    app.post_form(&pending).await;
    app.stop().await;

    let mut expired = config.clone();
    expired.set("DATA_RETENTION_DAYS", "0");
    let restarted = spawn_app(&expired).await;
    let mut status = restarted.status().await;
    for _ in 0..100 {
        if status["recent"][1]["email"] == "(erased)" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = restarted.status().await;
    }
    restarted.stop().await;

    let delivered = &status["recent"][1];
    assert_eq!(delivered["email"], "(erased)");
    assert_eq!(delivered["state"], "delivered");
    assert_eq!(
        delivered["clover_customer_id"],
        fake.customers()[0].id.as_str()
    );
    assert_eq!(
        status["recent"][0]["email"], "g***@example.com",
        "pending data was erased"
    );
    let bytes = crate::helpers::stored_bytes(&config).await;
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !contains("ada@example.com"),
        "the erased email is still in the file"
    );
    assert!(contains("grace.hopper@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_stand_ins_customers_are_erased_after_the_retention_period() {
    let config = Config::demo();
    let app = spawn_app(&config).await;
    app.post_form(&without_consent()).await;
    app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;

    let mut expired = config.clone();
    expired.set("DATA_RETENTION_DAYS", "0");
    let restarted = spawn_app(&expired).await;
    let mut status = restarted.status().await;
    for _ in 0..100 {
        if status["recent"][0]["email"] == "(erased)" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = restarted.status().await;
    }
    restarted.stop().await;

    assert_eq!(status["recent"][0]["email"], "(erased)");
    // The stand-in kept the customer it made of the signup: it goes too.
    let bytes = crate::helpers::stored_bytes(&config).await;
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for personal in ["ada@example.com", "Lovelace", "5551234567"] {
        assert!(!contains(personal), "{personal} is still in the database");
    }
}

/// A valid signup without marketing consent.
fn without_consent() -> Vec<(&'static str, &'static str)> {
    let mut form = valid_form();
    form.retain(|(name, _)| *name != "marketing_consent");
    form
}
