use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::FakeClover;

const ADMIN_TOKEN: &str = "correct-horse-battery-staple";

async fn app_with_admin_token() -> (crate::helpers::TestApp, FakeClover) {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("ADMIN_TOKEN", ADMIN_TOKEN);
    (spawn_app(&config).await, fake)
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_token_the_admin_shows_nothing() {
    let (app, _fake) = app_with_admin_token().await;

    let page = app.get("/admin").await;
    let json = app.get("/admin/status.json").await;
    let wrong = app
        .client
        .get(app.url("/admin/status.json"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    let retry = app
        .client
        .post(app.url("/admin/retry"))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/admin/login");
    assert_eq!(json.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(retry.status(), 303);
    assert_eq!(retry.headers()["location"], "/admin/login");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_token_opens_the_status_json_in_the_contract_shape() {
    let (app, _fake) = app_with_admin_token().await;
    app.post_form(&valid_form()).await;

    let response = app
        .client
        .get(app.url("/admin/status.json"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let status: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status["mode"], "token");
    assert_eq!(status["merchant_id"], "TC4DGCJW1K4EW");
    assert_eq!(status["auth"]["state"], "ok");
    assert!(status["auth"]["access_expires_at"].is_null());
    for key in ["pending", "delivered", "failed"] {
        assert!(status["queue"][key].is_u64(), "queue.{key} missing");
    }
    let recent = &status["recent"][0];
    assert_eq!(recent["email"], "a***@example.com");
    let raw = serde_json::to_string(&status).unwrap();
    assert!(
        !raw.contains("ada@example.com"),
        "an email was shown unmasked"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_with_the_token_sets_a_strict_http_only_session_cookie() {
    let (app, _fake) = app_with_admin_token().await;

    let wrong = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let login = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Max-Age="));
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the cookie carries the token itself"
    );

    let page = app.get("/admin").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Signup status"));
    assert!(html.contains("TC4DGCJW1K4EW"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_admin_token_the_admin_is_disabled_outside_demo_mode() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.unset("ADMIN_TOKEN");
    let app = spawn_app(&config).await;

    let page = app.get("/admin").await;

    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("ADMIN_TOKEN"));
    app.stop().await;
}

#[tokio::test]
async fn demo_mode_opens_the_admin_only_on_a_loopback_address() {
    let mut config = Config::demo();
    config.set("HOST", "0.0.0.0");
    let app = spawn_app(&config).await;

    let page = app.get("/admin").await;

    assert_eq!(page.status(), 404);
    app.stop().await;
}
