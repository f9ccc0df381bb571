use std::time::Duration;

use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::{Endpoint, FakeClover, NewFakeCustomer};

const DELIVERY: Duration = Duration::from_secs(10);

/// An existing customer with Ada's email (in other case), a first name, no last name and
/// no phone.
fn seed_existing(fake: &FakeClover) -> String {
    fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        last_name: None,
        emails: vec!["ADA@example.com".into()],
        phones: vec![],
        note: Some("Regular since 2019".into()),
    })
}

async fn deliver_with_policy(fake: &FakeClover, policy: &str) -> serde_json::Value {
    let mut config = Config::token(fake);
    config.set("DUPLICATE_POLICY", policy);
    let app = spawn_app(&config).await;
    let mut form = valid_form();
    form.retain(|(name, _)| *name != "first_name");
    form.push(("first_name", "Augusta"));
    app.post_form(&form).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn update_adds_what_the_customer_lacks_and_overwrites_nothing() {
    let fake = FakeClover::start().await;
    let existing = seed_existing(&fake);

    let status = deliver_with_policy(&fake, "update").await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1, "no second customer");
    let customer = &customers[0];
    assert_eq!(customer.id, existing);
    assert_eq!(
        customer.first_name.as_deref(),
        Some("Ada"),
        "a name was overwritten"
    );
    assert_eq!(
        customer.last_name.as_deref(),
        Some("Lovelace"),
        "the empty name was not filled"
    );
    assert_eq!(customer.phones, ["5551234567"]);
    assert_eq!(customer.emails, ["ADA@example.com"]);
    assert_eq!(customer.note.as_deref(), Some("Regular since 2019"));
    assert_eq!(status["recent"][0]["outcome"], "updated");
    assert_eq!(status["recent"][0]["clover_customer_id"], existing.as_str());
    assert!(fake.requests_to(Endpoint::CreateCustomer).is_empty());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_links_the_submission_and_changes_nothing() {
    let fake = FakeClover::start().await;
    let existing = seed_existing(&fake);

    let status = deliver_with_policy(&fake, "skip").await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    assert!(customers[0].phones.is_empty());
    assert!(customers[0].last_name.is_none());
    assert_eq!(status["recent"][0]["outcome"], "linked");
    assert_eq!(status["recent"][0]["clover_customer_id"], existing.as_str());
    let writes = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(writes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_makes_a_new_customer_despite_the_match() {
    let fake = FakeClover::start().await;
    let existing = seed_existing(&fake);

    let status = deliver_with_policy(&fake, "create").await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 2);
    let created = status["recent"][0]["clover_customer_id"].as_str().unwrap();
    assert_ne!(created, existing);
    assert_eq!(status["recent"][0]["outcome"], "created");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_signups_with_one_email_delivered_together_make_one_customer() {
    let fake = FakeClover::start().await;
    // Slow answers make the two deliveries overlap if the worker allowed it.
    fake.set_latency(Duration::from_millis(300));
    let app = spawn_app(&Config::token(&fake)).await;
    for (first_name, email) in [("Ada", "ada@example.com"), ("Ada", "ADA@Example.com")] {
        let response = app
            .post_json(&serde_json::json!({
                "first_name": first_name, "last_name": "Lovelace", "email": email,
            }))
            .await;
        assert_eq!(response.status(), 202);
    }

    let status = app.wait_for_delivered(2, DELIVERY).await;

    assert_eq!(
        fake.customers().len(),
        1,
        "one visitor became two customers"
    );
    let outcomes: Vec<_> = status["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert!(outcomes.contains(&"created".to_owned()), "{outcomes:?}");
    app.stop().await;
}
