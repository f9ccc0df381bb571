use crate::helpers::{Config, spawn_app, valid_form};

fn limited_config() -> Config {
    let mut config = Config::demo();
    config
        .set("RATE_LIMIT_BURST", "2")
        .set("RATE_LIMIT_PER_MINUTE", "1")
        .set("CLIENT_IP_HEADER", "Fly-Client-IP");
    config
}

/// Each request on a new connection: the server hands connections to its workers in
/// turn, so a limiter that was not shared by all of them would let requests through.
async fn post_from(app: &crate::helpers::TestApp, ip: &str) -> reqwest::Response {
    let fresh_connection = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let fields =
        crate::helpers::with_hidden_fields(&fresh_connection, &app.address, &valid_form()).await;
    fresh_connection
        .post(app.url("/"))
        .header("Fly-Client-IP", ip)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_visitor_over_the_limit_gets_a_friendly_429_with_their_input_kept() {
    let app = spawn_app(&limited_config()).await;

    assert_eq!(post_from(&app, "198.51.100.7").await.status(), 303);
    assert_eq!(post_from(&app, "198.51.100.7").await.status(), 303);
    let refused = post_from(&app, "198.51.100.7").await;

    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let html = refused.text().await.unwrap();
    assert!(html.contains(&format!("Please wait {retry_after} seconds")));
    assert!(
        html.contains(r#"value="ada@example.com""#),
        "the input was lost"
    );
    let queue = &app.status().await["queue"];
    let stored = queue["delivered"].as_u64().unwrap() + queue["pending"].as_u64().unwrap();
    assert_eq!(stored, 2, "the refused submission was stored");
    app.stop().await;
}

#[tokio::test]
async fn each_visitor_address_has_its_own_allowance() {
    let app = spawn_app(&limited_config()).await;
    for _ in 0..2 {
        post_from(&app, "198.51.100.7").await;
    }

    let other_visitor = post_from(&app, "203.0.113.50").await;

    assert_eq!(other_visitor.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_shares_the_limit_and_answers_429_with_retry_after() {
    let app = spawn_app(&limited_config()).await;
    for _ in 0..2 {
        post_from(&app, "198.51.100.8").await;
    }

    let refused = app
        .client
        .post(app.url("/api/signups"))
        .header("Fly-Client-IP", "198.51.100.8")
        .json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": "a@b.co"}))
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn health_checks_and_static_files_are_never_limited() {
    let app = spawn_app(&limited_config()).await;
    for _ in 0..3 {
        post_from(&app, "127.0.0.1").await;
    }

    for _ in 0..20 {
        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(app.get("/static/style.css").await.status(), 200);
        assert_eq!(app.get("/").await.status(), 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_flood_is_answered_cheaply_and_others_are_still_served() {
    let app = spawn_app(&limited_config()).await;
    let flooder = "203.0.113.66";
    for _ in 0..2 {
        assert_eq!(post_from(&app, flooder).await.status(), 303);
    }
    // A person refused a few times still sees the form with their input.
    for _ in 0..3 {
        let refused = post_from(&app, flooder).await;
        assert_eq!(refused.status(), 429);
        assert!(refused.text().await.unwrap().contains("<form"));
    }

    // Still sending: a line of text, and the connection closed.
    let flood = post_from(&app, flooder).await;
    assert_eq!(flood.status(), 429);
    assert!(flood.headers().contains_key("retry-after"));
    assert_eq!(flood.headers()["connection"], "close");
    assert!(
        flood.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(flood.text().await.unwrap().contains("Please wait"));

    assert_eq!(post_from(&app, "198.51.100.20").await.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn a_visitor_correcting_mistakes_is_not_taken_for_a_flood() {
    let app = spawn_app(&limited_config()).await;
    let mut wrong = valid_form();
    wrong.retain(|(name, _)| *name != "email");
    wrong.push(("email", "ada@"));
    for _ in 0..4 {
        let fields = crate::helpers::with_hidden_fields(&app.client, &app.address, &wrong).await;
        let answer = app
            .client
            .post(app.url("/"))
            .header("Fly-Client-IP", "198.51.100.9")
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "a mistake was refused as too many");
    }

    assert_eq!(post_from(&app, "198.51.100.9").await.status(), 303);
    app.stop().await;
}
