//! Counter tablets over HTTP: paired once from `/admin/kiosks`, taking signups under
//! their own source and their own allowance, and refused once revoked. The browser side
//! (resets, the back button, axe) is in `browser/kiosk.rs`.

use std::time::Duration;

use crate::counter::{scan, svg_pixels};
use crate::helpers::{Config, TestApp, hidden_value, spawn_app, valid_form};
use crate::support::fake_clover::FakeClover;

const DELIVERY: Duration = Duration::from_secs(15);

/// A browser of its own, as the tablet is: its own cookies.
fn new_tablet() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The merchant (signed in on `app.client`) adds a tablet named `name`: its pairing
/// link's path.
pub(crate) async fn add_tablet(app: &TestApp, name: &str) -> String {
    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    let csrf = hidden_value(&page, "csrf_token").expect("a CSRF token");
    let added = app
        .client
        .post(app.url("/admin/kiosks"))
        .form(&[("csrf_token", csrf.as_str()), ("name", name)])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    assert_eq!(added.headers()["location"], "/admin/kiosks");
    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    let again = app.get("/admin/kiosks").await.text().await.unwrap();
    assert!(!again.contains("/kiosk/pair/"), "the link is shown once");
    let start = page.find("/kiosk/pair/").expect("a pairing link");
    let end = start + page[start..].find('<').unwrap();
    // Its QR code, for the tablet's camera, scans to the very link shown.
    let shown = page
        .split("<code class=\"pairing-link\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the link written out");
    let svg_start = page.find("<svg").expect("the link's QR code");
    let svg = &page[svg_start..svg_start + page[svg_start..].find("</svg>").unwrap()];
    let (side, pixels) = svg_pixels(svg);
    assert_eq!(scan(side, &pixels), [shown.to_owned()]);
    page[start..end].to_owned()
}

/// Opens the pairing link on `tablet` and presses Pair.
async fn pair(app: &TestApp, tablet: &reqwest::Client, link: &str) -> reqwest::Response {
    let page = tablet.get(app.url(link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Pair this tablet"));
    tablet.post(app.url(link)).send().await.unwrap()
}

/// A tablet the merchant added as `name` and paired.
async fn paired_tablet(app: &TestApp, name: &str) -> reqwest::Client {
    let link = add_tablet(app, name).await;
    let tablet = new_tablet();
    assert_eq!(pair(app, &tablet, &link).await.status(), 303);
    tablet
}

/// Fills in the tablet's form with `fields`, under the names this rendering gave them.
async fn sign_up_on(
    app: &TestApp,
    tablet: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let body = form_on(app, tablet, fields).await;
    tablet
        .post(app.url("/kiosk"))
        .form(&body)
        .send()
        .await
        .unwrap()
}

fn someone(n: usize) -> Vec<(&'static str, &'static str)> {
    let email: &'static str = format!("customer{n}@example.com").leak();
    let mut form = valid_form();
    form.retain(|(field, _)| *field != "email");
    form.push(("email", email));
    form
}

#[tokio::test]
async fn a_paired_tablet_takes_signups_kept_under_its_name() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::token(&fake)).await;
    app.sign_in().await;
    let link = add_tablet(&app, "Front counter").await;

    let tablet = new_tablet();
    let stranger = tablet.get(app.url("/kiosk")).send().await.unwrap();
    assert_eq!(stranger.status(), 403);
    assert!(
        stranger
            .text()
            .await
            .unwrap()
            .contains("not set up for signups")
    );

    let paired = pair(&app, &tablet, &link).await;
    assert_eq!(paired.status(), 303);
    assert_eq!(paired.headers()["location"], "/kiosk");
    let cookie = paired.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        "kiosk_device=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/kiosk",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let again = pair(&app, &new_tablet(), &link).await;
    assert_eq!(again.status(), 410, "a pairing link pairs one tablet");

    let form = tablet.get(app.url("/kiosk")).send().await.unwrap();
    assert_eq!(form.headers()["cache-control"], "no-store");
    let page = form.text().await.unwrap();
    assert!(page.contains("autocomplete=\"off\""));
    assert!(!page.contains("autocomplete=\"email\""), "no autofill");
    assert!(!page.contains("name=\"email\""), "inputs named anew");
    let other = tablet
        .get(app.url("/kiosk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(
        hidden_value(&page, "field_prefix"),
        hidden_value(&other, "field_prefix")
    );

    let sent = sign_up_on(&app, &tablet, &valid_form()).await;
    assert_eq!(sent.status(), 303);
    assert_eq!(sent.headers()["location"], "/kiosk/thanks");
    let thanks = tablet.get(app.url("/kiosk/thanks")).send().await.unwrap();
    let thanks = thanks.text().await.unwrap();
    assert!(thanks.contains("signed up"), "{thanks}");
    assert!(
        !thanks.contains("Ada"),
        "nothing of the customer on the screen"
    );
    app.wait_for_delivered(1, DELIVERY).await;
    let note = fake.customers()[0].note.clone().unwrap();
    assert!(
        note.contains("(signed up at: kiosk:Front counter)"),
        "{note}"
    );
    let status = app.status().await;
    assert_eq!(
        status["sources"],
        serde_json::json!([{"source": "kiosk:Front counter", "signups": 1}])
    );
    let consents = app.get("/admin/consents.csv").await.text().await.unwrap();
    assert!(consents.contains(",kiosk:Front counter,"), "{consents}");

    let mistake = sign_up_on(&app, &tablet, &[("email", "not an address")]).await;
    assert_eq!(mistake.status(), 422);
    let page = mistake.text().await.unwrap();
    assert!(
        page.contains("not an address"),
        "the customer's input comes back"
    );
    assert!(!page.contains("name=\"email\""), "under names of its own");
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_tablet_is_told_it_was_unpaired() {
    let app = spawn_app(&Config::demo()).await;
    let tablet = paired_tablet(&app, "Patio").await;
    assert_eq!(
        tablet.get(app.url("/kiosk")).send().await.unwrap().status(),
        200
    );

    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    assert!(page.contains("Patio") && page.contains("Paired"), "{page}");
    let id = hidden_value(&page, "id").unwrap();
    let csrf = hidden_value(&page, "csrf_token").unwrap();
    let revoked = app
        .client
        .post(app.url("/admin/kiosks/revoke"))
        .form(&[("csrf_token", csrf.as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);

    let refused = tablet.get(app.url("/kiosk")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("This tablet was unpaired")
    );
    let sent = sign_up_on_without_form(&app, &tablet).await;
    assert_eq!(sent, 403, "nor can it send a form it still shows");
    app.stop().await;
}

async fn sign_up_on_without_form(app: &TestApp, tablet: &reqwest::Client) -> u16 {
    tablet
        .post(app.url("/kiosk"))
        .form(&valid_form())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_tablet_has_its_own_allowance_apart_from_the_shops_address() {
    let mut config = Config::demo();
    config
        .set("RATE_LIMIT_PER_MINUTE", "1")
        .set("RATE_LIMIT_BURST", "1")
        .set("KIOSK_RATE_PER_MINUTE", "3");
    let app = spawn_app(&config).await;
    let tablet = paired_tablet(&app, "Front").await;

    // The website's visitor from the shop's address uses up the address's allowance.
    assert_eq!(app.post_form(&someone(100)).await.status(), 303);
    assert_eq!(app.post_form(&someone(101)).await.status(), 429);
    // The tablet, on that same address, has its own.
    for n in 0..3 {
        let sent = sign_up_on(&app, &tablet, &someone(n)).await;
        assert_eq!(sent.status(), 303, "customer {n}");
    }
    let over = sign_up_on(&app, &tablet, &someone(3)).await;
    assert_eq!(over.status(), 429);
    assert!(over.headers().contains_key("retry-after"));
    let page = over.text().await.unwrap();
    assert!(page.contains("customer3@example.com"), "the input is kept");
    app.stop().await;
}

#[tokio::test]
async fn a_signup_sent_faster_than_a_person_types_is_a_bots_on_a_tablet_too() {
    let mut config = Config::demo();
    config.set("FORM_MIN_FILL_SECONDS", "5");
    let app = spawn_app(&config).await;
    let tablet = paired_tablet(&app, "Front").await;

    let sent = sign_up_on(&app, &tablet, &valid_form()).await;
    assert_eq!(
        sent.status(),
        303,
        "answered as a person is, so it learns nothing"
    );
    let status = app.status().await;
    assert_eq!(status["bots"]["too_fast"], 1, "{status}");
    assert_eq!(status["queue"]["pending"], 0);
    assert_eq!(status["queue"]["delivered"], 0);
    app.stop().await;
}

/// The form page a tablet is shown now, and the body that sends `fields` with it.
async fn form_on(
    app: &TestApp,
    tablet: &reqwest::Client,
    fields: &[(&str, &str)],
) -> Vec<(String, String)> {
    let page = tablet
        .get(app.url("/kiosk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = hidden_value(&page, "field_prefix").unwrap();
    let mut body: Vec<(String, String)> = fields
        .iter()
        .map(|(name, value)| (format!("{prefix}-{name}"), (*value).to_owned()))
        .collect();
    for name in ["form_id", "form_token", "field_prefix"] {
        body.push((name.to_owned(), hidden_value(&page, name).unwrap()));
    }
    body
}

#[tokio::test]
async fn a_form_served_before_the_last_signup_is_not_taken_again() {
    let app = spawn_app(&Config::demo()).await;
    let tablet = paired_tablet(&app, "Front").await;

    // Customer A's form, with a mistake in it, as the browser's history keeps it.
    let earlier = form_on(&app, &tablet, &[("first_name", "Ada"), ("email", "nope")]).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let stored = sign_up_on(&app, &tablet, &valid_form()).await;
    assert_eq!(stored.status(), 303);

    // Sent again from the history by the next customer: nothing of A comes back.
    let again = tablet
        .post(app.url("/kiosk"))
        .form(&earlier)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/kiosk/thanks");
    let status = app.status().await;
    assert_eq!(status["recent"].as_array().unwrap().len(), 1, "{status}");
    app.stop().await;
}

#[tokio::test]
async fn a_tablet_asks_no_captcha_its_pairing_proves_it() {
    let mut config = Config::demo();
    config
        .set("TURNSTILE_SITE_KEY", "0x4AAAAAAA-site-key")
        .set("TURNSTILE_SECRET_KEY", "turnstile-secret")
        // Nobody answers there: a signup that asked would not be stored.
        .set("TURNSTILE_VERIFY_URL", "http://127.0.0.1:9/siteverify");
    let app = spawn_app(&config).await;
    let tablet = paired_tablet(&app, "Front").await;
    let page = tablet
        .get(app.url("/kiosk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("cf-turnstile"), "no widget on the tablet");

    let sent = sign_up_on(&app, &tablet, &valid_form()).await;
    assert_eq!(sent.status(), 303);
    let status = app.status().await;
    assert_eq!(status["recent"].as_array().unwrap().len(), 1, "{status}");
    // The website still asks: without the widget's answer, no signup.
    assert_eq!(app.post_form(&someone(9)).await.status(), 422);
    app.stop().await;
}

#[tokio::test]
async fn the_merchant_names_renames_and_is_protected_from_forged_forms() {
    let mut config = Config::token(&FakeClover::start().await);
    config.set("PUBLIC_URL", "https://signup.shop.example");
    let app = spawn_app(&config).await;
    app.sign_in().await;

    let forged = app
        .client
        .post(app.url("/admin/kiosks"))
        .form(&[("name", "Sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "no CSRF token, no tablet");

    let link = add_tablet(&app, "<script>alert(1)</script>").await;
    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    assert!(!page.contains("Sneaky"));
    assert!(!page.contains("<script>alert"), "a name is text");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let tablet = new_tablet();
    let paired = pair(&app, &tablet, &link).await;
    let cookie = paired.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "over HTTPS only: {cookie}");

    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    let id = hidden_value(&page, "id").unwrap();
    let csrf = hidden_value(&page, "csrf_token").unwrap();
    for path in [
        "/admin/kiosks/rename",
        "/admin/kiosks/link",
        "/admin/kiosks/revoke",
    ] {
        let forged = app
            .client
            .post(app.url(path))
            .form(&[("id", id.as_str()), ("name", "Patio")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{path} without a CSRF token");
    }
    let renamed = app
        .client
        .post(app.url("/admin/kiosks/rename"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("id", &id),
            ("name", "Patio"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 303);
    let too_long = app
        .client
        .post(app.url("/admin/kiosks/rename"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("id", &id),
            ("name", &"x".repeat(41)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 422);
    assert!(
        too_long
            .text()
            .await
            .unwrap()
            .contains("Name: 1 to 40 characters")
    );

    assert_eq!(sign_up_on(&app, &tablet, &valid_form()).await.status(), 303);
    let sources = app.status().await["sources"].clone();
    assert_eq!(
        sources,
        serde_json::json!([{"source": "kiosk:Patio", "signups": 1}])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_pairing_link_moves_the_pairing_to_the_tablet_that_uses_it() {
    let app = spawn_app(&Config::demo()).await;
    let link = add_tablet(&app, "Front").await;
    let (old, replacement) = (new_tablet(), new_tablet());
    assert_eq!(pair(&app, &old, &link).await.status(), 303);

    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    let (id, csrf) = (
        hidden_value(&page, "id").unwrap(),
        hidden_value(&page, "csrf_token").unwrap(),
    );
    let made = app
        .client
        .post(app.url("/admin/kiosks/link"))
        .form(&[("csrf_token", csrf.as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 303);
    let page = app.get("/admin/kiosks").await.text().await.unwrap();
    assert!(page.contains("a new pairing link is open"), "{page}");
    let start = page.find("/kiosk/pair/").expect("the new link, shown once");
    let new_link = &page[start..start + page[start..].find('<').unwrap()];
    assert_ne!(new_link, link);
    assert_eq!(
        old.get(app.url("/kiosk")).send().await.unwrap().status(),
        200,
        "paired until the new link is used"
    );

    assert_eq!(pair(&app, &replacement, new_link).await.status(), 303);
    assert_eq!(
        replacement
            .get(app.url("/kiosk"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = old.get(app.url("/kiosk")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("This tablet was unpaired")
    );
    app.stop().await;
}
