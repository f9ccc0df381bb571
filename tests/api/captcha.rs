use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};

use crate::helpers::{Config, TestApp, spawn_app, valid_form};

/// A stand-in for Cloudflare's siteverify: `good-answer` passes, anything else fails;
/// `down` makes it answer 500.
struct FakeVerifier {
    url: String,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

async fn start_verifier() -> FakeVerifier {
    let down = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (d, c) = (down.clone(), calls.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let (down, calls) = (d.clone(), c.clone());
        App::new().route(
            "/siteverify",
            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                let (down, calls) = (down.clone(), calls.clone());
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        return HttpResponse::InternalServerError().finish();
                    }
                    let field = |name: &str| {
                        form.iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.as_str())
                    };
                    let success = field("secret") == Some("turnstile-secret")
                        && field("response") == Some("good-answer");
                    HttpResponse::Ok().json(serde_json::json!({"success": success}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    FakeVerifier {
        url: format!("http://127.0.0.1:{port}/siteverify"),
        down,
        calls,
    }
}

async fn app_with_captcha(verifier: &FakeVerifier) -> TestApp {
    let mut config = Config::demo();
    config
        .set("TURNSTILE_SITE_KEY", "0x4AAAAAAA-site-key")
        .set("TURNSTILE_SECRET_KEY", "turnstile-secret")
        .set("TURNSTILE_VERIFY_URL", &verifier.url);
    spawn_app(&config).await
}

async fn stored(app: &TestApp) -> usize {
    app.status().await["recent"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_widget_is_shown_and_allowed_by_the_csp() {
    let verifier = start_verifier().await;
    let app = app_with_captcha(&verifier).await;

    let response = app.get("/").await;

    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' https://challenges.cloudflare.com"),
        "{csp}"
    );
    assert!(csp.contains("frame-src https://challenges.cloudflare.com"));
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"class="field cf-turnstile" data-sitekey="0x4AAAAAAA-site-key""#));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passed_check_is_stored_and_a_failed_one_asked_again_with_input_kept() {
    let verifier = start_verifier().await;
    let app = app_with_captcha(&verifier).await;

    let mut wrong = valid_form();
    wrong.push(("cf-turnstile-response", "bad-answer"));
    let refused = app.post_form(&wrong).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Please complete the check"));
    assert!(html.contains(r#"value="ada@example.com""#));
    assert_eq!(stored(&app).await, 0);

    let mut right = valid_form();
    right.push(("cf-turnstile-response", "good-answer"));
    assert_eq!(app.post_form(&right).await.status(), 303);
    assert_eq!(stored(&app).await, 1);
    assert_eq!(
        verifier.calls.load(Ordering::SeqCst),
        2,
        "verified once per submission"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_verifier_tells_the_visitor_and_keeps_their_input() {
    let verifier = start_verifier().await;
    verifier.down.store(true, Ordering::SeqCst);
    let app = app_with_captcha(&verifier).await;
    let mut form = valid_form();
    form.push(("cf-turnstile-response", "good-answer"));

    let response = app.post_form(&form).await;

    assert_eq!(response.status(), 503);
    let html = response.text().await.unwrap();
    assert!(html.contains("We could not complete the security check"));
    assert!(html.contains(r#"value="ada@example.com""#));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_api_needs_the_captcha_answer_too() {
    let verifier = start_verifier().await;
    let app = app_with_captcha(&verifier).await;

    let missing = app
        .post_json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": "a@b.co"}))
        .await;
    let passed = app
        .post_json(&serde_json::json!({
            "first_name": "A", "last_name": "B", "email": "a@b.co",
            "cf-turnstile-response": "good-answer"
        }))
        .await;

    assert_eq!(missing.status(), 422);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(body["errors"]["captcha"][0].is_string());
    assert_eq!(passed.status(), 202);
    app.stop().await;
}
