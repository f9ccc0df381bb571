use serde_json::json;

use crate::helpers::{Config, spawn_app, valid_form};

#[tokio::test]
async fn the_form_has_a_labelled_input_with_autocomplete_for_every_field() {
    let app = spawn_app(&Config::demo()).await;

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();

    for (name, autocomplete) in [
        ("first_name", "given-name"),
        ("last_name", "family-name"),
        ("email", "email"),
        ("phone", "tel"),
    ] {
        assert!(
            html.contains(&format!(r#"<label for="{name}">"#)),
            "no label for {name}"
        );
        assert!(
            html.contains(&format!(r#"name="{name}""#)),
            "no input {name}"
        );
        assert!(html.contains(&format!(r#"autocomplete="{autocomplete}""#)));
    }
    assert!(
        html.contains(
            r#"type="checkbox" id="marketing_consent" name="marketing_consent" value="on""#
        )
    );
    assert!(html.contains("Yes, send me news and offers by email."));
    assert!(html.contains(r#"<meta name="viewport""#));
    assert!(html.contains(r#"href="/static/style.css?v="#));
    // The only script is the optional enhancement, from this service, never inline: the
    // form itself is plain HTML (the browser tests send it with JavaScript off).
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(r#"<script src="/static/form.js?v="#));
    app.stop().await;
}

#[tokio::test]
async fn a_valid_signup_is_stored_then_the_visitor_is_sent_to_thanks() {
    let app = spawn_app(&Config::demo()).await;

    let response = app.post_form(&valid_form()).await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/thanks");
    let thanks = app.get("/thanks").await;
    assert_eq!(thanks.status(), 200);
    assert!(thanks.text().await.unwrap().contains("Thank you"));
    let status = app.status().await;
    let total = status["queue"]["pending"].as_u64().unwrap()
        + status["queue"]["delivered"].as_u64().unwrap();
    assert_eq!(total, 1);
    app.stop().await;
}

#[tokio::test]
async fn each_invalid_field_is_named_beside_itself_and_the_input_is_kept() {
    let app = spawn_app(&Config::demo()).await;
    let cases = [
        ("first_name", "", "Enter your first name."),
        (
            "first_name",
            "Ada\u{7}",
            "First name contains characters that cannot be saved.",
        ),
        (
            "last_name",
            &"L".repeat(65),
            "Last name must be at most 64 characters.",
        ),
        (
            "email",
            "ada@example",
            "Enter an email address like name@example.com.",
        ),
        ("email", "", "Enter your email address."),
        ("phone", "12345", "A phone number has 7 to 15 digits."),
        ("phone", "call me", "Enter a phone number using digits"),
    ];

    for (field, value, message) in cases {
        let mut form = valid_form();
        form.retain(|(name, _)| *name != field);
        form.push((field, value));
        let kept = if field == "email" {
            "Lovelace"
        } else {
            "ada@example.com"
        };

        let response = app.post_form(&form).await;

        assert_eq!(response.status(), 422, "{field}={value:?}");
        let html = response.text().await.unwrap();
        let error_id = format!(r#"id="{field}-error""#);
        assert!(html.contains(&error_id), "no error beside {field}");
        let described = html
            .split("aria-describedby=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .any(|ids| ids.split(' ').any(|id| id == format!("{field}-error")));
        assert!(described, "{field}'s input is not described by its error");
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(
            html.contains(message),
            "{field}={value:?}: missing {message:?}"
        );
        assert!(
            html.contains(&format!(r##"href="#{field}""##)),
            "the summary links to {field}"
        );
        assert!(html.contains("There is a problem"));
        assert!(
            html.contains(&format!(r#"value="{kept}""#)),
            "the other input was lost"
        );
    }
    let queue = &app.status().await["queue"];
    assert_eq!(queue["pending"], 0);
    assert_eq!(queue["delivered"], 0);
    app.stop().await;
}

#[tokio::test]
async fn every_error_is_shown_at_once() {
    let app = spawn_app(&Config::demo()).await;

    let response = app
        .post_form(&[
            ("first_name", ""),
            ("last_name", ""),
            ("email", "x"),
            ("phone", "1"),
        ])
        .await;

    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for field in ["first_name", "last_name", "email", "phone"] {
        assert!(
            html.contains(&format!(r#"id="{field}-error""#)),
            "{field} not reported"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_queues_a_valid_signup() {
    let app = spawn_app(&Config::demo()).await;

    let response = app
        .post_json(&json!({
            "first_name": "Ada", "last_name": "Lovelace",
            "email": "ada@example.com", "phone": "+44 20 7946 0958",
            "marketing_consent": true
        }))
        .await;

    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["id"].as_str().unwrap().len(), 36);
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_names_every_invalid_field() {
    let app = spawn_app(&Config::demo()).await;

    let response = app
        .post_json(&json!({"first_name": "", "last_name": "Lovelace", "email": "nope"}))
        .await;

    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"]["first_name"][0], "Enter your first name.");
    assert_eq!(
        body["errors"]["email"][0],
        "Enter an email address like name@example.com."
    );
    assert!(body["errors"].get("last_name").is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_refuses_what_is_not_json() {
    let app = spawn_app(&Config::demo()).await;

    let form = app
        .client
        .post(app.url("/api/signups"))
        .form(&valid_form())
        .send()
        .await
        .unwrap();
    let broken = app
        .client
        .post(app.url("/api/signups"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();

    assert_eq!(form.status(), 415);
    assert_eq!(broken.status(), 400);
    app.stop().await;
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    crate::helpers::hidden_value(html, name).unwrap_or_else(|| panic!("no hidden input {name}"))
}

async fn stored(app: &crate::helpers::TestApp) -> usize {
    app.status().await["recent"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_double_clicked_form_is_stored_once() {
    let app = spawn_app(&Config::demo()).await;
    let html = app.get("/").await.text().await.unwrap();
    let (token, form_id) = (hidden(&html, "form_token"), hidden(&html, "form_id"));
    let mut form = valid_form();
    form.push(("form_token", &token));
    form.push(("form_id", &form_id));

    let first = app.post_form(&form).await;
    let second = app.post_form(&form).await;

    assert_eq!(first.status(), 303);
    assert_eq!(second.status(), 303);
    assert_eq!(stored(&app).await, 1);
    // Another render gets another id.
    let again = app.get("/").await.text().await.unwrap();
    assert!(!again.contains(&form_id));
    app.stop().await;
}

#[tokio::test]
async fn one_served_form_stores_one_signup_and_offers_a_fresh_one_for_another() {
    let app = spawn_app(&Config::demo()).await;
    let html = app.get("/?lang=fr").await.text().await.unwrap();
    let (token, form_id) = (hidden(&html, "form_token"), hidden(&html, "form_id"));
    let with = |email: &'static str| {
        let mut form = valid_form();
        form.retain(|(name, _)| *name != "email");
        form.extend([
            ("email", email),
            ("form_token", token.as_str()),
            ("form_id", form_id.as_str()),
        ]);
        form
    };
    let post = |fields: Vec<(&'static str, &str)>| {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        app.client.post(app.url("/?lang=fr")).form(&fields).send()
    };

    let first = post(with("ada@example.com")).await.unwrap();
    let second = post(with("friend@example.com")).await.unwrap();
    let third = post(with("third@example.com")).await.unwrap();

    assert_eq!(first.status(), 303);
    assert_eq!(second.status(), 200, "the form again, not a signup");
    assert_eq!(third.status(), 200);
    assert_eq!(stored(&app).await, 1, "one served form, one signup");
    let page = second.text().await.unwrap();
    assert!(
        page.contains("Ce formulaire a déjà été envoyé"),
        "a notice in the visitor's language: {page}"
    );
    assert!(page.contains(r#"value="friend@example.com""#), "input kept");
    let (fresh_token, fresh_id) = (hidden(&page, "form_token"), hidden(&page, "form_id"));
    assert_ne!(fresh_token, token);
    assert_ne!(fresh_id, form_id);

    // The fresh form signs the friend up, once.
    let mut friend = valid_form();
    friend.retain(|(name, _)| *name != "email");
    friend.extend([
        ("email", "friend@example.com"),
        ("form_token", fresh_token.as_str()),
        ("form_id", fresh_id.as_str()),
    ]);
    assert_eq!(post(friend.clone()).await.unwrap().status(), 303);
    assert_eq!(post(friend).await.unwrap().status(), 303, "a resend");
    assert_eq!(stored(&app).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_form_id_not_served_with_its_token_is_a_bot() {
    let app = spawn_app(&Config::demo()).await;
    let one = app.get("/").await.text().await.unwrap();
    let other = app.get("/").await.text().await.unwrap();
    let token = hidden(&one, "form_token");
    let foreign_id = hidden(&other, "form_id");

    let mut swapped = valid_form();
    swapped.extend([
        ("form_token", token.as_str()),
        ("form_id", foreign_id.as_str()),
    ]);
    let mut missing = valid_form();
    missing.push(("form_token", token.as_str()));
    let missing: Vec<(String, String)> = missing
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

    assert_eq!(app.post_form(&swapped).await.status(), 303);
    let without_id = app.client.post(app.url("/")).form(&missing).send();
    assert_eq!(without_id.await.unwrap().status(), 303);
    assert_eq!(stored(&app).await, 0);
    assert_eq!(app.status().await["bots"]["bad_token"], 2);
    app.stop().await;
}

#[tokio::test]
async fn the_json_api_stores_a_retried_request_once_by_its_idempotency_key() {
    let app = spawn_app(&Config::demo()).await;
    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
    let send = || {
        app.client
            .post(app.url("/api/signups"))
            .header("Idempotency-Key", "order-7f3a9c1e")
            .json(&body)
            .send()
    };

    let first: serde_json::Value = send().await.unwrap().json().await.unwrap();
    let second: serde_json::Value = send().await.unwrap().json().await.unwrap();

    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.status().await["recent"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_reused_idempotency_key_with_other_content_is_a_new_submission() {
    let app = spawn_app(&Config::demo()).await;
    let send = |email: &'static str| {
        app.client
            .post(app.url("/api/signups"))
            .header("Idempotency-Key", "shared-key-0001")
            .json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": email}))
            .send()
    };

    let first: serde_json::Value = send("ada@example.com").await.unwrap().json().await.unwrap();
    let corrected: serde_json::Value = send("ada@example.org").await.unwrap().json().await.unwrap();

    assert_ne!(first["id"], corrected["id"]);
    assert_eq!(app.status().await["recent"].as_array().unwrap().len(), 2);
    app.stop().await;
}
