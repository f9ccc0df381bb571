use std::time::Duration;

use serde_json::json;

use crate::helpers::{Config, TEST_ADMIN_TOKEN, TestApp, spawn_app, valid_form};
use crate::support::fake_clover::{self, Endpoint, FakeClover, Fault};

const DELIVERY: Duration = Duration::from_secs(15);

async fn connect(app: &TestApp) -> String {
    connect_browser(&app.client, &app.address).await
}

/// The admin's "Connect Clover" and Clover's page (the fake approves at once), stopping
/// short of the redirect back: the callback URL Clover sent the browser to.
pub async fn approve(browser: &reqwest::Client, address: &str) -> String {
    let start = browser
        .get(format!("{address}/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = browser.get(&authorize).send().await.unwrap();
    assert_eq!(
        approved.status(),
        302,
        "Clover refused the authorize request"
    );
    approved.headers()["location"].to_str().unwrap().to_owned()
}

/// [`approve`] in the app's own browser.
pub async fn approved_callback(app: &TestApp) -> String {
    approve(&app.client, &app.address).await
}

/// What a merchant's browser does: [`approve`], then the redirect back, against the
/// service at `address`. Returns the callback URL Clover sent.
pub async fn connect_browser(browser: &reqwest::Client, address: &str) -> String {
    let callback = approve(browser, address).await;
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let page = done.text().await.unwrap();
    assert!(page.contains("Clover is connected"), "{page}");
    assert!(page.contains(r#"href="/admin""#));
    callback
}

/// A connected app whose first refresh Clover carries out but answers too late (after
/// the 1 s client timeout); the 2-second access token is due for refresh on return.
async fn connected_app_that_will_lose_a_refresh_answer(with_secret: bool) -> (FakeClover, TestApp) {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    fake.push_fault(
        Endpoint::OAuthRefresh,
        Fault::ProcessThenDelay(Duration::from_secs(3)),
    );
    let app = spawn_app(&Config::oauth(&fake, with_secret)).await;
    connect(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    (fake, app)
}

async fn post_signups(app: &TestApp, count: usize, prefix: &str) {
    for n in 0..count {
        let response = app
            .post_json(&json!({
                "first_name": "Visitor", "last_name": format!("{prefix} {n}"),
                "email": format!("{prefix}{n}@example.com"),
            }))
            .await;
        assert_eq!(response.status(), 202);
    }
}

/// The connect under way is kept in the browser (a sealed cookie), so Clover's redirect
/// back completes it on whichever instance answers, here the same one after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_connect_started_before_a_restart_completes_after_it() {
    let fake = FakeClover::start().await;
    let config = Config::oauth(&fake, true);
    let app = spawn_app(&config).await;
    let callback = approved_callback(&app).await;
    let client = app.client.clone();
    app.stop().await;

    let restarted = spawn_app(&config).await;
    let path = &callback[callback.find("/oauth/callback").expect("a callback URL")..];
    let done = client.get(restarted.url(path)).send().await.unwrap();
    let status = done.status();
    let page = done.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Clover is connected"), "{page}");
    restarted.post_form(&valid_form()).await;
    restarted.wait_for_delivered(1, DELIVERY).await;
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merchant_connects_with_the_app_secret_and_signups_are_delivered() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");

    connect(&app).await;

    let status = app.status().await;
    assert_eq!(status["mode"], "oauth");
    assert_eq!(status["auth"]["state"], "ok");
    assert_eq!(status["merchant_id"], fake_clover::MERCHANT_ID);
    assert!(
        status["auth"]["access_expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(status["auth"]["refresh_expires_at"].is_string());
    let exchange = &fake.requests_to(Endpoint::OAuthToken)[0];
    let body = exchange.body.clone().unwrap();
    assert_eq!(body["client_id"], fake_clover::APP_ID);
    assert_eq!(body["client_secret"], fake_clover::APP_SECRET);
    assert!(body.get("code_verifier").is_none());
    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_trust_app_connects_with_pkce() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, false)).await;

    let start = app
        .client
        .get(app.url("/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let authorize = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert!(
        query["state"].len() >= 22,
        "state carries at least 128 bits"
    );
    assert_eq!(
        query["redirect_uri"],
        format!("{}/oauth/callback", app.address)
    );
    let approved = app.client.get(authorize).send().await.unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        app.client.get(&callback).send().await.unwrap().status(),
        200
    );

    assert_eq!(fake.oauth_stats().pkce_verified, 1);
    let body = fake.requests_to(Endpoint::OAuthToken)[0]
        .body
        .clone()
        .unwrap();
    assert!(body.get("client_secret").is_none());
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connecting_needs_the_admin() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;

    let anonymous = app.get("/oauth/connect").await;

    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/admin/login");
    assert!(fake.requests().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_missing_or_replayed_state_exchanges_nothing() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;

    // Missing: a callback in a browser that never started a connect.
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged_url = app.url(&format!(
        "/oauth/callback?code=stolen&merchant_id={}&client_id={}&state=guess",
        fake_clover::MERCHANT_ID,
        fake_clover::APP_ID
    ));
    assert_eq!(
        stranger.get(&forged_url).send().await.unwrap().status(),
        400
    );

    // Forged: this browser started a connect, but the state that comes back is not its.
    let start = app
        .client
        .get(app.url("/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = app.client.get(&authorize).send().await.unwrap();
    let mut callback = url::Url::parse(approved.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(&pairs);
    let forged = app.client.get(callback.as_str()).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(fake.oauth_stats().exchanges, 0);

    // Replayed: a completed callback sent again.
    let completed = connect(&app).await;
    assert_eq!(fake.oauth_stats().exchanges, 1);
    let replayed = app.client.get(&completed).send().await.unwrap();
    assert_eq!(replayed.status(), 400);
    assert_eq!(fake.oauth_stats().exchanges, 1);
    assert!(fake.requests_to(Endpoint::OAuthToken).len() == 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_deliveries_across_many_refreshes_never_reuse_a_refresh_token() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let mut config = Config::oauth(&fake, true);
    // All from one address here; the per-visitor limit is not under test.
    config.set("RATE_LIMIT_BURST", "1000");
    let app = spawn_app(&config).await;
    connect(&app).await;

    // Many visitors at once, from many tasks.
    let mut posters = tokio::task::JoinSet::new();
    let address = app.address.clone();
    for task in 0..10 {
        let address = address.clone();
        posters.spawn(async move {
            let client = reqwest::Client::new();
            for n in 0..50 {
                let response = client
                    .post(format!("{address}/api/signups"))
                    .json(&json!({
                        "first_name": "Load", "last_name": format!("Task {task}"),
                        "email": format!("t{task}n{n}@example.com"),
                    }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
            }
        });
    }
    while let Some(done) = posters.join_next().await {
        done.unwrap();
    }
    let status = app.wait_for_delivered(500, Duration::from_secs(150)).await;

    let stats = fake.oauth_stats();
    assert!(stats.refreshes >= 10, "only {} refreshes", stats.refreshes);
    assert_eq!(stats.refresh_reuse, 0, "a refresh token was spent twice");
    assert_eq!(status["queue"]["failed"], 0);
    assert_eq!(fake.customers().len(), 500);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_connection() {
    let fake = FakeClover::start().await;
    let config = Config::oauth(&fake, true);
    let app = spawn_app(&config).await;
    connect(&app).await;
    app.stop().await;

    let restarted = spawn_app(&config).await;

    assert_eq!(restarted.status().await["auth"]["state"], "ok");
    restarted.post_form(&valid_form()).await;
    restarted.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(fake.oauth_stats().exchanges, 1);
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_refresh_token_pauses_delivery_until_the_merchant_reconnects() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    connect(&app).await;
    fake.revoke_refresh_tokens();
    tokio::time::sleep(Duration::from_secs(2)).await;

    post_signups(&app, 3, "revoked").await;
    let status = app
        .wait_for_auth_state("needs_authorization", Duration::from_secs(5))
        .await;
    assert_eq!(status["auth"]["state"], "needs_authorization", "{status:#}");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let reason: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(reason["reason"], "clover_unavailable");
    assert!(
        !reason.to_string().contains("Reconnect"),
        "the public readiness answer tells why: {reason}"
    );
    let admin = app
        .client
        .get(app.url("/admin"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(admin.contains("Delivery to Clover is paused"));
    assert!(admin.contains(r#"href="/oauth/connect""#));
    // Visitors are still welcome, and nothing is lost.
    assert_eq!(app.post_form(&valid_form()).await.status(), 303);
    let queue = &app.status().await["queue"];
    assert_eq!(queue["pending"], 4);
    assert_eq!(queue["failed"], 0);

    connect(&app).await;

    app.wait_for_delivered(4, DELIVERY).await;
    assert_eq!(fake.customers().len(), 4);
    assert_eq!(fake.oauth_stats().refresh_reuse, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_refresh_answer_is_recovered() {
    let (fake, app) = connected_app_that_will_lose_a_refresh_answer(true).await;

    post_signups(&app, 2, "lost").await;
    app.wait_for_delivered(2, DELIVERY).await;

    let stats = fake.oauth_stats();
    assert_eq!(stats.recoveries, 1);
    assert_eq!(stats.refresh_reuse, 0);
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_token_is_migrated_at_start() {
    let fake = FakeClover::start().await;
    let mut config = Config::oauth(&fake, true);
    config
        .set("CLOVER_LEGACY_TOKEN", fake_clover::LEGACY_TOKEN)
        .set("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID);

    let app = spawn_app(&config).await;

    let stats = fake.oauth_stats();
    assert_eq!(stats.migrations, 1);
    assert_eq!(stats.exchanges, 1);
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;

    // Connected now: a restart does not migrate again.
    let restarted = spawn_app(&config).await;
    assert_eq!(fake.oauth_stats().migrations, 1);
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_secret_or_code_is_stored_in_plain_text() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let config = Config::oauth(&fake, true);
    let app = spawn_app(&config).await;
    connect(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    post_signups(&app, 2, "plain").await;
    app.wait_for_delivered(2, DELIVERY).await;
    app.stop().await;

    let secrets = secrets_seen_by(&fake);
    assert!(secrets.len() >= 4, "{secrets:?}");
    let stored = crate::helpers::stored_bytes(&config).await;
    for secret in &secrets {
        let found = stored.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{secret:?} is in the database file in plain text");
    }
}

/// Every token, code and secret that crossed the wire to the fake.
pub fn secrets_seen_by(fake: &FakeClover) -> Vec<String> {
    let mut secrets = vec![fake_clover::APP_SECRET.to_owned()];
    for request in fake.requests() {
        if let Some(bearer) = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        {
            secrets.push(bearer.to_owned());
        }
        if let Some(body) = &request.body {
            for key in ["code", "refresh_token", "auth_token"] {
                if let Some(value) = body[key].as_str() {
                    secrets.push(value.to_owned());
                }
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// A merchant opening the app from the App Market: a browser of its own, no admin session.
async fn launch(app: &TestApp, merchant: &str) -> reqwest::StatusCode {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let url = app.url(&format!("/oauth/launch?merchant_id={merchant}"));
    let start = browser.get(url).send().await.unwrap();
    assert_eq!(start.status(), 302);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = browser.get(&authorize).send().await.unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    browser.get(&callback).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_market_launch_path_connects_the_configured_merchant_and_no_other() {
    let fake = FakeClover::start().await;
    let mut config = Config::oauth(&fake, true);
    config.set("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID);
    let app = spawn_app(&config).await;

    assert_eq!(launch(&app, "OTHERMERCHANT").await, 400);
    assert_eq!(fake.oauth_stats().exchanges, 0);
    assert_eq!(launch(&app, fake_clover::MERCHANT_ID).await, 200);

    assert_eq!(app.status().await["merchant_id"], fake_clover::MERCHANT_ID);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_merchant_the_launch_path_cannot_make_the_first_connection() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;

    assert_eq!(launch(&app, fake_clover::MERCHANT_ID).await, 400);

    assert_eq!(fake.oauth_stats().exchanges, 0);
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_naming_another_merchant_than_its_token_opens_is_refused() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    let callback = approved_callback(&app).await;
    let edited = callback.replace(fake_clover::MERCHANT_ID, "VICTIMMERCHNT");

    let response = app.client.get(&edited).send().await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    assert!(app.status().await["merchant_id"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_refreshes_once_and_retries_once() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    connect(&app).await;
    // The access token is good for 30 minutes, yet Clover refuses it once.
    fake.push_fault(Endpoint::SearchCustomers, Fault::unauthorized());

    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;

    assert_eq!(fake.oauth_stats().refreshes, 1);
    // The searches of the delivery (connecting checked the token with one of its own).
    let searches: Vec<_> = fake
        .requests_to(Endpoint::SearchCustomers)
        .into_iter()
        .filter(|r| r.query_pairs().iter().any(|(k, _)| k == "filter"))
        .collect();
    assert_eq!(searches.len(), 2);
    assert_ne!(
        searches[0].header("authorization"),
        searches[1].header("authorization"),
        "the retry used the refreshed token"
    );
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_while_the_token_cannot_be_renewed_waits_with_backoff_instead_of_looping() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    connect(&app).await;
    // Clover refuses the token, and its refresh and recovery endpoints are down for a
    // while (a refresh answered 503 is recovered, not sent again).
    let down = || Fault::Status {
        status: 503,
        retry_after: None,
        body: "{}".into(),
    };
    for _ in 0..50 {
        fake.push_fault(Endpoint::SearchCustomers, Fault::unauthorized());
        fake.push_fault(Endpoint::OAuthRefresh, down());
        fake.push_fault(Endpoint::OAuthRecovery, down());
    }

    app.post_form(&valid_form()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Backoff (100-400 ms here) allows a handful of tries in 2 s, not a loop.
    let renewals = fake.requests_to(Endpoint::OAuthRefresh).len()
        + fake.requests_to(Endpoint::OAuthRecovery).len();
    assert!(
        renewals <= 8,
        "{renewals} refresh and recovery requests in 2 s"
    );
    let status = app.status().await;
    let last_error = status["recent"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(last_error.contains("unavailable"), "{status:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_trust_app_that_loses_a_refresh_answer_asks_the_merchant_instead_of_reusing() {
    let (fake, app) = connected_app_that_will_lose_a_refresh_answer(false).await;

    post_signups(&app, 1, "lowtrust").await;
    let status = app
        .wait_for_auth_state("needs_authorization", Duration::from_secs(5))
        .await;

    assert_eq!(status["auth"]["state"], "needs_authorization", "{status:#}");
    assert_eq!(status["queue"]["pending"], 1);
    let stats = fake.oauth_stats();
    assert_eq!(stats.refresh_reuse, 0);
    assert_eq!(stats.recoveries, 0);
    connect(&app).await;
    app.wait_for_delivered(1, DELIVERY).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recovery_that_fails_is_tried_again_and_the_spent_token_is_never_refreshed() {
    let (fake, app) = connected_app_that_will_lose_a_refresh_answer(true).await;
    fake.push_fault(
        Endpoint::OAuthRecovery,
        Fault::Status {
            status: 503,
            retry_after: None,
            body: r#"{"message":"Service Unavailable"}"#.into(),
        },
    );

    post_signups(&app, 1, "retried").await;
    app.wait_for_delivered(1, DELIVERY).await;

    let stats = fake.oauth_stats();
    assert_eq!(
        stats.refresh_reuse, 0,
        "the spent refresh token was used again"
    );
    assert_eq!(stats.recoveries, 1);
    // The lost refresh was followed by recoveries only (the failed one and the good one);
    // any later refresh spent the recovered pair's token, never the lost one.
    assert_eq!(fake.requests_to(Endpoint::OAuthRecovery).len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_asks_with_the_recovery_token() {
    let (fake, app) = connected_app_that_will_lose_a_refresh_answer(true).await;

    post_signups(&app, 1, "recovered").await;
    app.wait_for_delivered(1, DELIVERY).await;

    let recovery = &fake.requests_to(Endpoint::OAuthRecovery)[0];
    let body = recovery.body.clone().unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["client_id", "client_secret", "recovery_token"]);
    let refreshed = &fake.requests_to(Endpoint::OAuthRefresh)[0];
    assert_eq!(
        body["recovery_token"],
        refreshed.body.clone().unwrap()["refresh_token"],
        "the token recovered with is the one whose refresh answer was lost"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_carried_out_unseen_is_recovered_when_clover_offers_recovery() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    // Clover rotates the pair, but the answer the service sees says nothing was done.
    fake.push_fault(
        Endpoint::OAuthRefresh,
        Fault::ProcessThenStatus { status: 429 },
    );
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    connect(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    post_signups(&app, 1, "unseen").await;
    app.wait_for_delivered(1, DELIVERY).await;

    let refreshes = fake.requests_to(Endpoint::OAuthRefresh);
    assert!(refreshes.len() >= 2, "{refreshes:?}");
    assert_eq!(refreshes[1].status, 401);
    let stats = fake.oauth_stats();
    assert_eq!(stats.recoveries, 1);
    assert_eq!(
        stats.refresh_reuse, 0,
        "the spent token was refreshed again"
    );
    let spent = refreshes[0].body.clone().unwrap()["refresh_token"].clone();
    let later_uses = refreshes[2..]
        .iter()
        .filter(|r| r.body.clone().unwrap()["refresh_token"] == spent)
        .count();
    assert_eq!(later_uses, 0);
    assert_eq!(app.status().await["auth"]["state"], "ok");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recovery_asks_the_merchant_to_reconnect_and_never_refreshes_the_spent_token() {
    let (fake, app) = connected_app_that_will_lose_a_refresh_answer(true).await;
    fake.push_fault(
        Endpoint::OAuthRecovery,
        Fault::Status {
            status: 401,
            retry_after: None,
            body: r#"{"message":"Invalid recovery token"}"#.into(),
        },
    );

    post_signups(&app, 1, "refused").await;
    let status = app
        .wait_for_auth_state("needs_authorization", Duration::from_secs(10))
        .await;

    assert_eq!(status["queue"]["pending"], 1);
    assert_eq!(fake.requests_to(Endpoint::OAuthRefresh).len(), 1);
    assert_eq!(fake.oauth_stats().refresh_reuse, 0);
    connect(&app).await;
    app.wait_for_delivered(1, DELIVERY).await;
    // The new connection's tokens are refreshed as usual; the lost one never again.
    let refreshed: Vec<_> = fake
        .requests_to(Endpoint::OAuthRefresh)
        .into_iter()
        .map(|r| r.body.unwrap()["refresh_token"].clone())
        .collect();
    assert!(!refreshed[1..].contains(&refreshed[0]), "{refreshed:?}");
    assert_eq!(fake.oauth_stats().refresh_reuse, 0);
    app.stop().await;
}

/// The authorize URL a connect from `/oauth/connect` sends the browser to.
async fn authorize_query(app: &TestApp, path: &str) -> std::collections::HashMap<String, String> {
    let start = app
        .client
        .get(app.url(path))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let authorize = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    authorize.query_pairs().into_owned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorize_url_names_the_merchant_whenever_it_is_known() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    assert!(
        !authorize_query(&app, "/oauth/connect")
            .await
            .contains_key("merchant_id")
    );
    // The App Market's launch names it, as merchant_id or merchantId.
    for name in ["merchant_id", "merchantId"] {
        let path = format!(
            "/oauth/launch?{name}={}&employee_id=EMP0000000001",
            fake_clover::MERCHANT_ID
        );
        let query = authorize_query(&app, &path).await;
        assert_eq!(query["merchant_id"], fake_clover::MERCHANT_ID, "{name}");
    }
    app.stop().await;

    let mut config = Config::oauth(&fake, true);
    config.set("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID);
    let app = spawn_app(&config).await;
    let query = authorize_query(&app, "/oauth/connect").await;
    assert_eq!(query["merchant_id"], fake_clover::MERCHANT_ID);
    connect(&app).await;
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_for_another_merchant_cannot_be_approved_for_this_one() {
    let fake = FakeClover::start().await;
    let mut config = Config::oauth(&fake, true);
    config.set("CLOVER_MERCHANT_ID", "OTHERMERCHANT");
    let app = spawn_app(&config).await;

    let start = app
        .client
        .get(app.url("/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    // Clover opens the approval for the merchant named, which this login cannot reach.
    let refused = app.client.get(&authorize).send().await.unwrap();

    assert_eq!(refused.status(), 404);
    assert_eq!(fake.oauth_stats().exchanges, 0);
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_without_state_connects_nothing_even_while_a_connect_is_under_way() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    // The admin has started a connect: the browser holds its state cookie.
    let start = app
        .client
        .get(app.url("/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    // An attacker authorizes the app for their own merchant, without a state, and has
    // the admin's browser open the callback carrying their code.
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut authorize = url::Url::parse(&fake.web_base_url()).unwrap();
    authorize.set_path("/oauth/v2/authorize");
    authorize
        .query_pairs_mut()
        .append_pair("client_id", fake_clover::APP_ID)
        .append_pair("redirect_uri", &app.url("/oauth/callback"))
        .append_pair("response_type", "code");
    let approved = attacker.get(authorize).send().await.unwrap();
    let planted = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(!planted.contains("state="));

    let response = app.client.get(&planted).send().await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(
        fake.oauth_stats().exchanges,
        0,
        "the planted code was exchanged"
    );
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_attempt_lives_in_the_browser_not_in_the_server() {
    let fake = FakeClover::start().await;
    let config = Config::oauth(&fake, false);
    let app = spawn_app(&config).await;
    let callback = approved_callback(&app).await;
    let browser = app.client.clone();
    app.stop().await;

    // A new process, with nothing of the attempt in memory: the browser's cookie (PKCE
    // verifier included) completes it.
    let app = spawn_app(&config).await;
    let done = browser.get(&callback).send().await.unwrap();

    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    assert_eq!(fake.oauth_stats().pkce_verified, 1);
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_altered_connect_cookie_exchanges_nothing() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, true)).await;
    let start = app
        .client
        .get(app.url("/oauth/connect"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let cookie = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("clover_oauth_state="))
        .unwrap();
    let value = cookie["clover_oauth_state=".len()..]
        .split(';')
        .next()
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = app.client.get(&authorize).send().await.unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    let mut altered = value.to_owned().into_bytes();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let response = stranger
        .get(&callback)
        .header(
            "cookie",
            format!("clover_oauth_state={}", String::from_utf8(altered).unwrap()),
        )
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(fake.oauth_stats().exchanges, 0);
    app.stop().await;
}
