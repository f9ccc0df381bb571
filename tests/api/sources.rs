//! Where a signup came from: `?src=` on the form's address, kept with the signup, in the
//! consent ledger, in Clover's note, on the admin page and in `/metrics`.

use std::time::Duration;

use crate::helpers::{Config, TestApp, hidden_value, spawn_app, valid_form, with_hidden_inputs};
use crate::metrics::{METRICS_TOKEN, scrape, value};
use crate::support::fake_clover::FakeClover;

const DELIVERY: Duration = Duration::from_secs(15);

/// Opens the form at `path` and sends it back with the visitor's fields, as a browser
/// does: every hidden input it carries included, unless `fields` changes it.
async fn sign_up_at(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = app.get(path).await.text().await.unwrap();
    let form = with_hidden_inputs(&page, fields, &["form_id", "form_token", "src"]);
    let action = path.split('?').next().unwrap();
    app.client
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signup_from_the_counter_poster_is_counted_and_noted_as_such() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("METRICS_TOKEN", METRICS_TOKEN);
    let app = spawn_app(&config).await;

    let page = app.get("/?src=counter").await.text().await.unwrap();
    assert_eq!(hidden_value(&page, "src").as_deref(), Some("counter"));
    assert!(
        page.contains("?lang=fr&amp;src=counter"),
        "switching language keeps the source"
    );
    let plain = app.get("/").await.text().await.unwrap();
    assert!(
        !plain.contains("src=counter") && !plain.contains("&amp;src="),
        "a later visitor without a source gets none"
    );

    let sent = sign_up_at(&app, "/?src=counter", &valid_form()).await;
    assert_eq!(sent.status(), 303);
    app.wait_for_delivered(1, DELIVERY).await;

    let note = fake.customers()[0].note.clone().unwrap();
    assert!(note.contains("(signed up at: counter)"), "{note}");

    app.sign_in().await;
    let status = app.status().await;
    assert_eq!(
        status["sources"],
        serde_json::json!([{"source": "counter", "signups": 1}])
    );
    let admin = app.get("/admin").await.text().await.unwrap();
    assert!(admin.contains("Where signups came from"), "{admin}");

    let consents = app.get("/admin/consents.csv").await.text().await.unwrap();
    assert!(
        consents.contains(",form:counter,"),
        "the ledger says where the consent was given: {consents}"
    );

    let samples = scrape(&app).await;
    let counted = |source| {
        value(
            &samples,
            "clover_signup_signups_by_source_total",
            &[("source", source)],
        )
    };
    assert_eq!(counted("counter"), 1.0);
    assert_eq!(counted("(none)"), 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_source_that_is_not_a_short_slug_is_ignored_and_the_signup_kept() {
    let app = spawn_app(&Config::demo()).await;
    for path in ["/?src=Counter", "/?src=%3Cscript%3E", "/embed?src=a_b"] {
        let page = app.get(path).await.text().await.unwrap();
        assert_eq!(hidden_value(&page, "src").as_deref(), Some(""), "{path}");
    }
    let long = format!("/?src={}", "x".repeat(33));
    let page = app.get(&long).await.text().await.unwrap();
    assert_eq!(hidden_value(&page, "src").as_deref(), Some(""));

    // A source changed by hand in the page is no source either.
    let mut form = valid_form();
    form.push(("src", "Not A Slug"));
    let sent = sign_up_at(&app, "/", &form).await;
    assert_eq!(sent.status(), 303);
    let mut grace = valid_form();
    grace.retain(|(field, _)| *field != "email");
    grace.push(("email", "grace@example.com"));
    let embedded = sign_up_at(&app, "/embed?src=newsletter", &grace).await;
    assert_eq!(embedded.status(), 303);
    let mut api = crate::helpers::visitor(1);
    api["src"] = "newsletter".into();
    assert_eq!(app.post_json(&api).await.status(), 202);

    // Demo mode on loopback: the admin pages are open.
    let sources = app.status().await["sources"].clone();
    assert_eq!(
        sources,
        serde_json::json!([
            {"source": "newsletter", "signups": 2},
            {"source": null, "signups": 1}
        ]),
        "{sources}"
    );
    app.stop().await;
}
