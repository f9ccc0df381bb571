use crate::helpers::{Config, spawn_app};

#[tokio::test]
async fn healthz_answers_ok_and_readyz_reports_ready() {
    let app = spawn_app(&Config::demo()).await;

    let health = app.get("/healthz").await;
    let ready = app.get("/readyz").await;

    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    app.stop().await;
}

#[tokio::test]
async fn the_versioned_stylesheet_is_cached_for_a_year_and_an_unversioned_one_briefly() {
    let app = spawn_app(&Config::demo()).await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("/static/style.css?v=").unwrap();
    let href = &html[start..html[start..].find('"').unwrap() + start];

    let versioned = app.get(href).await;
    let unversioned = app.get("/static/style.css").await;

    assert_eq!(versioned.status(), 200);
    assert_eq!(
        versioned.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert_eq!(
        versioned.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        unversioned.headers()["cache-control"],
        "public, max-age=300"
    );
    let etag = versioned.headers()["etag"].to_str().unwrap().to_owned();
    let revalidated = app
        .client
        .get(app.url(href))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_page_is_a_helpful_404() {
    let app = spawn_app(&Config::demo()).await;

    let response = app.get("/no-such-page").await;

    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(html.contains(r#"href="/""#));
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(&Config::demo()).await;

    let first = app.get("/").await;
    let second = app.get("/healthz").await;

    let id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(id(&first).len() >= 10, "{}", id(&first));
    assert_ne!(id(&first), id(&second), "request ids repeat");
    app.stop().await;
}
