//! The event webhook: every event signed, sent from a durable outbox until the receiver
//! takes it, never twice once taken.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Config, TestApp, spawn_app};
use crate::support::fake_clover::FakeClover;
use crate::support::webhook_receiver::{Received, WebhookReceiver, free_port};

const SECRET: &str = "event-secret-0123456789abcdefghijklmnop";

fn with_events(fake: &FakeClover, url: &str) -> Config {
    let mut config = Config::token(fake);
    config
        .set("EVENT_WEBHOOK_URL", url)
        .set("EVENT_WEBHOOK_SECRET", SECRET);
    config
}

async fn wait_for_taken(
    receiver: &WebhookReceiver,
    count: usize,
    within: Duration,
) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let taken = receiver.taken();
        if taken.len() >= count {
            return taken;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} event(s) not taken in {within:?}: {:#?}",
            receiver.received()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn body(received: &Received) -> Value {
    serde_json::from_str(&received.body).expect("an event is JSON")
}

/// The receiver's check, as docs/operations.md describes it to merchants.
fn verify(received: &Received) {
    let header = &received.headers["x-signup-signature"];
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header {header}"));
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature matches the body");
}

fn of_type<'a>(taken: &'a [Received], kind: &str) -> Vec<&'a Received> {
    taken.iter().filter(|r| body(r)["type"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_five_times_gets_each_signed_event_on_the_sixth_try() {
    let fake = FakeClover::start().await;
    let receiver = WebhookReceiver::start(5).await;
    let app = spawn_app(&with_events(&fake, &receiver.url)).await;

    app.post_visitor(1).await;
    let taken = wait_for_taken(&receiver, 2, Duration::from_secs(60)).await;

    let stored = of_type(&taken, "signup.stored");
    let delivered = of_type(&taken, "signup.delivered");
    assert_eq!((stored.len(), delivered.len()), (1, 1), "{taken:#?}");
    for event in [stored[0], delivered[0]] {
        verify(event);
        let id = &event.headers["x-signup-event-id"];
        let tries = receiver
            .received()
            .iter()
            .filter(|r| &r.headers["x-signup-event-id"] == id)
            .count();
        assert_eq!(tries, 6, "taken on the sixth try");
        assert_eq!(body(event)["id"], id.as_str());
    }
    let stored = body(stored[0]);
    assert_eq!(stored["data"]["source"], "api");
    assert!(stored["data"]["submission_id"].is_string());
    assert!(
        !stored.to_string().contains("visitor1@example.com"),
        "personal data sent without the merchant's choice: {stored}"
    );
    let delivered = body(delivered[0]);
    assert_eq!(delivered["data"]["outcome"], "created");
    assert_eq!(
        delivered["data"]["submission_id"],
        stored["data"]["submission_id"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_wait_while_the_receiver_is_down_and_none_is_sent_twice_after_a_restart() {
    let fake = FakeClover::start().await;
    let port = free_port();
    let mut config = with_events(&fake, &format!("http://127.0.0.1:{port}/hook"));
    config.set("EVENT_WEBHOOK_PERSONAL_DATA", "true");
    let app: TestApp = spawn_app(&config).await;
    app.post_visitor(7).await;
    app.wait_for_delivered(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.stop().await;

    // The receiver comes up; the service starts again on the same database.
    let receiver = WebhookReceiver::start_on(port, 0).await;
    let app = spawn_app(&config).await;
    let taken = wait_for_taken(&receiver, 2, Duration::from_secs(60)).await;
    let stored = of_type(&taken, "signup.stored");
    assert_eq!(stored.len(), 1, "{taken:#?}");
    assert_eq!(
        body(stored[0])["data"]["email"],
        "visitor7@example.com",
        "opted in"
    );
    assert_eq!(of_type(&taken, "signup.delivered").len(), 1);

    // Taken once, sent once: neither a later look nor another restart sends it again.
    app.stop().await;
    let app = spawn_app(&config).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.received().len(), 2, "{:#?}", receiver.received());
    app.stop().await;
    receiver.stop().await;
}
