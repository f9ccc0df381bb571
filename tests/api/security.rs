use crate::helpers::{Config, spawn_app};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app(&Config::demo()).await;

    for (method, path) in [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/static/style.css"),
        ("GET", "/no-such-page"),
        ("POST", "/"),
        ("GET", "/admin"),
    ] {
        let response = match method {
            "GET" => app.get(path).await,
            _ => app.post_form(&[("email", "x")]).await,
        };
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("form-action 'self'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            headers["referrer-policy"],
            "strict-origin-when-cross-origin"
        );
        assert!(
            headers["permissions-policy"]
                .to_str()
                .unwrap()
                .contains("camera=()")
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "HSTS over plain http"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn https_deployments_send_hsts_and_framing_follows_frame_ancestors() {
    let mut config = Config::demo();
    config
        .set("PUBLIC_URL", "https://signup.example.com")
        .set("FRAME_ANCESTORS", "'self' https://shop.example.com");
    let app = spawn_app(&config).await;

    let response = app.get("/").await;

    let headers = response.headers();
    assert_eq!(headers["strict-transport-security"], "max-age=63072000");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://shop.example.com"),
        "{csp}"
    );
    assert!(!headers.contains_key("x-frame-options"));
    app.stop().await;
}
