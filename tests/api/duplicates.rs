use std::time::Duration;

use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::{Endpoint, FakeClover, NewFakeCustomer};

const DELIVERY: Duration = Duration::from_secs(10);

/// How the consent line says that nobody proved they own the address.
const UNVERIFIED: &str = "unverified: whoever typed this email address did not prove it is theirs";

/// An existing customer with Ada's email, a first name, no last name, no phone and a note
/// of the merchant's.
fn seed_existing(fake: &FakeClover) -> String {
    fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        last_name: None,
        emails: vec!["ada@example.com".into()],
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
    assert_eq!(customer.emails, ["ada@example.com"]);
    assert_eq!(customer.note.as_deref(), Some("Regular since 2019"));
    assert_eq!(status["recent"][0]["outcome"], "updated");
    assert_eq!(status["recent"][0]["clover_customer_id"], existing.as_str());
    assert!(fake.requests_to(Endpoint::CreateCustomer).is_empty());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_a_stranger_who_knows_an_address_changes_nothing_of_its_customer() {
    let fake = FakeClover::start().await;
    let existing = seed_existing(&fake);
    // No DUPLICATE_POLICY: anyone can type a real customer's address into the form.
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    let customer = &customers[0];
    assert_eq!(customer.id, existing);
    assert!(customer.phones.is_empty(), "the visitor's phone was added");
    assert!(customer.last_name.is_none(), "the visitor's name was added");
    assert_eq!(customer.note.as_deref(), Some("Regular since 2019"));
    assert_eq!(status["recent"][0]["outcome"], "linked");
    assert_eq!(status["recent"][0]["clover_customer_id"], existing.as_str());
    let writes = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(writes, 0, "an existing customer was written to");
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

/// Delivers one signup typed with `email`, linking to a customer found.
async fn deliver_email(fake: &FakeClover, email: &str) -> serde_json::Value {
    let mut config = Config::token(fake);
    config.set("DUPLICATE_POLICY", "skip");
    let app = spawn_app(&config).await;
    let response = app
        .post_json(&serde_json::json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": email,
            "marketing_consent": true,
        }))
        .await;
    assert_eq!(response.status(), 202);
    let status = app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;
    status
}

/// A customer typed in at the register, in the case the clerk typed.
fn seed_register_customer(fake: &FakeClover, email: &str, note: Option<&str>) -> String {
    fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        emails: vec![email.into()],
        note: note.map(str::to_owned),
        ..NewFakeCustomer::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_typed_as_at_the_register_links_the_registers_customer() {
    let fake = FakeClover::start().await;
    fake.set_email_filter_exact(true);
    let register = seed_register_customer(&fake, "Ada.Lovelace@Example.com", Some("VIP"));

    let status = deliver_email(&fake, "Ada.Lovelace@Example.com").await;

    assert_eq!(status["recent"][0]["outcome"], "linked");
    assert_eq!(status["recent"][0]["clover_customer_id"], register.as_str());
    assert_eq!(
        fake.customers().len(),
        1,
        "the register's customer was duplicated"
    );
    let search = &fake.requests_to(Endpoint::SearchCustomers)[0];
    assert!(
        search.query_pairs().contains(&(
            "filter".into(),
            "emailAddress=Ada.Lovelace@Example.com".into()
        )),
        "searched as typed first: {:?}",
        search.query_pairs()
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_typed_in_capitals_finds_the_lower_cased_customer_and_new_ones_keep_the_case() {
    let fake = FakeClover::start().await;
    fake.set_email_filter_exact(true);
    let register = seed_register_customer(&fake, "ada@example.com", Some("VIP"));

    let status = deliver_email(&fake, "Ada@Example.com").await;

    assert_eq!(status["recent"][0]["clover_customer_id"], register.as_str());
    let filters: Vec<String> = fake
        .requests_to(Endpoint::SearchCustomers)
        .iter()
        .flat_map(|r| r.query_pairs())
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        filters,
        [
            "emailAddress=Ada@Example.com",
            "emailAddress=ada@example.com"
        ]
    );

    // Someone new is created with the address as they typed it.
    let status = deliver_email(&fake, "Grace.Hopper@Example.com").await;
    assert_eq!(status["recent"][0]["outcome"], "created");
    let created = fake
        .customers()
        .into_iter()
        .find(|c| c.id.as_str() == status["recent"][0]["clover_customer_id"])
        .unwrap();
    assert_eq!(created.emails, ["Grace.Hopper@Example.com"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_the_merchant_deleted_is_never_linked_or_updated() {
    let fake = FakeClover::start().await;
    fake.set_soft_deletes(true);
    let deleted = seed_register_customer(&fake, "ada@example.com", None);
    fake.delete_customer(&deleted);

    let mut config = Config::token(&fake);
    config.set("DUPLICATE_POLICY", "update");
    let app = spawn_app(&config).await;
    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;

    assert_eq!(status["recent"][0]["outcome"], "created");
    assert_ne!(status["recent"][0]["clover_customer_id"], deleted.as_str());
    assert_eq!(fake.customers().len(), 2);
    let touched = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains(&deleted))
        .count();
    assert_eq!(touched, 0, "the deleted customer was written to");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_a_linked_customer_is_not_written_to_and_a_merchants_note_never() {
    // `skip`: whoever typed the address has not proven it is theirs, so not even the
    // consent line reaches the customer; it stays in this service's record.
    let fake = FakeClover::start().await;
    let bare = seed_register_customer(&fake, "ada@example.com", None);

    let status = deliver_email(&fake, "ada@example.com").await;

    assert_eq!(status["recent"][0]["outcome"], "linked");
    let customer = fake.customers().into_iter().find(|c| c.id == bare).unwrap();
    assert_eq!(customer.note, None);
    assert!(fake.requests_to(Endpoint::UpdateMetadata).is_empty());

    // `update`, and a customer with a note of the merchant's: not a word of it is touched.
    let fake = FakeClover::start().await;
    let noted = seed_register_customer(&fake, "ada@example.com", Some("Allergic to nuts"));
    deliver_with_policy(&fake, "update").await;
    let customer = fake
        .customers()
        .into_iter()
        .find(|c| c.id == noted)
        .unwrap();
    assert_eq!(customer.note.as_deref(), Some("Allergic to nuts"));
    assert!(fake.requests_to(Endpoint::UpdateMetadata).is_empty());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_updated_customer_without_a_note_gets_the_consent_line_with_the_rest() {
    let fake = FakeClover::start().await;
    let bare = seed_register_customer(&fake, "ada@example.com", None);

    let status = deliver_with_policy(&fake, "update").await;

    assert_eq!(status["recent"][0]["outcome"], "updated");
    let customer = fake.customers().into_iter().find(|c| c.id == bare).unwrap();
    assert_eq!(customer.last_name.as_deref(), Some("Lovelace"));
    let note = customer.note.expect("a consent note");
    assert!(note.contains("Marketing consent: yes"), "{note}");
    // Whoever typed the address did not prove it is theirs, and the line says so.
    assert!(note.contains(UNVERIFIED), "{note}");
    assert!(!note.contains("ref "), "{note}");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}
