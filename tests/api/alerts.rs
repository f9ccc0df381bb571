//! The merchant hears of trouble by email, through a real SMTP server on loopback, and in
//! a chat channel's webhook.

use std::time::Duration;

use crate::helpers::{Config, emailing, execute_sql, spawn_app, visitor};
use crate::oauth::connect_browser;
use crate::support::fake_clover::{self, FakeClover};
use crate::support::smtp_sink::{ReceivedMail, SmtpSink};
use crate::support::webhook_receiver::WebhookReceiver;

/// An alert goes out within a look (10 s) of the trouble; the promise is a minute.
const WITHIN: Duration = Duration::from_secs(60);

fn alerting(fake: &FakeClover, sink: &SmtpSink) -> Config {
    let mut config = Config::oauth(fake, true);
    config
        .set("SMTP_URL", &sink.url())
        .set("MAIL_FROM", "Corner Café signups <signups@shop.example>")
        .set("ALERT_EMAIL", "owner@shop.example, manager@shop.example")
        .set("MERCHANT_NAME", "Corner Café")
        // Counted here: alerts alone (the digest has its own test).
        .set("DIGEST", "off");
    config
}

async fn wait_for_mails(sink: &SmtpSink, count: usize, within: Duration) -> Vec<ReceivedMail> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let received = sink.received();
        if received.len() >= count {
            return received;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} email(s) not received in {within:?}: {received:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_connection_is_alerted_once_and_cleared_once_across_a_restart() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let sink = SmtpSink::start().await;
    let chat = WebhookReceiver::start(0).await;
    let mut config = alerting(&fake, &sink);
    config.set("ALERT_WEBHOOK_URL", &chat.url);
    let app = spawn_app(&config).await;
    connect_browser(&app.client, &app.address).await;

    fake.revoke_refresh_tokens();
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.post_visitor(1).await;
    app.wait_for_auth_state("needs_authorization", Duration::from_secs(10))
        .await;

    let mails = wait_for_mails(&sink, 1, WITHIN).await;
    let alert = &mails[0];
    assert_eq!(
        alert.subject(),
        "[Corner Café] The Clover connection needs you"
    );
    assert_eq!(alert.to, ["owner@shop.example", "manager@shop.example"]);
    assert_eq!(alert.from, "signups@shop.example");
    assert!(
        alert.data.contains("Content-Type: text/plain"),
        "{}",
        alert.data
    );
    assert!(
        alert.data.contains("Content-Type: text/html"),
        "{}",
        alert.data
    );
    assert!(
        alert.data.contains("/admin"),
        "the one thing to do links the admin page"
    );
    for secret in [fake_clover::APP_SECRET, &"5e".repeat(32)] {
        assert!(!alert.data.contains(secret), "a secret in the alert email");
    }
    // The chat channel hears the same, once, in the form Slack-like webhooks take.
    let said = chat.taken();
    assert_eq!(said.len(), 1, "{said:#?}");
    let text: serde_json::Value = serde_json::from_str(&said[0].body).unwrap();
    let text = text["text"].as_str().expect("a text field");
    assert!(text.contains("The Clover connection needs you"), "{text}");

    // A restart while the trouble lasts sends nothing again.
    app.stop().await;
    let app = spawn_app(&config).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        sink.received().len(),
        1,
        "the alert was sent again after a restart"
    );

    // The merchant reconnects: one all-clear.
    connect_browser(&app.client, &app.address).await;
    let mails = wait_for_mails(&sink, 2, WITHIN).await;
    let all_clear = mails[1].subject();
    assert_eq!(
        all_clear,
        "[Corner Café] All clear: the Clover connection works again"
    );
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        sink.received().len(),
        2,
        "more than one all-clear: {all_clear}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_send_one_alert_not_two() {
    let Some(database) = crate::support::postgres::fresh_database().await else {
        return;
    };
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let sink = SmtpSink::start().await;
    let mut config = alerting(&fake, &sink);
    config.set("DATABASE_URL", &database);
    let first = spawn_app(&config).await;
    let mut second_config = config.clone();
    second_config.set("PORT", "0");
    let second = spawn_app(&second_config).await;
    connect_browser(&first.client, &first.address).await;

    fake.revoke_refresh_tokens();
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.post_visitor(1).await;
    second.post_visitor(2).await;

    wait_for_mails(&sink, 1, WITHIN).await;
    // Two more looks on each instance: still one.
    tokio::time::sleep(Duration::from_secs(22)).await;
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(
        mails[0].subject(),
        "[Corner Café] The Clover connection needs you"
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_new_signup_is_told_with_a_masked_email_when_the_merchant_asks() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let mut config = emailing(&fake, &sink, "Corner Café");
    config.set("NOTIFY_EACH_SIGNUP", "true");
    let app = spawn_app(&config).await;
    app.post_visitor(1).await;
    app.post_visitor(2).await;

    let mails = wait_for_mails(&sink, 2, Duration::from_secs(10)).await;
    let mut subjects: Vec<String> = mails.iter().map(|m| m.subject()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[Corner Café] New signup: Visitor Number 1",
            "[Corner Café] New signup: Visitor Number 2"
        ]
    );
    for mail in &mails {
        assert!(mail.data.contains("v***@example.com"), "{}", mail.data);
        assert!(!mail.data.contains("visitor1@example.com"));
        assert!(!mail.data.contains("visitor2@example.com"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_of_the_last_day_is_sent_once_at_its_hour() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let mut config = emailing(&fake, &sink, "Corner Café");
    // The day that ended at this hour, today, in UTC: due at once. It had no signups (the
    // database is new), so it is sent only because the merchant asks even for quiet ones.
    let hour = time::OffsetDateTime::now_utc().hour().to_string();
    config
        .set("DIGEST", "daily")
        .set("DIGEST_HOUR", &hour)
        .set("TIMEZONE", "UTC")
        .set("DIGEST_WHEN_QUIET", "true");
    let app = spawn_app(&config).await;
    let mails = wait_for_mails(&sink, 1, Duration::from_secs(20)).await;
    let subject = mails[0].subject();
    assert!(
        subject.starts_with("[Corner Café] Daily digest: 0 new signup(s), to "),
        "{subject}"
    );
    assert!(
        mails[0].data.contains("New signups: 0 (the day before: 0)"),
        "{}",
        mails[0].data
    );

    // Restarted, the service does not send the same day's digest again.
    app.stop().await;
    let app = spawn_app(&config).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(sink.received().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_counts_the_days_signups_by_where_they_came_from() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let mut config = emailing(&fake, &sink, "Corner Café");
    config.set("DIGEST", "off");
    let app = spawn_app(&config).await;
    let mut from_the_counter = visitor(1);
    from_the_counter["src"] = "counter".into();
    assert_eq!(app.post_json(&from_the_counter).await.status(), 202);
    app.post_visitor(2).await;
    app.stop().await;
    // Two hours ago: inside the day that ended at this hour, whatever the minute.
    execute_sql(
        &config,
        "UPDATE submissions SET received_at = received_at - 7200000",
    )
    .await;

    let hour = time::OffsetDateTime::now_utc().hour().to_string();
    config
        .set("DIGEST", "daily")
        .set("DIGEST_HOUR", &hour)
        .set("TIMEZONE", "UTC");
    let app = spawn_app(&config).await;
    let mails = wait_for_mails(&sink, 1, Duration::from_secs(20)).await;
    let digest = mails
        .iter()
        .find(|mail| mail.subject().contains("Daily digest"))
        .expect("the digest");
    assert!(
        digest.subject().contains("Daily digest: 2 new signup(s)"),
        "{}",
        digest.subject()
    );
    assert!(
        digest.data.contains("By source: counter 1, no source 1"),
        "{}",
        digest.data
    );
    app.stop().await;
}
