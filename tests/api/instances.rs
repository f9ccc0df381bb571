//! Two instances of the service, as separate processes, on one PostgreSQL database and one
//! Clover account: what a merchant running two machines relies on.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::admin::{replace_token, token_mode_without_a_token};
use crate::helpers::{Config, TEST_ADMIN_TOKEN, spawn_app, visitor};
use crate::oauth::connect_browser;
use crate::process::{Process, status};
use crate::support::fake_clover::{self, Endpoint, FakeClover, Fault};
use crate::support::postgres;

const SIGNUPS: usize = 500;
/// Every tenth signup repeats the email of one sent to the other instance just before.
const DISTINCT_EMAILS: usize = SIGNUPS - SIGNUPS / 10;

fn email_of(n: usize) -> String {
    let visitor = if n % 10 == 9 { n - 5 } else { n };
    format!("visitor{visitor}@example.com")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_deliver_every_signup_once_while_one_is_killed_halfway() {
    let Some(database) = postgres::fresh_database().await else {
        return;
    };
    let fake = FakeClover::start().await;
    // Access tokens that last 6 s, refreshed 2 s before they expire: both instances need
    // the pair refreshed many times during the run, and Clover's rotation leaves no room
    // for a refresh token spent twice.
    fake.set_access_lifetime(Duration::from_secs(6));
    let mut first_config = Config::oauth(&fake, true);
    first_config
        .set("DATABASE_URL", &database)
        .set("DELIVERY_LEASE_SECONDS", "15")
        .set("OAUTH_REFRESH_MARGIN_SECONDS", "2")
        .set("RATE_LIMIT_PER_MINUTE", "100000")
        .set("RATE_LIMIT_BURST", "100000");
    let mut second_config = first_config.clone();
    second_config.set("PORT", "0");
    let first = Process::start(&first_config);
    let second = Process::start(&second_config);

    // The merchant connects through the first; the second takes the pair from the
    // database.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    connect_browser(&browser, &first.address).await;

    // Visitors reach either machine, some of them twice.
    let client = reqwest::Client::new();
    let addresses = [first.address.clone(), second.address.clone()];
    let posts = (0..SIGNUPS).map(|n| {
        let (client, address) = (client.clone(), addresses[n % 2].clone());
        async move {
            let response = client
                .post(format!("{address}/api/signups"))
                .json(&json!({
                    "first_name": "Visitor", "last_name": format!("Number {n}"),
                    "email": email_of(n),
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        }
    });
    futures_util::stream::iter(posts)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;

    // Halfway, the machine whose turn it is to deliver dies without warning, deliveries
    // and maybe a refresh under way.
    wait_until_delivered(
        &second.address,
        SIGNUPS as u64 / 2,
        Duration::from_secs(120),
    )
    .await;
    const TURN: &str = "this instance's turn to deliver";
    let (dying, survivor) = if first.logs().contains(TURN) {
        (first, second)
    } else {
        (second, first)
    };
    let dying_logs = dying.logs();
    dying.kill_9();

    // The other takes the turn, and what the dying one had claimed once its lease runs out.
    wait_until_delivered(&survivor.address, SIGNUPS as u64, Duration::from_secs(180)).await;
    let survivor_logs = survivor.terminate();

    let customers = fake.customers();
    let mut per_email: HashMap<String, usize> = HashMap::new();
    for email in customers.iter().flat_map(|c| c.emails.iter()) {
        *per_email.entry(email.to_lowercase()).or_default() += 1;
    }
    let twice: Vec<_> = per_email.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "customers created twice: {twice:?}");
    assert_eq!(per_email.len(), DISTINCT_EMAILS, "a visitor was lost");
    assert_eq!(customers.len(), DISTINCT_EMAILS);

    let stats = fake.oauth_stats();
    assert_eq!(stats.refresh_reuse, 0, "a refresh token was spent twice");
    assert!(
        stats.refreshes >= 4,
        "too few refreshes to mean much: {stats:?}"
    );
    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "together the instances broke Clover's rules"
    );
    for (name, logs) in [("dying", &dying_logs), ("surviving", &survivor_logs)] {
        assert!(
            logs.contains(r#""message":"delivered""#),
            "the {name} instance delivered nothing"
        );
    }
    assert!(
        survivor_logs.contains(r#""instances":2"#),
        "the surviving instance never saw the other"
    );
    assert!(
        survivor_logs.contains(TURN),
        "the survivor never took the turn"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_token_entered_on_one_instance_is_used_by_the_other() {
    let Some(database) = postgres::fresh_database().await else {
        return;
    };
    let fake = FakeClover::start().await;
    let mut config = token_mode_without_a_token(&fake);
    config
        .set("DATABASE_URL", &database)
        .set("DELIVERY_LEASE_SECONDS", "15");
    let (first, second) = (spawn_app(&config).await, spawn_app(&config).await);
    assert_eq!(
        second.status().await["auth"]["state"],
        "needs_authorization"
    );

    assert_eq!(
        replace_token(&first, fake_clover::API_TOKEN).await.status(),
        303
    );
    // Only the second is left to deliver.
    first.stop().await;
    let response = second
        .post_json(&json!({"first_name": "Ada", "last_name": "Lovelace",
                           "email": "ada@example.com"}))
        .await;
    assert_eq!(response.status(), 202);

    // Within a heartbeat (a third of the lease, 5 s) the second takes the token up.
    wait_until_delivered(&second.address, 1, Duration::from_secs(20)).await;
    assert_eq!(second.status().await["auth"]["state"], "ok");
    assert_eq!(fake.customers().len(), 1);
    second.stop().await;
}

/// Waits until the instance at `address` counts `count` delivered submissions.
async fn wait_until_delivered(address: &str, count: u64, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let status = status(address, TEST_ADMIN_TOKEN).await;
        if status["queue"]["delivered"].as_u64() >= Some(count) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} not delivered in {patience:?}: {:#}",
            status["queue"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clover's per-token limit, requests a second.
const CLOVER_RATE: f64 = 16.0;
/// Signups drained in the budget tests.
const BACKLOG: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_together_use_at_least_90_percent_of_clovers_budget() {
    drain_with(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_together_use_at_least_90_percent_of_clovers_budget() {
    drain_with(3).await;
}

/// `instances` instances on one database take [`BACKLOG`] signups between them and
/// deliver them: at the rate Clover allows the token, with no early retry, no more
/// requests in flight than it allows, and each visitor created once.
async fn drain_with(instances: usize) {
    let Some(database) = postgres::fresh_database().await else {
        return;
    };
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config
        .set("DATABASE_URL", &database)
        .set("RATE_LIMIT_PER_MINUTE", "100000")
        .set("RATE_LIMIT_BURST", "100000");
    let mut apps = Vec::new();
    for _ in 0..instances {
        apps.push(spawn_app(&config).await);
    }

    let posts = (0..BACKLOG).map(|n| apps[n % instances].post_visitor(n));
    futures_util::stream::iter(posts)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    wait_until_delivered(&apps[0].address, BACKLOG as u64, Duration::from_secs(120)).await;

    let requests = fake.requests();
    let span = requests.last().unwrap().at - requests.first().unwrap().at;
    let rate = (requests.len() - 1) as f64 / span.as_secs_f64();
    eprintln!(
        "{instances} instances: {} requests in {span:.1?}, {rate:.2}/s, {:.1} % of Clover's budget",
        requests.len(),
        100.0 * rate / CLOVER_RATE
    );
    assert!(
        rate >= 0.9 * CLOVER_RATE,
        "{instances} instances used {rate:.2} requests a second of Clover's 16"
    );
    let violations = fake.violations();
    let over_rate = violations.iter().filter(|v| v.starts_with("rate:")).count();
    let others: Vec<_> = violations
        .iter()
        .filter(|v| !v.starts_with("rate:"))
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert!(over_rate <= 3, "{over_rate} requests over Clover's rate");
    let customers = fake.customers();
    let emails: std::collections::HashSet<_> =
        customers.iter().flat_map(|c| c.emails.clone()).collect();
    assert_eq!(customers.len(), BACKLOG, "a visitor created twice, or lost");
    assert_eq!(emails.len(), BACKLOG);
    for app in apps {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_clover_imposed_on_one_instance_is_kept_by_the_one_that_takes_over() {
    let Some(database) = postgres::fresh_database().await else {
        return;
    };
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config
        .set("DATABASE_URL", &database)
        .set("DELIVERY_LEASE_SECONDS", "15")
        .set("RATE_LIMIT_PER_MINUTE", "100000")
        .set("RATE_LIMIT_BURST", "100000");
    let first = Process::start(&config);
    let client = reqwest::Client::new();
    let post = |address: String, n: usize| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("{address}/api/signups"))
                .json(&visitor(n))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }
    };
    // The first instance delivers: it has the turn before the second starts.
    post(first.address.clone(), 0).await;
    wait_until_delivered(&first.address, 1, Duration::from_secs(20)).await;
    let second = Process::start(&config);

    // Clover asks for 8 s of quiet; the first dies soon after, its turn still running.
    let retry_after = Duration::from_secs(8);
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after.as_secs()),
            body: r#"{"message":"Too Many Requests"}"#.into(),
        },
    );
    for n in 1..=20 {
        post(second.address.clone(), n).await;
    }
    let limited_at = loop {
        if let Some(limited) = fake.requests().iter().find(|r| r.status == 429) {
            break limited.at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill_9();

    // The second takes the turn within about five seconds, and waits out the rest.
    wait_until_delivered(&second.address, 21, Duration::from_secs(60)).await;
    let second_logs = second.terminate();
    let after: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.at > limited_at)
        .collect();
    let waited = after[0].at - limited_at;
    assert!(
        waited >= retry_after,
        "the next request came {waited:?} after the 429"
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
    assert!(second_logs.contains("this instance's turn to deliver"));
    assert_eq!(fake.customers().len(), 21);
}
