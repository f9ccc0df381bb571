//! The consent ledger from outside: a consent given on the form, what the merchant sees
//! and can do on `/admin/people`, the unsubscribe link and its one-click post, erasure.

use std::time::Duration;

use secrecy::SecretSlice;
use serde_json::Value;

use crate::helpers::{Config, TestApp, spawn_app, stored_bytes, with_hidden_fields};
use crate::support::fake_clover::FakeClover;
use crate::support::webhook_receiver::{WebhookReceiver, free_port};
use clover_signup::consent::{ConsentChannel, ConsentLinks, PersonKeys};

const BROWSER: &str = "ConsentTest/1.0 (a browser)";

async fn app_with_fake() -> (TestApp, FakeClover, Config) {
    let fake = FakeClover::start().await;
    let config = Config::token(&fake);
    let app = spawn_app(&config).await;
    (app, fake, config)
}

/// Signs up `email` on the form from a browser that names itself, consenting.
async fn sign_up(app: &TestApp, email: &str, first_name: &str, phone: &str) {
    let browser = reqwest::Client::builder()
        .user_agent(BROWSER)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fields = [
        ("first_name", first_name),
        ("last_name", "Quartermaine"),
        ("email", email),
        ("phone", phone),
        ("marketing_consent", "on"),
    ];
    let fields = with_hidden_fields(&browser, &app.address, &fields).await;
    let response = browser
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
}

async fn consents_csv(app: &TestApp) -> String {
    let response = app.get("/admin/consents.csv").await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consent_given_on_the_form_is_shown_exported_and_withdrawn_by_the_merchant() {
    let (app, _fake, _config) = app_with_fake().await;
    let email = "grace.quartermaine@example.com";
    sign_up(&app, email, "Grace", "555 010 2000").await;
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    app.sign_in().await;

    let page = app
        .admin_post(
            "/admin/people",
            &[("who", "Grace.Quartermaine@Example.com")],
        )
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("given (email)"), "{page}");
    assert!(
        page.contains("Yes, send me news and offers by email"),
        "{page}"
    );
    assert!(
        page.contains("127.0.0.0/24") && page.contains(BROWSER),
        "{page}"
    );
    // Found by phone as well.
    let by_phone = app
        .admin_post("/admin/people", &[("who", "555-010-2000")])
        .await;
    assert!(by_phone.text().await.unwrap().contains(email));

    let export = app
        .admin_post("/admin/people/export", &[("email", email)])
        .await;
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let report: Value = export.json().await.unwrap();
    assert_eq!(report["email"], email);
    assert!(report["clover_customer_ids"][0].is_string(), "{report:#}");
    assert_eq!(report["signups"][0]["state"], "delivered");
    // Everything kept, whole: names and phone too.
    assert_eq!(report["signups"][0]["first_name"], "Grace");
    assert_eq!(report["signups"][0]["phone"], "5550102000");
    assert_eq!(report["consent_history"][0]["email"], email);
    assert_eq!(report["consent"][0]["state"], "given");
    let history = report["consent_history"].as_array().unwrap();
    assert_eq!(history[0]["event"], "given");
    assert_eq!(
        history[0]["ip_address"], "127.0.0.0/24",
        "CONSENT_IP=truncated"
    );
    assert_eq!(history[0]["user_agent"], BROWSER);
    assert!(history[0]["form_id"].is_string());
    // The merchant's looks are in the ledger too.
    assert!(
        history
            .iter()
            .any(|e| e["event"] == "viewed" && e["by"] == "merchant")
    );

    assert!(consents_csv(&app).await.contains(email));
    let withdrawn = app
        .admin_post(
            "/admin/people/withdraw",
            &[("email", email), ("channel", "email")],
        )
        .await;
    assert!(
        withdrawn
            .text()
            .await
            .unwrap()
            .contains("consent is withdrawn")
    );
    assert!(!consents_csv(&app).await.contains(email));

    // Signing up again does not undo the withdrawal: anyone could type the address. The
    // new signup is stored without marketing consent, for Clover and for the export.
    sign_up(&app, email, "Grace", "555 010 2000").await;
    assert!(!consents_csv(&app).await.contains(email));
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let export = app
        .get(&format!("/admin/export.csv?from={today}&to={today}"))
        .await
        .text()
        .await
        .unwrap();
    let consents: Vec<&str> = export
        .lines()
        .filter(|line| line.contains(email))
        .map(|line| line.split(',').nth(7).unwrap())
        .collect();
    assert_eq!(consents, ["yes", "no"], "{export}");
    app.stop().await;
}

fn unsubscribe_token(config: &Config, email: &str) -> String {
    let secret = hex::decode(&config.vars()["SECRET_KEY"]).unwrap();
    let secret = SecretSlice::from(secret);
    let person = PersonKeys::new(Some(&secret)).of(email);
    let url = url::Url::parse("http://127.0.0.1/").unwrap();
    ConsentLinks::new(Some(&secret), &url).token(&person, ConsentChannel::Email)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unsubscribe_link_shows_what_was_agreed_and_one_click_withdraws() {
    let fake = FakeClover::start().await;
    let receiver = WebhookReceiver::start(0).await;
    let mut config = Config::token(&fake);
    config.set("EVENT_WEBHOOK_URL", &receiver.url).set(
        "EVENT_WEBHOOK_SECRET",
        "event-secret-0123456789abcdefghijklmnop",
    );
    let app = spawn_app(&config).await;
    let email = "ada.quartermaine@example.com";
    sign_up(&app, email, "Ada", "555 010 3000").await;
    let token = unsubscribe_token(&config, email);

    let page = app.get(&format!("/preferences/{token}?lang=fr")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("vous avez accepté ceci"), "{page}");
    assert!(page.contains("Me désinscrire"), "{page}");
    // The language links keep the token.
    assert!(
        page.contains(&format!("/preferences/{token}?lang=es")),
        "{page}"
    );
    // Following the one-click address withdraws nothing: a link scanner may.
    let followed = app.get(&format!("/unsubscribe/{token}")).await;
    assert_eq!(followed.status(), 303);
    assert_eq!(
        followed.headers()["location"],
        format!("/preferences/{token}")
    );

    // A mail client's one-click post (RFC 8058): no page, no cookie, from a webmail's
    // origin.
    let one_click = reqwest::Client::new()
        .post(app.url(&format!("/unsubscribe/{token}")))
        .header("origin", "https://webmail.example.net")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);

    let again = app.get(&format!("/preferences/{token}")).await;
    let again = again.text().await.unwrap();
    assert!(again.contains("You unsubscribed on"), "{again}");
    assert!(!again.contains("<form method=\"post\""), "{again}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let withdrawn = loop {
        let taken = receiver.taken();
        if let Some(event) = taken
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
            .find(|body| body["type"] == "consent.withdrawn")
        {
            break event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no consent.withdrawn event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(withdrawn["data"]["channel"], "email");
    assert_eq!(withdrawn["data"]["by"], "visitor");
    assert!(
        withdrawn["data"].get("email").is_none(),
        "personal data only when opted in"
    );

    // A token changed by one character is refused.
    let forged = format!("{}x", token);
    let refused = app.get(&format!("/preferences/{forged}")).await;
    assert_eq!(refused.status(), 400);
    let refused = reqwest::Client::new()
        .post(app.url(&format!("/unsubscribe/{forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_leaves_no_trace_of_the_person_and_keeps_the_proof() {
    let (app, fake, config) = app_with_fake().await;
    let email = "zebulon.quartermaine@example.com";
    sign_up(&app, email, "Zebulon", "555 010 4477").await;
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    app.sign_in().await;

    // The first step names what will happen, Clover's customer included.
    let confirm = app
        .admin_post("/admin/people/erase", &[("email", email)])
        .await;
    let confirm = confirm.text().await.unwrap();
    let customer = fake.customers()[0].id.clone();
    assert!(
        confirm.contains("Erasing here leaves it in your Clover account"),
        "{confirm}"
    );
    assert!(
        confirm.contains(&format!("Erase here and delete Clover customer {customer}")),
        "a second confirmation names what it deletes: {confirm}"
    );
    let before = String::from_utf8_lossy(&stored_bytes(&config).await).into_owned();
    assert!(
        before.contains("Zebulon"),
        "the test looks for what is there"
    );

    let erased = app
        .admin_post(
            "/admin/people/erase",
            &[("email", email), ("confirm", "yes"), ("clover", "delete")],
        )
        .await;
    let erased = erased.text().await.unwrap();
    assert!(erased.contains("Erased: 1 signup(s)"), "{erased}");
    assert!(
        erased.contains(&format!("Clover customer {customer} is deleted")),
        "{erased}"
    );
    assert!(
        fake.customers()[0].deleted_time.is_some(),
        "deleted in Clover"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let stored = String::from_utf8_lossy(&stored_bytes(&config).await).into_owned();
    for trace in ["Zebulon", "zebulon", "5550104477", "555-010-4477", BROWSER] {
        assert!(!stored.contains(trace), "{trace} is still stored");
    }
    let search = app.admin_post("/admin/people", &[("who", email)]).await;
    let search = search.text().await.unwrap();
    assert!(search.contains("erased"), "the proof stays: {search}");
    assert!(
        search.contains("admin+clover"),
        "and says Clover's went too: {search}"
    );
    assert!(search.contains("given (email)"), "{search}");
    assert!(!search.contains("127.0.0.0/24"), "{search}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_removes_the_events_still_to_be_sent_whatever_the_case_of_the_address() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    // Nobody listens there: the events wait in the outbox, with the person in them.
    let nowhere = format!("http://127.0.0.1:{}/events", free_port());
    config
        .set("EVENT_WEBHOOK_URL", &nowhere)
        .set(
            "EVENT_WEBHOOK_SECRET",
            "event-secret-0123456789abcdefghijklmnop",
        )
        .set("EVENT_WEBHOOK_PERSONAL_DATA", "true");
    let app = spawn_app(&config).await;
    sign_up(
        &app,
        "Zebulon.Quartermaine@Example.com",
        "Zebulon",
        "555 010 4477",
    )
    .await;
    // Somebody whose address ends in the same characters.
    sign_up(
        &app,
        "hzebulon.quartermaine@example.com",
        "Hana",
        "555 010 9999",
    )
    .await;
    app.wait_for_delivered(2, Duration::from_secs(10)).await;
    let before = String::from_utf8_lossy(&stored_bytes(&config).await).into_owned();
    assert!(
        before.contains("Zebulon.Quartermaine@Example.com"),
        "the events keep the address as typed"
    );

    app.sign_in().await;
    let erased = app
        .admin_post(
            "/admin/people/erase",
            &[
                ("email", "zebulon.quartermaine@example.com"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(erased.status(), 200, "{}", erased.text().await.unwrap());
    let stored = String::from_utf8_lossy(&stored_bytes(&config).await).into_owned();
    for trace in ["Zebulon", "\"zebulon", "5550104477"] {
        assert!(!stored.contains(trace), "{trace} is still stored");
    }
    assert!(
        stored.contains("\"hzebulon.quartermaine@example.com\""),
        "the other person's events stay"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consents_evidence_stays_while_it_stands_and_goes_after_its_withdrawal() {
    let (app, _fake, config) = app_with_fake().await;
    sign_up(
        &app,
        "stays.quartermaine@example.com",
        "Stays",
        "555 010 5000",
    )
    .await;
    sign_up(
        &app,
        "goes.quartermaine@example.com",
        "Goes",
        "555 010 6000",
    )
    .await;
    app.wait_for_delivered(2, Duration::from_secs(10)).await;
    let token = unsubscribe_token(&config, "goes.quartermaine@example.com");
    let one_click = app.client.post(app.url(&format!("/unsubscribe/{token}")));
    assert_eq!(one_click.send().await.unwrap().status(), 200);
    app.stop().await;

    let mut expired = config.clone();
    expired.set("DATA_RETENTION_DAYS", "0");
    let restarted = spawn_app(&expired).await;
    let stored = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let mut now = stored(stored_bytes(&config).await);
    for _ in 0..100 {
        if !now.contains("goes.quartermaine") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = stored(stored_bytes(&config).await);
    }
    assert!(
        !now.contains("goes.quartermaine"),
        "a withdrawn consent's evidence went"
    );
    assert!(
        now.contains("stays.quartermaine"),
        "a standing consent keeps its evidence past the signup's retention"
    );
    assert!(!now.contains("Stays"), "the signup itself was erased");
    // Who may be emailed is still known.
    restarted.sign_in().await;
    let csv = consents_csv(&restarted).await;
    assert!(csv.contains("stays.quartermaine@example.com"), "{csv}");
    restarted.stop().await;
}
