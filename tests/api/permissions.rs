//! The permissions a merchant grants, as Clover answers them: a missing one is a `401`
//! like a bad token (or a `403` for expansions), and Europe's field-level permissions
//! hide email addresses. Setting up needs nothing delivery does not need, and a missing
//! write permission parks delivery instead of failing signups.

use std::time::Duration;

use serde_json::Value;

use crate::admin::replace_token;
use crate::helpers::{Config, TEST_ADMIN_TOKEN, TestApp, spawn_app, valid_form};
use crate::oauth::{approved_callback, connect_browser};
use crate::support::fake_clover::{
    self, CUSTOMERS_R, CUSTOMERS_W, Endpoint, FakeClover, Fault, NewFakeCustomer,
};

const DELIVERY: Duration = Duration::from_secs(15);

fn token_mode_without_a_token(fake: &FakeClover) -> Config {
    let mut config = Config::token(fake);
    config.unset("CLOVER_MERCHANT_ID").unset("CLOVER_API_TOKEN");
    config
}

/// Every GET the service sent to check a credential or deliver: none needs Merchant read.
fn assert_customers_search_was_the_check(fake: &FakeClover) {
    let search = fake
        .requests_to(Endpoint::SearchCustomers)
        .into_iter()
        .find(|r| {
            r.query_pairs()
                .iter()
                .any(|(k, v)| k == "limit" && v == "1")
        })
        .expect("a one-customer search checked the credential");
    let pairs = search.query_pairs();
    assert!(
        pairs
            .iter()
            .any(|(k, v)| k == "expand" && v == "emailAddresses,phoneNumbers,metadata"),
        "the check asks for what delivery reads: {pairs:?}"
    );
}

/// Waits until `/admin/status.json` says delivery is parked on `permission`.
async fn wait_for_missing_permission(app: &TestApp, permission: &str) -> Value {
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        let status = app.status().await;
        if status["auth"]["missing_permission"] == permission {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never parked on {permission}: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_in_the_environment_with_customers_read_and_write_only_delivers() {
    let fake = FakeClover::start().await;
    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R, CUSTOMERS_W]);
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    assert_eq!(status["auth"]["state"], "ok");
    assert!(status["auth"]["missing_permission"].is_null());
    assert!(fake.requests_to(Endpoint::GetMerchant).is_empty());
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_entered_on_the_admin_page_with_customers_read_and_write_only_is_kept() {
    let fake = FakeClover::start().await;
    fake.add_api_token("customers-only", &[CUSTOMERS_R, CUSTOMERS_W]);
    fake.add_api_token("merchant-only", &[fake_clover::MERCHANT_R]);
    let app = spawn_app(&token_mode_without_a_token(&fake)).await;

    let refused = replace_token(&app, "merchant-only").await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("missing the Customers permission")
    );

    let kept = replace_token(&app, "customers-only").await;
    assert_eq!(kept.status(), 303);
    assert_customers_search_was_the_check(&fake);
    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_app_with_customers_read_and_write_only_connects_and_delivers() {
    let fake = FakeClover::start().await;
    fake.set_app_permissions(&[CUSTOMERS_R, CUSTOMERS_W]);
    let app = spawn_app(&Config::oauth(&fake, true)).await;

    connect_browser(&app.client, &app.address).await;
    assert_customers_search_was_the_check(&fake);
    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    assert_eq!(status["auth"]["state"], "ok");
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merchants_name_is_shown_when_the_app_may_read_it() {
    let fake = FakeClover::start().await;
    fake.set_app_permissions(&[fake_clover::MERCHANT_R, CUSTOMERS_R, CUSTOMERS_W]);
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    let callback = approved_callback(&app).await;
    let page = app
        .client
        .get(&callback)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("Fake Merchant ({})", fake_clover::MERCHANT_ID)),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_token_parks_delivery_and_resumes_by_itself_once_write_is_granted() {
    let fake = FakeClover::start().await;
    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R]);
    let mut config = Config::token(&fake);
    config.set("AUTH_RECHECK_SECONDS", "2");
    let app = spawn_app(&config).await;

    app.post_form(&valid_form()).await;
    let status = wait_for_missing_permission(&app, "customers_write").await;

    assert_eq!(status["auth"]["state"], "failing");
    let reason = status["auth"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("can read customers but not create them: grant Customers write"),
        "{reason}"
    );
    assert_eq!(status["queue"]["failed"], 0);
    assert_eq!(status["queue"]["pending"], 1);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["reason"], "clover_unavailable");
    assert!(!ready.to_string().contains("Customers write"), "{ready}");
    let page = app
        .client
        .get(app.url("/admin"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("grant Customers write"), "{page}");

    // Parked: one probe per recheck interval, not a stream of requests.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let creates = fake.requests_to(Endpoint::CreateCustomer);
    assert!(
        (2..=4).contains(&creates.len()),
        "{} creates in about 5 s",
        creates.len()
    );
    for pair in creates.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(1900));
    }
    assert_eq!(app.status().await["queue"]["failed"], 0);

    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R, CUSTOMERS_W]);
    app.wait_for_delivered(1, DELIVERY).await;
    let status = app.status().await;
    assert_eq!(status["auth"]["state"], "ok");
    assert!(status["auth"]["missing_permission"].is_null());
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(fake.customers().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_for_expandable_fields_parks_delivery_instead_of_failing_the_signup() {
    let fake = FakeClover::start().await;
    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::Status {
            status: 403,
            retry_after: None,
            body: r#"{"message":"Invalid permissions for expandable fields."}"#.into(),
        },
    );
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = wait_for_missing_permission(&app, "customers_write").await;
    assert_eq!(status["queue"]["failed"], 0);

    // The next probe meets Clover granting it again.
    let status = app.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(status["queue"]["failed"], 0);
    assert_eq!(fake.customers().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_app_without_customers_write_parks_without_spending_refresh_tokens() {
    let fake = FakeClover::start().await;
    fake.set_app_permissions(&[CUSTOMERS_R]);
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    connect_browser(&app.client, &app.address).await;

    app.post_form(&valid_form()).await;
    wait_for_missing_permission(&app, "customers_write").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.oauth_stats().refreshes,
        0,
        "a refresh cannot grant a permission"
    );
    assert_eq!(app.status().await["queue"]["failed"], 0);

    // Clover needs a new authorization for new permissions: the merchant reconnects.
    fake.set_app_permissions(&[CUSTOMERS_R, CUSTOMERS_W]);
    connect_browser(&app.client, &app.address).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(status["auth"]["state"], "ok");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

/// Europe: without the field-level permission, customers come back without their email
/// addresses, so nobody could be recognised.
fn europe_without_email_read(fake: &FakeClover, token: &str) {
    fake.set_field_permissions(true);
    fake.set_api_token_permissions(
        token,
        &[
            CUSTOMERS_R,
            CUSTOMERS_W,
            fake_clover::CUSTOMERS_EMAIL_W,
            fake_clover::CUSTOMERS_PHONE_R,
            fake_clover::CUSTOMERS_PHONE_W,
        ],
    );
    fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        emails: vec!["ada@example.com".into()],
        ..NewFakeCustomer::default()
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_cannot_read_email_addresses_is_refused_at_setup() {
    let fake = FakeClover::start().await;
    fake.add_api_token("eu-token", &[]);
    europe_without_email_read(&fake, "eu-token");
    let app = spawn_app(&token_mode_without_a_token(&fake)).await;

    let refused = replace_token(&app, "eu-token").await;

    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("cannot read customers&#39; email addresses")
            || page.contains("cannot read customers' email addresses"),
        "{page}"
    );
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_email_addresses_park_delivery_instead_of_making_duplicates() {
    let fake = FakeClover::start().await;
    europe_without_email_read(&fake, fake_clover::API_TOKEN);
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = wait_for_missing_permission(&app, "customer_email_addresses_read").await;

    assert_eq!(status["queue"]["pending"], 1);
    assert_eq!(status["queue"]["failed"], 0);
    assert!(fake.requests_to(Endpoint::CreateCustomer).is_empty());
    assert_eq!(fake.customers().len(), 1, "no duplicate of Ada was made");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_writes_nothing_does_not_lift_the_park() {
    let fake = FakeClover::start().await;
    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R]);
    // Grace is already a customer with a note: her signup links and writes nothing.
    fake.seed_customer(NewFakeCustomer {
        first_name: Some("Grace".into()),
        emails: vec!["grace@example.com".into()],
        note: Some("Regular".into()),
        ..NewFakeCustomer::default()
    });
    let mut config = Config::token(&fake);
    config.set("DUPLICATE_POLICY", "skip");
    let app = spawn_app(&config).await;

    for email in ["ada@example.com", "grace@example.com"] {
        let response = app
            .post_json(&serde_json::json!({
                "first_name": "Visitor", "last_name": "Park", "email": email,
            }))
            .await;
        assert_eq!(response.status(), 202);
    }
    wait_for_missing_permission(&app, "customers_write").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < deadline {
        let status = app.status().await;
        assert_eq!(
            status["auth"]["missing_permission"], "customers_write",
            "the park was lifted by a delivery that proved nothing: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = app.status().await;
    assert_eq!(status["queue"]["delivered"], 1, "Grace's signup was linked");
    assert_eq!(status["queue"]["pending"], 1);

    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R, CUSTOMERS_W]);
    app.wait_for_delivered(2, DELIVERY).await;
    assert!(app.status().await["auth"]["missing_permission"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_clover_rate_limits_is_not_taken_for_a_refused_token() {
    let fake = FakeClover::start().await;
    fake.push_fault(Endpoint::CreateCustomer, Fault::unauthorized());
    // The delivery's own search passes; the probe that follows the refused create is
    // rate-limited.
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::ProcessThenDelay(Duration::ZERO),
    );
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            body: r#"{"message":"Too Many Requests"}"#.into(),
        },
    );
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        let status = app.status().await;
        assert_eq!(
            status["auth"]["state"], "ok",
            "an unanswered probe condemned the token: {status:#}"
        );
        if status["queue"]["delivered"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.customers().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_connection_that_cannot_read_email_addresses_is_refused_and_nothing_kept() {
    let fake = FakeClover::start().await;
    fake.set_field_permissions(true);
    fake.seed_customer(NewFakeCustomer {
        emails: vec!["someone@example.com".into()],
        ..NewFakeCustomer::default()
    });
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    let callback = approved_callback(&app).await;

    let refused = app.client.get(&callback).send().await.unwrap();

    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(page.contains("email addresses"), "{page}");
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_to_the_permission_check_holds_every_request_back_for_its_wait() {
    let fake = FakeClover::start().await;
    // The first delivery's search passes, its create is refused, and the check that
    // follows (can this token still read?) is rate limited for 2 s.
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::ProcessThenDelay(Duration::ZERO),
    );
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
            body: "{}".into(),
        },
    );
    fake.push_fault(Endpoint::CreateCustomer, Fault::unauthorized());
    let app = spawn_app(&Config::token(&fake)).await;
    app.post_form(&valid_form()).await;
    let limited = || {
        fake.requests_to(Endpoint::SearchCustomers)
            .iter()
            .any(|r| r.status == 429)
    };
    assert!(crate::helpers::eventually(Duration::from_secs(10), limited).await);

    // Another visitor signs up during the wait: their delivery waits it out too.
    let mut second = valid_form();
    second.retain(|(name, _)| *name != "email");
    second.push(("email", "grace@example.com"));
    assert_eq!(app.post_form(&second).await.status(), 303);
    app.wait_for_delivered(2, DELIVERY).await;
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}
