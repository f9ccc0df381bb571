use std::time::Duration;

use clover_signup::form_token::FormTokens;

use crate::helpers::{Config, TestApp, spawn_app, valid_form, with_hidden_fields};

async fn stored(app: &TestApp) -> u64 {
    let queue = &app.status().await["queue"];
    queue["pending"].as_u64().unwrap() + queue["delivered"].as_u64().unwrap()
}

#[tokio::test]
async fn the_honeypot_is_off_screen_unreachable_and_silent_to_screen_readers() {
    let app = spawn_app(&Config::demo()).await;

    let html = app.get("/").await.text().await.unwrap();

    let start = html.find(r#"<div class="hp""#).expect("a honeypot");
    let block = &html[start..start + html[start..].find("</div>").unwrap()];
    assert!(block.contains(r#"aria-hidden="true""#));
    assert!(
        block.contains(r#"type="text""#),
        "not type=hidden, which bots skip"
    );
    assert!(block.contains(r#"tabindex="-1""#));
    assert!(block.contains(r#"autocomplete="off""#));
    let css = app.get("/static/style.css").await.text().await.unwrap();
    assert!(css.contains(".hp { position: absolute; left: -10000px;"));
    app.stop().await;
}

#[tokio::test]
async fn a_filled_honeypot_gets_thanks_but_is_neither_stored_nor_delivered() {
    let app = spawn_app(&Config::demo()).await;
    let mut form = valid_form();
    form.push(("website", "http://spam.example"));

    let response = app.post_form(&form).await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/thanks");
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.status().await["bots"]["honeypot"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_form_not_served_here_is_treated_as_a_bot() {
    let app = spawn_app(&Config::demo()).await;

    for token in ["", "1700000000.bm9uY2U.Zm9yZ2Vk", "garbage"] {
        let mut form = valid_form();
        form.push(("form_token", token));
        let response = app.post_form(&form).await;
        assert_eq!(response.status(), 303);
    }
    let without_token = app
        .client
        .post(app.url("/"))
        .form(&valid_form())
        .send()
        .await
        .unwrap();

    assert_eq!(without_token.status(), 303);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.status().await["bots"]["bad_token"], 4);
    app.stop().await;
}

#[tokio::test]
async fn a_form_sent_back_faster_than_a_person_can_fill_it_is_a_bot() {
    let mut config = Config::demo();
    config.set("FORM_MIN_FILL_SECONDS", "2");
    let app = spawn_app(&config).await;
    let fields = with_hidden_fields(&app.client, &app.address, &valid_form()).await;

    let hasty = app
        .client
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(hasty.status(), 303);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.status().await["bots"]["too_fast"], 1);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let person = app
        .client
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(person.status(), 303);
    assert_eq!(stored(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_visitor_whose_form_expired_gets_it_back_with_their_input_and_a_note() {
    let fake = crate::support::fake_clover::FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("FORM_MIN_FILL_SECONDS", "2");
    let app = spawn_app(&config).await;
    // A form served three hours ago, signed with this deployment's key.
    let key = hex::decode(&config.vars()["SECRET_KEY"]).unwrap();
    let tokens = FormTokens::new(Some(&key.into()), Duration::ZERO);
    let form_id = "a-form-served-three-hours-ago";
    let old = tokens.issue(
        time::OffsetDateTime::now_utc().unix_timestamp() - 3 * 3600,
        form_id,
    );
    let mut form = valid_form();
    form.push(("form_token", &old));
    form.push(("form_id", form_id));

    let response = app.post_form(&form).await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("This form was open for a long time"));
    assert!(html.contains(r#"value="ada@example.com""#));
    assert!(!html.contains(&old), "the form needs a fresh token");
    assert_eq!(stored(&app).await, 0);
    assert!(app.status().await["bots"].get("bad_token").is_none());

    // The visitor sends it straight back: a person, not a bot, even within the minimum
    // fill time (the token config above has FORM_MIN_FILL_SECONDS=0, so set it here).
    let hidden = |name: &str| {
        let marker = format!(r#"name="{name}" value=""#);
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let (fresh, id) = (hidden("form_token"), hidden("form_id"));
    assert_eq!(id, form_id, "still the same form");
    let mut again = valid_form();
    again.push(("form_token", &fresh));
    again.push(("form_id", &id));
    assert_eq!(app.post_form(&again).await.status(), 303);
    assert_eq!(stored(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_honours_the_honeypot_too() {
    let app = spawn_app(&Config::demo()).await;

    let response = app
        .post_json(&serde_json::json!({
            "first_name": "A", "last_name": "B", "email": "a@b.co", "website": "spam"
        }))
        .await;

    assert_eq!(response.status(), 202);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.status().await["bots"]["honeypot"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_bot_posts_is_rate_limited_and_counted_at_once_then_kept_at_shutdown() {
    let mut config = Config::demo();
    config.set("RATE_LIMIT_BURST", "3");
    let app = spawn_app(&config).await;
    let mut form = valid_form();
    form.push(("website", "http://spam.example"));

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.post_form(&form).await.status().as_u16());
    }
    for _ in 0..2 {
        let json = app
            .post_json(&serde_json::json!({"email": "a@b.co", "website": "spam"}))
            .await;
        statuses.push(json.status().as_u16());
    }

    // The limiter comes first, bots included: once the burst is spent, nothing more is
    // screened, counted or written.
    assert_eq!(statuses, [303, 303, 303, 429, 429, 429, 429, 429]);
    // Counted in memory, shown at once, before any flush to the database.
    assert_eq!(app.status().await["bots"]["honeypot"], 3);
    assert_eq!(stored(&app).await, 0);
    app.stop().await;

    // Flushed when the service stopped.
    let restarted = spawn_app(&config).await;
    assert_eq!(restarted.status().await["bots"]["honeypot"], 3);
    restarted.stop().await;
}
