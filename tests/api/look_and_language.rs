//! The merchant's look (branding variables) and the visitor's language, without a browser.

use crate::helpers::{Config, spawn_app, valid_form};

fn csp_of(response: &reqwest::Response) -> String {
    response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn get_with_language(
    app: &crate::helpers::TestApp,
    path: &str,
    accept_language: &str,
) -> String {
    reqwest::Client::new()
        .get(app.url(path))
        .header("accept-language", accept_language)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_language_follows_the_browser_then_the_query_then_the_default() {
    let mut config = Config::demo();
    config.set("DEFAULT_LANGUAGE", "fr");
    let app = spawn_app(&config).await;

    let spanish = get_with_language(&app, "/", "es-MX,es;q=0.9,en;q=0.5").await;
    assert!(spanish.contains(r#"<html lang="es">"#));
    assert!(spanish.contains("Correo electrónico"));

    let english = get_with_language(&app, "/?lang=en", "es").await;
    assert!(english.contains(r#"<html lang="en">"#));
    assert!(english.contains("Email address"));
    // A chosen language is kept by the form's post and the links.
    assert!(english.contains(r#"action="/?lang=en""#));

    let fallback = get_with_language(&app, "/", "de-DE").await;
    assert!(fallback.contains(r#"<html lang="fr">"#));

    // Every page offers every language, each named in itself.
    for name in ["English", "Español", "Français"] {
        assert!(english.contains(name), "no link to {name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn errors_and_the_thanks_page_speak_the_visitors_language() {
    let app = spawn_app(&Config::demo()).await;

    let mut form = valid_form();
    form.retain(|(name, _)| *name != "email");
    let fields = crate::helpers::with_hidden_fields(&app.client, &app.url(""), &form).await;
    let response = app
        .client
        .post(app.url("/?lang=es"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Hay un problema"),
        "the summary is in Spanish"
    );
    assert!(html.contains("Escribe tu correo electrónico."));

    let thanks = get_with_language(&app, "/thanks", "fr-CA").await;
    assert!(thanks.contains("Merci"));

    let api = app
        .client
        .post(app.url("/api/signups?lang=fr"))
        .json(&serde_json::json!({"email": "nope"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(
        body["errors"]["email"][0]
            .as_str()
            .unwrap()
            .contains("adresse e-mail")
    );
    app.stop().await;
}

#[tokio::test]
async fn the_merchants_brand_is_on_every_visitor_page() {
    let mut config = Config::demo();
    config
        .set("MERCHANT_NAME", "Corner Bakery")
        .set("FORM_TITLE", "Join the bakery club")
        .set("FORM_INTRO", "Treats on your birthday.")
        .set("LOGO_URL", "https://cdn.example.com/logo.png")
        .set("ACCENT_COLOR", "#ffd400")
        .set("PRIVACY_URL", "https://bakery.example.com/privacy")
        .set("CONSENT_TEXT", "Send me the bakery newsletter.");
    let app = spawn_app(&config).await;

    let response = app.get("/").await;
    let csp = csp_of(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Join the bakery club – Corner Bakery</title>"));
    assert!(html.contains("<h1>Join the bakery club</h1>"));
    assert!(html.contains("Treats on your birthday."));
    assert!(html.contains(r#"src="https://cdn.example.com/logo.png" alt="Corner Bakery""#));
    assert!(html.contains(r#"href="https://bakery.example.com/privacy""#));
    assert!(html.contains("Send me the bakery newsletter."));
    assert!(
        csp.contains("img-src 'self' data: https://cdn.example.com"),
        "{csp}"
    );

    // The theme: a light yellow accent gets dark text, and links a darker shade.
    let start = html.find("/static/theme.css?v=").unwrap();
    let href = &html[start..start + html[start..].find('"').unwrap()];
    let theme = app.get(href).await;
    assert_eq!(
        theme.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = theme.text().await.unwrap();
    assert!(css.contains("--accent: #ffd400"), "{css}");
    assert!(css.contains("--on-accent: #1d2428"), "{css}");
    assert!(!css.contains("--link: #ffd400"), "{css}");

    let thanks = app.get("/thanks").await.text().await.unwrap();
    assert!(thanks.contains("Thank you from Corner Bakery!"));
    assert!(thanks.contains("<title>Thank you from Corner Bakery!</title>"));

    // The merchant's words are English: a Spanish page says so to screen readers.
    let spanish = app.get("/?lang=es").await.text().await.unwrap();
    assert!(spanish.contains(r#"<h1 lang="en">Join the bakery club</h1>"#));
    assert!(spanish.contains(r#"lang="en">Send me the bakery newsletter.</label>"#));
    app.stop().await;
}

#[tokio::test]
async fn a_success_redirect_sends_the_visitor_to_the_merchants_page() {
    let mut config = Config::demo();
    config.set("SUCCESS_REDIRECT_URL", "https://bakery.example.com/welcome");
    let app = spawn_app(&config).await;

    let form = app.get("/").await;
    let csp = csp_of(&form);
    assert!(
        csp.contains("form-action 'self' https://bakery.example.com"),
        "{csp}"
    );
    let response = app.post_form(&valid_form()).await;

    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "https://bakery.example.com/welcome"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_embedded_form_may_be_framed_where_the_admin_may_not() {
    let mut config = Config::demo();
    config.set("FRAME_ANCESTORS", "https://shop.example.com");
    let app = spawn_app(&config).await;

    let embed = app.get("/embed").await;
    let csp = csp_of(&embed);
    assert!(
        csp.contains("frame-ancestors https://shop.example.com"),
        "{csp}"
    );
    let html = embed.text().await.unwrap();
    assert!(html.contains(r#"<body class="embed">"#));
    assert!(html.contains(r#"action="/embed""#));
    assert!(html.contains("/static/embed.js?v="));
    assert!(
        !html.contains("<footer"),
        "no page chrome inside the iframe"
    );

    // The admin cannot be framed, however its path is spelt.
    let encoded = app.get("/%61dmin").await;
    let csp = csp_of(&encoded);
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let admin = app.get("/admin").await;
    let csp = csp_of(&admin);
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(admin.headers()["x-frame-options"], "DENY");

    let response = app
        .client
        .post(app.url("/embed"))
        .form(&crate::helpers::with_hidden_fields(&app.client, &app.url(""), &valid_form()).await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/embed/thanks");
    let thanks = app.get("/embed/thanks").await.text().await.unwrap();
    assert!(thanks.contains(r#"<body class="embed">"#));
    app.stop().await;
}

#[tokio::test]
async fn a_missing_page_answers_in_the_visitors_language_with_the_way_back() {
    let app = spawn_app(&Config::demo()).await;

    let html = get_with_language(&app, "/signup-form", "es").await;
    assert!(html.contains("Página no encontrada"), "{html}");
    assert!(html.contains(r#"href="/""#));

    let api = app.get("/api/nothing").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.headers()["content-type"], "application/json");
    app.stop().await;
}

#[tokio::test]
async fn the_scripts_are_served_with_their_versions() {
    let app = spawn_app(&Config::demo()).await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("/static/form.js?v=").unwrap();
    let href = &html[start..start + html[start..].find('"').unwrap()];

    let script = app.get(href).await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text().await.unwrap().contains("data-form-root"));
    assert_eq!(app.get("/static/embed.js").await.status(), 200);
    app.stop().await;
}
