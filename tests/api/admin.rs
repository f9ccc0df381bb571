use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::FakeClover;

const ADMIN_TOKEN: &str = "correct-horse-battery-staple-and-more-words";

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

pub fn token_mode_without_a_token(fake: &FakeClover) -> Config {
    let mut config = Config::token(fake);
    config.unset("CLOVER_MERCHANT_ID").unset("CLOVER_API_TOKEN");
    config
}

pub async fn replace_token(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/admin/token"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .form(&[
            ("merchant_id", crate::support::fake_clover::MERCHANT_ID),
            ("api_token", token),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merchant_enters_an_api_token_that_clover_checks_before_it_is_kept() {
    let fake = FakeClover::start().await;
    let config = token_mode_without_a_token(&fake);
    let app = spawn_app(&config).await;
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");
    assert_eq!(app.post_form(&valid_form()).await.status(), 303);

    let wrong = replace_token(&app, "not-the-token").await;
    assert_eq!(wrong.status(), 422);
    let page = wrong.text().await.unwrap();
    assert!(
        page.contains(
            "wrong token or merchant id, or the token is missing the Customers permission"
        )
    );
    assert_eq!(app.status().await["auth"]["state"], "needs_authorization");

    let right = replace_token(&app, crate::support::fake_clover::API_TOKEN).await;
    assert_eq!(right.status(), 303);
    let status = app
        .wait_for_delivered(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(status["auth"]["state"], "ok");
    assert_eq!(
        status["merchant_id"],
        crate::support::fake_clover::MERCHANT_ID
    );
    // Checked with Clover as delivery reads: a search of customers.
    let checks: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.endpoint)
        .collect();
    assert!(checks.contains(&crate::support::fake_clover::Endpoint::SearchCustomers));
    app.stop().await;

    // Kept across a restart, and not in plain text in the database.
    let restarted = spawn_app(&config).await;
    assert_eq!(restarted.status().await["auth"]["state"], "ok");
    restarted.stop().await;
    let bytes = crate::helpers::stored_bytes(&config).await;
    let token = crate::support::fake_clover::API_TOKEN.as_bytes();
    assert!(!bytes.windows(token.len()).any(|w| w == token));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_set_in_the_environment_later_wins_over_one_entered_before() {
    let fake = FakeClover::start().await;
    let config = token_mode_without_a_token(&fake);
    let app = spawn_app(&config).await;
    assert_eq!(
        replace_token(&app, crate::support::fake_clover::API_TOKEN)
            .await
            .status(),
        303
    );
    app.stop().await;

    // The operator rotates the token in the environment.
    fake.set_accepted_token("rotated-by-the-operator");
    let mut rotated = config.clone();
    rotated
        .set(
            "CLOVER_MERCHANT_ID",
            crate::support::fake_clover::MERCHANT_ID,
        )
        .set("CLOVER_API_TOKEN", "rotated-by-the-operator");
    let restarted = spawn_app(&rotated).await;

    restarted.post_form(&valid_form()).await;
    restarted
        .wait_for_delivered(1, std::time::Duration::from_secs(10))
        .await;
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_token_is_migrated_from_the_admin_page() {
    let fake = FakeClover::start().await;
    let app = spawn_app(&Config::oauth(&fake, false)).await;

    let migrated = app
        .client
        .post(app.url("/admin/migrate"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .form(&[
            ("merchant_id", crate::support::fake_clover::MERCHANT_ID),
            ("legacy_token", crate::support::fake_clover::LEGACY_TOKEN),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(migrated.status(), 303);
    let stats = fake.oauth_stats();
    assert_eq!(stats.migrations, 1);
    assert_eq!(stats.pkce_verified, 1, "a low-trust app migrates with PKCE");
    assert_eq!(app.status().await["auth"]["state"], "ok");
    app.stop().await;
}

/// Signs in at the login form; returns the session cookie (`name=value`) it set.
async fn signed_in(app: &crate::helpers::TestApp) -> String {
    let login = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token an admin page's forms carry.
fn csrf_token_of(page: &str) -> String {
    page.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_actions_from_the_browser_need_the_pages_csrf_token() {
    let (app, _fake) = app_with_admin_token().await;
    signed_in(&app).await;

    let forged = app
        .client
        .post(app.url("/admin/retry"))
        .send()
        .await
        .unwrap();
    let wrong = app
        .client
        .post(app.url("/admin/retry"))
        .form(&[("csrf_token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(wrong.status(), 403);

    let page = app.get("/admin").await.text().await.unwrap();
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("the page carries a CSRF token") + marker.len();
    let token = &page[start..start + 64];
    let genuine = app
        .client
        .post(app.url("/admin/retry"))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(genuine.status(), 303);
    assert_eq!(genuine.headers()["location"], "/admin");
    app.stop().await;
}

/// Behind Fly's proxy any instance may answer, and a deploy restarts them all: a page
/// loaded from one process must be accepted by another that shares `SECRET_KEY`.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_form_loaded_before_a_restart_is_accepted_after_it() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("ADMIN_TOKEN", ADMIN_TOKEN);
    let app = spawn_app(&config).await;
    let browser = browser_with_session(&signed_in(&app).await);
    let page = browser
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_token_of(&page);
    app.stop().await;

    let restarted = spawn_app(&config).await;
    let retry = browser
        .post(restarted.url("/admin/retry"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        retry.status(),
        303,
        "the form loaded before the restart was refused"
    );
    assert_eq!(retry.headers()["location"], "/admin");
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_the_admin_token_is_slowed_to_a_trickle() {
    let (app, _fake) = app_with_admin_token().await;
    let attempt = |token: &'static str| {
        app.client
            .post(app.url("/admin/login"))
            .form(&[("token", token)])
            .send()
    };

    for _ in 0..5 {
        assert_eq!(attempt("wrong").await.unwrap().status(), 401);
    }
    let sixth = attempt("wrong").await.unwrap();
    let even_right = attempt(ADMIN_TOKEN).await.unwrap();

    assert_eq!(sixth.status(), 429);
    assert!(sixth.headers().contains_key("retry-after"));
    assert_eq!(even_right.status(), 429);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_the_token_as_a_bearer_header_is_limited_too() {
    let (app, _fake) = app_with_admin_token().await;
    let guess = || {
        app.client
            .get(app.url("/admin/status.json"))
            .bearer_auth("guess")
            .send()
    };

    for _ in 0..5 {
        assert_eq!(guess().await.unwrap().status(), 401);
    }
    let sixth = guess().await.unwrap();

    assert_eq!(sixth.status(), 429);
    assert!(sixth.headers().contains_key("retry-after"));
    // The right token is refused too while the address is refused: it must not learn
    // which guess was right.
    let right = app
        .client
        .get(app.url("/admin/status.json"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429);
    app.stop().await;
}

/// A browser holding exactly this session cookie and nothing else.
fn browser_with_session(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_ends_the_session_even_for_a_copied_cookie_and_across_a_restart() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("ADMIN_TOKEN", ADMIN_TOKEN);
    let app = spawn_app(&config).await;
    let copied = browser_with_session(&signed_in(&app).await);
    assert_eq!(
        copied.get(app.url("/admin")).send().await.unwrap().status(),
        200
    );

    // Sign out from the page, with its CSRF token.
    let page = app.get("/admin").await.text().await.unwrap();
    let csrf = csrf_token_of(&page);
    assert!(page.contains("Sign out everywhere"));
    let out = app
        .client
        .post(app.url("/admin/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);

    let after = copied.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(after.status(), 303, "a copied cookie outlived the sign-out");
    assert_eq!(after.headers()["location"], "/admin/login");
    app.stop().await;

    let restarted = spawn_app(&config).await;
    let after_restart = copied.get(restarted.url("/admin")).send().await.unwrap();
    assert_eq!(after_restart.status(), 303);
    // Signing in again works as before.
    let again = restarted
        .client
        .post(restarted.url("/admin/login"))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(restarted.get("/admin").await.status(), 200);
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_entered_before_the_upgrade_keeps_applying_and_its_bare_hash_is_gone() {
    use clover_signup::clover::vault::EnteredToken;
    use clover_signup::storage::{SecretCipher, Storage};
    use sha2::Digest;
    let fake = FakeClover::start().await;
    fake.add_api_token("entered-on-the-admin-page", &[]);
    fake.set_api_token_permissions(
        "entered-on-the-admin-page",
        &[
            crate::support::fake_clover::CUSTOMERS_R,
            crate::support::fake_clover::CUSTOMERS_W,
        ],
    );
    let config = Config::token(&fake);
    // As an earlier version kept it: the admin's token over the environment's, with the
    // bare hash of the environment's token.
    let bare_hash = hex::encode(sha2::Sha256::digest(
        format!(
            "clover-signup env token:{}",
            crate::support::fake_clover::API_TOKEN
        )
        .as_bytes(),
    ));
    {
        let settings = config.settings();
        let db = Storage::open(&settings.database).await.unwrap();
        let cipher = SecretCipher::from_secret_key(settings.secret_key.as_ref().unwrap());
        let entered = EnteredToken {
            merchant_id: crate::support::fake_clover::MERCHANT_ID.into(),
            token: "entered-on-the-admin-page".to_owned().into(),
            replaces_env_digest: Some(bare_hash.clone()),
        };
        db.credentials()
            .save_token(&entered, &cipher)
            .await
            .unwrap();
    }

    let app = spawn_app(&config).await;
    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, std::time::Duration::from_secs(10))
        .await;
    app.stop().await;

    let create = &fake.requests_to(crate::support::fake_clover::Endpoint::CreateCustomer)[0];
    assert_eq!(
        create.header("authorization"),
        Some("Bearer entered-on-the-admin-page")
    );
    let settings = config.settings();
    let db = Storage::open(&settings.database).await.unwrap();
    let cipher = SecretCipher::from_secret_key(settings.secret_key.as_ref().unwrap());
    let kept = db.credentials().load_token(&cipher).await.unwrap().unwrap();
    let digest = kept.replaces_env_digest.unwrap();
    assert_ne!(
        digest, bare_hash,
        "the bare hash of the environment's token is kept"
    );
    assert!(digest.starts_with("hmac1:"), "{digest}");
}

/// `GET` as a script would, with the bearer token.
async fn bearer_get(app: &crate::helpers::TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

/// Waits until the one signup sent reached the fake Clover.
async fn delivered_one(app: &crate::helpers::TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status: serde_json::Value = bearer_get(app, "/admin/status.json")
            .await
            .json()
            .await
            .unwrap();
        if status["queue"]["delivered"] == 1 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_json_adds_the_dashboards_figures_to_its_contract_shape() {
    let (app, _fake) = app_with_admin_token().await;
    app.post_form(&valid_form()).await;
    delivered_one(&app).await;

    let status: serde_json::Value = bearer_get(&app, "/admin/status.json")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(status["alerts"], serde_json::json!([]));
    assert_eq!(status["time_zone"], "UTC");
    let days = status["signups_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    assert_eq!(days[29]["date"], today.to_string());
    assert_eq!(days[29]["signups"], 1);
    let times = &status["time_to_clover"];
    assert_eq!(times["delivered"], 1);
    assert!(times["median_ms"].as_i64().unwrap() >= 0);
    assert_eq!(times["median_ms"], times["slowest_ms"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_open_alerts_first_the_counts_and_the_chart_with_its_table() {
    let (app, _fake) = app_with_admin_token().await;
    app.post_form(&valid_form()).await;
    delivered_one(&app).await;

    let html = bearer_get(&app, "/admin").await.text().await.unwrap();

    assert!(html.contains("No open alerts"));
    assert!(
        html.contains("<dt>Delivered to Clover</dt><dd>1</dd>"),
        "{html}"
    );
    assert!(html.contains(r#"role="img" aria-labelledby="chart-title chart-desc""#));
    assert!(html.contains("Signups per day as a table"));
    assert!(html.contains("Time from signup to Clover"));
    assert!(html.contains(r#"action="/admin/export.csv""#));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_is_a_csv_attachment_of_the_days_asked_for_and_admin_only() {
    let (app, _fake) = app_with_admin_token().await;
    let mut form = valid_form();
    form[0] = ("first_name", "=cmd");
    app.post_form(&form).await;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let path = format!("/admin/export.csv?from={today}&to={today}");

    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), 303, "sent to the sign-in");
    let response = bearer_get(&app, &path).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"signups-{today}-to-{today}.csv\"").as_str()
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("id,received_at,source,first_name,"));
    assert_eq!(lines.len(), 2, "{body}");
    assert!(
        lines[1].contains(",form,'=cmd,Lovelace,ada@example.com,") && lines[1].contains(",yes,"),
        "{}",
        lines[1]
    );

    let yesterday = today.yesterday().unwrap();
    let empty = format!("/admin/export.csv?from={yesterday}&to={yesterday}");
    let empty = bearer_get(&app, &empty).await.text().await.unwrap();
    assert_eq!(empty.lines().count(), 1, "the header alone");
    for bad in [
        "from=2026-03-02&to=2026-03-01",
        "from=yesterday&to=today",
        "from=2026-03-01",
    ] {
        let refused = bearer_get(&app, &format!("/admin/export.csv?{bad}")).await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_by_email_shows_the_merchant_each_signup_in_full() {
    let (app, _fake) = app_with_admin_token().await;
    app.post_form(&valid_form()).await;
    delivered_one(&app).await;
    let search = |email: &'static str| {
        app.client
            .post(app.url("/admin/search"))
            .bearer_auth(ADMIN_TOKEN)
            .form(&[("email", email)])
            .send()
    };

    let found = search(" ADA@example.com ").await.unwrap();
    assert_eq!(found.status(), 200);
    let html = found.text().await.unwrap();
    assert!(html.contains("<td>ada@example.com</td>"), "{html}");
    assert!(html.contains("delivered (created)"));
    let none = search("grace@example.com")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(none.contains("No signup was stored with this email address."));

    signed_in(&app).await;
    let forged = app
        .client
        .post(app.url("/admin/search"))
        .form(&[("email", "ada@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "a browser's search needs the CSRF token"
    );
    app.stop().await;
}
