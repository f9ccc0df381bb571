//! Emails to visitors against a real SMTP server on loopback and the strict fake Clover:
//! the welcome, double opt-in in both modes, the unsubscribe headers, and the limits
//! that keep a bot typing real people's addresses from making the merchant a spammer.

use std::time::Duration;

use crate::helpers::{
    Config, TestApp, eventually, execute_sql, hidden_value, spawn_app, stored_bytes,
    with_hidden_fields,
};
use crate::support::fake_clover::FakeClover;
use crate::support::smtp_sink::{ReceivedMail, SmtpSink};

const POSTAL: &str = "Corner Bakery, 1 Main Street, Springfield";
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn mailing(fake: &FakeClover, sink: &SmtpSink, vars: &[(&str, &str)]) -> Config {
    let mut config = Config::token(fake);
    // The links in the emails name PUBLIC_URL: the port must be known before start.
    let port = crate::support::webhook_receiver::free_port();
    config
        .set("PORT", &port.to_string())
        .set("PUBLIC_URL", &format!("http://127.0.0.1:{port}"))
        .set("SMTP_URL", &sink.url())
        .set("MAIL_FROM", "Corner Bakery <signups@shop.example>")
        .set("MERCHANT_NAME", "Corner Bakery")
        .set("MERCHANT_POSTAL_ADDRESS", POSTAL);
    for (name, value) in vars {
        config.set(name, value);
    }
    config
}

/// Signs `email` up on the form in `language`, consenting or not.
pub(crate) async fn sign_up(app: &TestApp, email: &str, consent: bool, language: &str) {
    let mut fields = vec![
        ("first_name", "Ada"),
        ("last_name", "Byron"),
        ("email", email),
    ];
    if consent {
        fields.push(("marketing_consent", "on"));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let address = format!("{}/?lang={language}", app.address);
    let fields = with_hidden_fields(&client, &address, &fields).await;
    let response = client
        .post(app.url(&format!("/?lang={language}")))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
}

pub(crate) async fn mails_to(sink: &SmtpSink, email: &str, count: usize) -> Vec<ReceivedMail> {
    let to = |mail: &ReceivedMail| mail.to.iter().any(|t| t.contains(email));
    assert!(
        eventually(WAIT, || sink.received().iter().filter(|m| to(m)).count()
            >= count)
        .await,
        "{count} email(s) to {email} did not arrive: {:#?}",
        sink.received()
    );
    sink.received().into_iter().filter(to).collect()
}

/// The first link in `mail`'s text that starts with `prefix`.
pub(crate) fn link(mail: &ReceivedMail, prefix: &str) -> String {
    let text = mail.part("text/plain").expect("a plain text part");
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

async fn consents_csv(app: &TestApp) -> String {
    app.sign_in().await;
    app.get("/admin/consents.csv").await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_welcome_goes_once_per_address_with_the_unsubscribe_link_and_headers() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(
        &fake,
        &sink,
        &[
            ("WELCOME_EMAIL", "true"),
            ("WELCOME_SUBJECT_ES", "¡Hola de la panadería!"),
        ],
    );
    let app = spawn_app(&config).await;
    sign_up(&app, "ines@example.com", true, "es").await;
    let mail = &mails_to(&sink, "ines@example.com", 1).await[0];
    assert_eq!(mail.subject(), "¡Hola de la panadería!");
    let text = mail.part("text/plain").unwrap();
    assert!(text.contains("Gracias por registrarte"), "{text}");
    assert!(text.contains(POSTAL), "{text}");
    let html = mail.part("text/html").unwrap();
    assert!(html.contains("lang=\"es\""), "{html}");
    let one_click = mail.header("List-Unsubscribe").unwrap();
    assert!(one_click.starts_with("<http://127.0.0.1:"), "{one_click}");
    assert!(one_click.contains("/unsubscribe/email."), "{one_click}");
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    // The page the text links to is the person's, in their language.
    let preferences = link(mail, "http");
    let page = reqwest::get(&preferences)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Darme de baja"), "{page}");

    // Signing up again sends no second welcome.
    sign_up(&app, "ines@example.com", true, "es").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mails_to(&sink, "ines@example.com", 1).await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn marketing_double_opt_in_delivers_at_once_and_counts_consent_once_confirmed() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(
        &fake,
        &sink,
        &[("DOUBLE_OPT_IN", "marketing"), ("WELCOME_EMAIL", "true")],
    );
    let app = spawn_app(&config).await;
    sign_up(&app, "marta@example.com", true, "en").await;
    app.wait_for_delivered(1, WAIT).await;
    assert_eq!(
        fake.customers().len(),
        1,
        "the customer goes to Clover at once"
    );
    let confirmation = &mails_to(&sink, "marta@example.com", 1).await[0];
    assert!(
        confirmation.subject().contains("confirm"),
        "{}",
        confirmation.subject()
    );
    assert!(
        !consents_csv(&app).await.contains("marta@example.com"),
        "not consent yet"
    );

    let link = link(confirmation, "http");
    assert!(link.contains("/confirm/"), "{link}");
    // Opening the link (as a mail filter would) confirms nothing.
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(!consents_csv(&app).await.contains("marta@example.com"));
    let confirmed = app.client.post(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("your address is confirmed")
    );
    let csv = consents_csv(&app).await;
    assert!(csv.contains("marta@example.com,,email,confirmed,"), "{csv}");
    // The welcome follows the confirmation.
    let mails = mails_to(&sink, "marta@example.com", 2).await;
    assert!(
        mails[1].subject().contains("Welcome"),
        "{}",
        mails[1].subject()
    );

    // Without a ticked box there is nothing to confirm, and nothing is sent.
    sign_up(&app, "nobox@example.com", false, "en").await;
    app.wait_for_delivered(2, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        sink.received()
            .iter()
            .all(|m| !m.to.iter().any(|t| t.contains("nobox")))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_double_opt_in_for_all_nothing_reaches_clover_until_the_visitor_confirms() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(&fake, &sink, &[("DOUBLE_OPT_IN", "all")]);
    let app = spawn_app(&config).await;
    let thanks = app.get("/thanks?lang=fr").await.text().await.unwrap();
    assert!(thanks.contains("ouvrez le lien"), "{thanks}");
    sign_up(&app, "zoe@example.com", false, "fr").await;
    let confirmation = &mails_to(&sink, "zoe@example.com", 1).await[0];
    assert!(
        confirmation.subject().contains("Confirmez"),
        "{}",
        confirmation.subject()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fake.customers().is_empty(), "nothing went to Clover");
    let status = app.status().await;
    assert_eq!(
        status["queue"]["pending"], 0,
        "not a signup yet: {status:#}"
    );

    let link = link(confirmation, "http");
    let confirmed = app.client.post(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    app.wait_for_delivered(1, WAIT).await;
    assert_eq!(fake.customers().len(), 1);
    // Confirming twice stores nothing twice.
    let again = app.client.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(app.status().await["queue"]["delivered"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_gets_one_confirmation_a_day_and_none_once_it_withdrew() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(&fake, &sink, &[("DOUBLE_OPT_IN", "all")]);
    let app = spawn_app(&config).await;
    // A bot enters the same real address again and again.
    for _ in 0..4 {
        sign_up(&app, "victim@example.com", true, "en").await;
    }
    let first = mails_to(&sink, "victim@example.com", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mails_to(&sink, "victim@example.com", 1).await.len(),
        1,
        "one a day"
    );

    // The owner of the address clicks their mail client's unsubscribe button.
    let one_click = first[0].header("List-Unsubscribe").unwrap();
    let one_click = one_click.trim_start_matches('<').trim_end_matches('>');
    let withdrawn = reqwest::Client::new()
        .post(one_click)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 200);
    // A new signup is answered as any other, and nothing is sent, ever.
    sign_up(&app, "victim@example.com", true, "en").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mails_to(&sink, "victim@example.com", 1).await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_link_confirms_its_own_signup_not_one_sent_after_it() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = all_with_text_messages(&fake, &sink);
    let app = spawn_app(&config).await;
    sign_up(&app, "owner@example.com", false, "en").await;
    let mail = &mails_to(&sink, "owner@example.com", 1).await[0];
    // Somebody else sends the same address with their own details, and ticks both boxes
    // with their own phone number.
    post_as_mallory(&app, "owner@example.com").await;

    let confirmed = app.client.post(link(mail, "http")).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    app.wait_for_delivered(1, WAIT).await;
    let customers = fake.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(
        customers[0].first_name.as_deref(),
        Some("Ada"),
        "the owner's own signup"
    );
    // The owner ticked no box: confirming their own signup confirms none of Mallory's.
    let csv = consents_csv(&app).await;
    assert!(!csv.contains("owner@example.com"), "{csv}");
    assert!(!csv.contains("5550100"), "{csv}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_double_opt_in_for_all_a_served_form_sent_again_with_other_details_is_offered_anew() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(&fake, &sink, &[("DOUBLE_OPT_IN", "all")]);
    let app = spawn_app(&config).await;
    let page = app.get("/").await.text().await.unwrap();
    let served = |email: &str| {
        vec![
            ("first_name".to_owned(), "Ada".to_owned()),
            ("last_name".to_owned(), "Byron".to_owned()),
            ("email".to_owned(), email.to_owned()),
            (
                "form_token".to_owned(),
                hidden_value(&page, "form_token").unwrap(),
            ),
            (
                "form_id".to_owned(),
                hidden_value(&page, "form_id").unwrap(),
            ),
        ]
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let typo = client.post(app.url("/")).form(&served("ada@exampel.com"));
    assert_eq!(typo.send().await.unwrap().status(), 303);
    // Back, the address corrected, the same form sent again: not thanked for nothing.
    let corrected = client.post(app.url("/")).form(&served("ada@example.com"));
    let corrected = corrected.send().await.unwrap();
    assert_eq!(corrected.status(), 200, "the form again, not a thanks");
    let text = corrected.text().await.unwrap();
    assert!(text.contains("already been sent"), "{text}");
    assert!(
        text.contains(r#"value="ada@example.com""#),
        "input kept: {text}"
    );
    // The same form with the same details is the one signup, thanked again.
    let resent = client.post(app.url("/")).form(&served("ada@exampel.com"));
    assert_eq!(resent.send().await.unwrap().status(), 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_confirmation_page_shows_whose_details_it_confirms() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = all_with_text_messages(&fake, &sink);
    let app = spawn_app(&config).await;
    // Somebody sends the owner's address first: the one email of the day is for that
    // signup, and the owner's own, sent after, gets none.
    post_as_mallory(&app, "owner@example.com").await;
    sign_up(&app, "owner@example.com", false, "en").await;
    let mail = &mails_to(&sink, "owner@example.com", 1).await[0];
    let page = app.client.get(link(mail, "http")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("Mallory B."), "{page}");
    assert!(
        !page.contains("Byron"),
        "the last name's initial only: {page}"
    );
    assert!(page.contains("ending in 00"), "{page}");
    assert!(page.contains("Do not press the button"), "{page}");
    assert!(
        !page.contains("5550100"),
        "the phone is not shown whole: {page}"
    );
    let spanish = app
        .client
        .get(link(mail, "http").replace("lang=en", "lang=es"));
    let spanish = spanish.send().await.unwrap().text().await.unwrap();
    assert!(spanish.contains("Mallory B."), "{spanish}");
    assert!(spanish.contains("termina en 00"), "{spanish}");
    app.stop().await;
}

/// `DOUBLE_OPT_IN=all`, with a phone and the text message box on the form.
fn all_with_text_messages(fake: &FakeClover, sink: &SmtpSink) -> Config {
    let fields = "first_name,last_name,email,phone,sms_consent";
    mailing(
        fake,
        sink,
        &[("DOUBLE_OPT_IN", "all"), ("FORM_FIELDS", fields)],
    )
}

/// Somebody other than the owner of `email` sends it, with their own name and phone,
/// ticking both consent boxes.
async fn post_as_mallory(app: &TestApp, email: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let other = [
        ("first_name", "Mallory"),
        ("last_name", "Byron"),
        ("email", email),
        ("phone", "+1 202 555 0100"),
        ("marketing_consent", "on"),
        ("sms_consent", "on"),
    ];
    let fields = with_hidden_fields(&client, &app.address, &other).await;
    let sent = client
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303, "{}", sent.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_double_opt_in_for_all_an_address_confirmed_once_does_not_let_others_skip_it() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = all_with_text_messages(&fake, &sink);
    let app = spawn_app(&config).await;
    sign_up(&app, "owner@example.com", false, "en").await;
    let mail = &mails_to(&sink, "owner@example.com", 1).await[0];
    let confirmed = app.client.post(link(mail, "http")).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    app.wait_for_delivered(1, WAIT).await;

    // Knowing a confirmed address is not owning it: Mallory's signup waits for a
    // confirmation like any other, and neither reaches Clover nor gives consent.
    post_as_mallory(&app, "owner@example.com").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.customers().len(), 1, "{:?}", fake.customers());
    assert_eq!(app.status().await["queue"]["delivered"], 1);
    let csv = consents_csv(&app).await;
    assert!(!csv.contains("5550100"), "{csv}");
    assert!(!csv.contains(",given,"), "{csv}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signup_never_confirmed_is_erased_after_the_confirmation_days() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let config = mailing(
        &fake,
        &sink,
        &[("DOUBLE_OPT_IN", "all"), ("CONFIRMATION_DAYS", "7")],
    );
    let app = spawn_app(&config).await;
    sign_up(&app, "forgotten.visitor@example.com", true, "en").await;
    let mail = &mails_to(&sink, "forgotten.visitor@example.com", 1).await[0];
    app.stop().await;
    let held = String::from_utf8_lossy(&stored_bytes(&config).await).into_owned();
    assert!(held.contains("Byron"), "the test looks for what is there");
    // Eight days pass.
    let eight_days_ms = 8 * 86_400_000;
    execute_sql(
        &config,
        &format!("UPDATE unconfirmed_signups SET received_at = received_at - {eight_days_ms}"),
    )
    .await;

    // The sweep at start erases it, its consent's evidence with it.
    let restarted = spawn_app(&config).await;
    let stored = || async { String::from_utf8_lossy(&stored_bytes(&config).await).into_owned() };
    let mut gone = false;
    for _ in 0..100 {
        let now = stored().await;
        // The visitor's name was only ever in the held signup. (The email's record, with
        // the address, stays for DATA_RETENTION_DAYS: it is what limits confirmations.)
        if !now.contains("Byron") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the held signup is still stored");
    // Its link confirms nothing now: nothing reaches Clover.
    let confirmed = restarted
        .client
        .post(link(mail, "http"))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(fake.customers().is_empty());
    restarted.stop().await;
}
