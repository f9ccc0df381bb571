//! The counter tablet in Chromium: paired from its link, a customer's signup end to end
//! to the fake Clover, the screen handed over empty (the back button included), the idle
//! reset with and without JavaScript, revocation, axe, and the README's pictures at
//! 768 × 1024 and 1280 × 800.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};

use super::harness::{
    Browser, BrowserOptions, assert_no_serious_violations, screenshot, text_of, type_into,
    wait_for, wait_for_path,
};
use super::journeys::keep_for_readme;
use crate::helpers::{Config, TestApp, hidden_value, spawn_app};
use crate::kiosk::add_tablet;
use crate::support::fake_clover::FakeClover;

/// Every value the page's inputs hold, and whether a box is ticked.
async fn values(browser: &Browser) -> Value {
    browser
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), textarea')]
               .filter(e => e.type === 'checkbox' ? e.checked : e.value)
               .map(e => e.id + '=' + e.value);",
            vec![],
        )
        .await
        .unwrap()
}

async fn shown_hidden_value(browser: &Browser, name: &str) -> String {
    let css = format!("input[name={name}]");
    wait_for(browser, &css)
        .await
        .attr("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// The tablet opens its pairing link and presses Pair: it is at the form.
async fn pair(browser: &Browser, app: &TestApp, link: &str) {
    browser.goto(&app.url(link)).await.unwrap();
    wait_for(browser, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_path(browser, "/kiosk").await;
    wait_for(browser, "form.signup-form").await;
}

#[tokio::test]
async fn a_customer_signs_up_at_the_counter_and_the_next_one_finds_nothing_of_them() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config
        .set("MERCHANT_NAME", "Corner Bakery")
        .set("FORM_FIELDS", "first_name,last_name,email,phone")
        .set("KIOSK_THANKS_SECONDS", "1");
    let app = spawn_app(&config).await;
    app.sign_in().await;
    let link = add_tablet(&app, "Front counter").await;

    let browser = Browser::open(BrowserOptions::sized(768, 1024)).await;
    pair(&browser, &app, &link).await;
    assert_no_serious_violations(&browser, "the tablet's form").await;
    keep_for_readme(
        &screenshot(&browser, "kiosk-768x1024").await,
        "kiosk-768x1024.png",
    );
    browser.set_viewport(1280, 800).await;
    keep_for_readme(
        &screenshot(&browser, "kiosk-1280x800").await,
        "kiosk-1280x800.png",
    );
    browser.set_viewport(768, 1024).await;

    let first_form = shown_hidden_value(&browser, "form_id").await;
    type_into(&browser, "#first_name", "Ada").await;
    type_into(&browser, "#last_name", "Lovelace").await;
    type_into(&browser, "#email", "ada@example.com").await;
    type_into(&browser, "#phone", "5551234567").await;
    wait_for(&browser, "#marketing_consent")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_path(&browser, "/kiosk/thanks").await;
    assert_eq!(
        text_of(&browser, "h1").await,
        "Thank you, you're signed up!"
    );
    assert_no_serious_violations(&browser, "the tablet's thanks").await;

    // After KIOSK_THANKS_SECONDS, a fresh empty form for the next customer.
    wait_for_path(&browser, "/kiosk").await;
    wait_for(&browser, "form.signup-form").await;
    assert_eq!(values(&browser).await, json!([]));
    assert_ne!(
        shown_hidden_value(&browser, "form_id").await,
        first_form,
        "a fresh form"
    );

    // Going back shows nothing of the last customer either: the page the browser kept
    // is replaced by an empty form as it is shown.
    browser.back().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while values(&browser).await != json!([]) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shown = browser
        .execute("return document.body.innerText;", vec![])
        .await
        .unwrap();
    let shown = shown.as_str().unwrap();
    assert!(
        !shown.contains("Ada") && !shown.contains("ada@example.com"),
        "{shown}"
    );
    assert_eq!(values(&browser).await, json!([]), "no field keeps a value");

    app.wait_for_delivered(1, Duration::from_secs(15)).await;
    let customer = &fake.customers()[0];
    assert_eq!(customer.first_name.as_deref(), Some("Ada"));
    assert!(
        customer
            .note
            .as_deref()
            .unwrap()
            .contains("signed up at: kiosk:Front counter")
    );

    // Revoked from the admin page: the next request says so.
    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    let field = |name: &str| hidden_value(&page, name).unwrap();
    let revoked = app
        .client
        .post(app.url("/admin/kiosks/revoke"))
        .form(&[("csrf_token", field("csrf_token")), ("id", field("id"))])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    browser.goto(&app.url("/kiosk")).await.unwrap();
    assert_eq!(text_of(&browser, "h1").await, "This tablet was unpaired");
    assert_no_serious_violations(&browser, "the unpaired tablet").await;
    browser.close().await;
    app.stop().await;
}

/// Types into the first name, waits for the form to be emptied, and tells how long it
/// took from the last key.
async fn cleared_after(browser: &Browser) -> Duration {
    type_into(browser, "#first_name", "Gra").await;
    let typed = Instant::now();
    let deadline = typed + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The page may be between two loads: an error reads as not yet.
        if let Ok(field) = browser.find(Locator::Css("#first_name")).await
            && field.prop("value").await.ok().flatten().as_deref() == Some("")
        {
            return typed.elapsed();
        }
        assert!(Instant::now() < deadline, "the form was never cleared");
    }
}

#[tokio::test]
async fn a_half_filled_form_left_alone_is_cleared_with_or_without_javascript() {
    crate::require_browser!();
    let mut config = Config::demo();
    config.set("KIOSK_IDLE_SECONDS", "5");
    let app = spawn_app(&config).await;
    for options in [
        BrowserOptions::sized(768, 1024),
        BrowserOptions::sized(768, 1024).without_javascript(),
    ] {
        let link = add_tablet(&app, "Front").await;
        let scripts = options.javascript;
        let browser = Browser::open(options).await;
        pair(&browser, &app, &link).await;
        if scripts {
            // Typing again starts the wait again.
            type_into(&browser, "#first_name", "Gr").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let waited = cleared_after(&browser).await;
        assert!(
            waited >= Duration::from_millis(4_500),
            "cleared after {waited:?}, before KIOSK_IDLE_SECONDS (javascript: {scripts})"
        );
        assert_eq!(values(&browser).await, json!([]));
        browser.close().await;
    }
    app.stop().await;
}

/// Types a signup for customer `n` on the tablet's form and sends it.
async fn sign_up_as(browser: &Browser, n: usize) {
    wait_for(browser, "form.signup-form").await;
    type_into(browser, "#first_name", "Grace").await;
    type_into(browser, "#last_name", "Hopper").await;
    type_into(browser, "#email", &format!("grace{n}@example.com")).await;
    wait_for(browser, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_busy_counter_is_limited_by_its_own_allowance_not_the_shops_address() {
    crate::require_browser!();
    let mut config = Config::demo();
    config
        .set("FORM_FIELDS", "first_name,last_name,email")
        .set("RATE_LIMIT_PER_MINUTE", "1")
        .set("RATE_LIMIT_BURST", "1")
        .set("KIOSK_RATE_PER_MINUTE", "2")
        .set("KIOSK_THANKS_SECONDS", "1");
    let app = spawn_app(&config).await;
    // A visitor on the shop's Wi-Fi, at the same address as the tablet, uses up its
    // allowance.
    let visitor = [
        ("first_name", "Ada"),
        ("last_name", "L"),
        ("email", "ada@example.com"),
    ];
    assert_eq!(app.post_form(&visitor).await.status(), 303);
    assert_eq!(app.post_form(&visitor).await.status(), 429);

    let link = add_tablet(&app, "Front").await;
    let browser = Browser::open(BrowserOptions::sized(768, 1024)).await;
    pair(&browser, &app, &link).await;
    for n in 0..2 {
        sign_up_as(&browser, n).await;
        wait_for_path(&browser, "/kiosk/thanks").await;
        wait_for_path(&browser, "/kiosk").await;
    }
    // The third within the minute is over the tablet's own allowance: the customer is
    // told, and keeps what they typed.
    sign_up_as(&browser, 2).await;
    let notice = text_of(&browser, ".notice").await;
    assert!(notice.contains("Please wait"), "{notice}");
    let kept = wait_for(&browser, "#email")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("grace2@example.com"));
    assert_eq!(app.status().await["recent"].as_array().unwrap().len(), 3);
    browser.close().await;
    app.stop().await;
}
