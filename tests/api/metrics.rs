//! `/metrics`: never public, read as Prometheus reads it, and telling what happened.

use std::time::Duration;

use prometheus_parse::{Sample, Value};
use serde_json::json;

use crate::helpers::{Config, TestApp, spawn_app, valid_form, with_hidden_fields};
use crate::support::fake_clover::{Endpoint, FakeClover, Fault};

pub(crate) const METRICS_TOKEN: &str = "test-metrics-token-0123456789abcdef-xyz";
const DELIVERY: Duration = Duration::from_secs(15);

fn with_metrics(mut config: Config) -> Config {
    config.set("METRICS_TOKEN", METRICS_TOKEN);
    config
}

/// A scrape with the right token, parsed by a Prometheus text-format parser.
pub(crate) async fn scrape(app: &TestApp) -> Vec<Sample> {
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines)
        .expect("the Prometheus text format")
        .samples
}

/// The value of the one series `name{labels}`; it must be there.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?} in {samples:#?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a number: {other:?}"),
    }
}

/// The sum over every series of `name` whose labels include `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a number: {other:?}"),
        })
        .sum()
}

/// A valid signup from someone else than `valid_form`'s.
fn other(name: &'static str) -> Vec<(&'static str, &'static str)> {
    let email: &'static str = format!("{name}@example.com").leak();
    let mut form = valid_form();
    form.retain(|(field, _)| *field != "email");
    form.push(("email", email));
    form
}

fn signups(samples: &[Sample], outcome: &str, source: &str) -> f64 {
    value(
        samples,
        "clover_signup_signups_total",
        &[("outcome", outcome), ("source", source)],
    )
}

#[tokio::test]
async fn without_metrics_token_there_is_no_metrics_page() {
    let app = spawn_app(&Config::demo()).await;

    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_scrape_without_the_right_token_is_refused() {
    let app = spawn_app(&with_metrics(Config::demo())).await;

    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body = anonymous.text().await.unwrap();
    assert!(!body.contains("clover_signup"), "{body}");
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&METRICS_TOKEN[1..])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Nor does the admin's token open it.
    let admin = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 401);

    let samples = scrape(&app).await;
    assert_eq!(value(&samples, "clover_signup_database_up", &[]), 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signups_and_their_deliveries_are_counted_by_door_and_outcome() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&with_metrics(Config::token(&fake))).await;

    app.post_form(&valid_form()).await;
    let embedded = with_hidden_fields(&app.client, &app.address, &other("grace")).await;
    let response = app.client.post(app.url("/embed")).form(&embedded).send();
    assert_eq!(response.await.unwrap().status(), 303);
    let api = app
        .post_json(&json!({
            "first_name": "Alan", "last_name": "Turing", "email": "alan@example.com",
        }))
        .await;
    assert_eq!(api.status(), 202);
    let invalid = app.post_form(&[("email", "not an email")]).await;
    assert_eq!(invalid.status(), 422);
    let mut bot = valid_form();
    bot.push(("website", "http://spam.example"));
    app.post_form(&bot).await;
    app.wait_for_delivered(3, DELIVERY).await;

    let samples = scrape(&app).await;
    assert_eq!(signups(&samples, "stored", "form"), 1.0);
    assert_eq!(signups(&samples, "stored", "embed"), 1.0);
    assert_eq!(signups(&samples, "stored", "api"), 1.0);
    assert_eq!(signups(&samples, "invalid", "form"), 1.0);
    assert_eq!(signups(&samples, "bot", "form"), 1.0);
    assert_eq!(signups(&samples, "rate_limited", "api"), 0.0);
    let bots = "clover_signup_bots_total";
    assert_eq!(value(&samples, bots, &[("reason", "honeypot")]), 1.0);
    assert_eq!(value(&samples, bots, &[("reason", "too_fast")]), 0.0);
    let deliveries = "clover_signup_deliveries_total";
    assert_eq!(value(&samples, deliveries, &[("outcome", "created")]), 3.0);
    for outcome in ["updated", "linked", "failed", "retried"] {
        assert_eq!(value(&samples, deliveries, &[("outcome", outcome)]), 0.0);
    }
    // A search and a create for each, all answered.
    let requests = "clover_signup_clover_requests_total";
    let answered = total(&samples, requests, &[("class", "2xx")]);
    assert!(answered >= 6.0, "{answered} requests answered 2xx");
    assert_eq!(total(&samples, requests, &[]), answered);
    let timed = value(
        &samples,
        "clover_signup_clover_request_duration_seconds_count",
        &[("class", "2xx")],
    );
    assert_eq!(timed, answered, "every answered request is timed");
    assert_eq!(
        value(&samples, "clover_signup_clover_rate_limited_total", &[]),
        0.0
    );
    let depth = "clover_signup_queue_depth";
    assert_eq!(value(&samples, depth, &[("state", "pending")]), 0.0);
    assert_eq!(value(&samples, depth, &[("state", "failed")]), 0.0);
    let age = "clover_signup_queue_oldest_pending_age_seconds";
    assert_eq!(value(&samples, age, &[]), 0.0);
    let state = "clover_signup_auth_state";
    assert_eq!(value(&samples, state, &[("state", "ok")]), 1.0);
    assert_eq!(value(&samples, state, &[("state", "failing")]), 0.0);
    assert_eq!(value(&samples, "clover_signup_alerts_open", &[]), 0.0);
    // A static token has no refresh token to run out.
    assert!(
        !samples.iter().any(|s| s.metric.contains("refresh_expires")),
        "{samples:#?}"
    );
    // No visitor's data in any label.
    for sample in &samples {
        let labels = format!("{:?}", sample.labels);
        for personal in ["ada@", "grace@", "alan@", "Lovelace", "127.0.0.1"] {
            assert!(!labels.contains(personal), "{labels}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signups_waiting_on_a_refused_credential_show_in_the_queue_and_auth_state() {
    let fake = FakeClover::start().await;
    fake.set_accepted_token("another-token-than-the-one-configured");
    let app = spawn_app(&with_metrics(Config::token(&fake))).await;

    app.post_form(&valid_form()).await;
    app.post_form(&other("grace")).await;
    app.wait_for_auth_state("failing", DELIVERY).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let samples = scrape(&app).await;
    let depth = "clover_signup_queue_depth";
    assert_eq!(value(&samples, depth, &[("state", "pending")]), 2.0);
    assert_eq!(value(&samples, depth, &[("state", "failed")]), 0.0);
    let age = value(
        &samples,
        "clover_signup_queue_oldest_pending_age_seconds",
        &[],
    );
    assert!((1.0..60.0).contains(&age), "oldest waited {age} s");
    let state = "clover_signup_auth_state";
    assert_eq!(value(&samples, state, &[("state", "failing")]), 1.0);
    assert_eq!(value(&samples, state, &[("state", "ok")]), 0.0);
    let refused = total(
        &samples,
        "clover_signup_clover_requests_total",
        &[("class", "4xx"), ("code", "401")],
    );
    assert!(refused >= 1.0, "{refused} answers 401");
    assert_eq!(signups(&samples, "stored", "form"), 2.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_from_clover_is_counted() {
    let fake = FakeClover::start().await;
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            body: r#"{"message":"Too Many Requests"}"#.into(),
        },
    );
    let app = spawn_app(&with_metrics(Config::token(&fake))).await;

    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;

    let samples = scrape(&app).await;
    assert_eq!(
        value(&samples, "clover_signup_clover_rate_limited_total", &[]),
        1.0
    );
    let limited = value(
        &samples,
        "clover_signup_clover_requests_total",
        &[("class", "4xx"), ("code", "429")],
    );
    assert_eq!(limited, 1.0);
    // Waited out within the call: the delivery itself was not retried.
    let deliveries = "clover_signup_deliveries_total";
    assert_eq!(value(&samples, deliveries, &[("outcome", "created")]), 1.0);
    assert_eq!(value(&samples, deliveries, &[("outcome", "retried")]), 0.0);
    app.stop().await;
}
