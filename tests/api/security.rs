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

#[tokio::test]
async fn a_cross_site_post_is_refused_and_a_same_site_one_accepted() {
    let app = spawn_app(&Config::demo()).await;
    let fields = crate::helpers::with_hidden_fields(
        &app.client,
        &app.address,
        &crate::helpers::valid_form(),
    )
    .await;

    let evil = app
        .client
        .post(app.url("/"))
        .header("Origin", "https://evil.example")
        .form(&fields)
        .send()
        .await
        .unwrap();
    let null = app
        .client
        .post(app.url("/admin/login"))
        .header("Origin", "null")
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert_eq!(null.status(), 403);
    // A visitor who lands here after a bad link gets a page, not a bare refusal.
    let page = evil.text().await.unwrap();
    assert!(page.contains("This form can only be sent from its own page"));
    assert!(page.contains(r#"href="/""#));
    assert_eq!(app.status().await["recent"].as_array().unwrap().len(), 0);

    let own = app
        .client
        .post(app.url("/"))
        .header("Origin", app.address.as_str())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 303);
    assert_eq!(app.status().await["recent"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn listed_origins_may_call_the_json_api_from_the_browser() {
    let mut config = Config::demo();
    config.set("ALLOWED_ORIGINS", "https://shop.example.com");
    let app = spawn_app(&config).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/signups"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };

    let listed = preflight("https://shop.example.com").await.unwrap();
    let unlisted = preflight("https://evil.example").await.unwrap();

    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert!(
        !unlisted
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let posted = app
        .client
        .post(app.url("/api/signups"))
        .header("Origin", "https://shop.example.com")
        .json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": "a@b.co"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    assert_eq!(
        posted.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let refused = app
        .client
        .post(app.url("/api/signups"))
        .header("Origin", "https://evil.example")
        .json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": "c@d.co"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("ALLOWED_ORIGINS"));
    app.stop().await;
}

#[tokio::test]
async fn a_page_on_a_rebound_name_cannot_read_or_drive_the_open_demo_admin() {
    // Demo mode on loopback opens the admin without a token: only this machine's own
    // names may reach it, not a name an attacker points at 127.0.0.1.
    let app = spawn_app(&Config::demo()).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let rebound = format!("rebind.attacker.example:{port}");

    let read = app
        .client
        .get(app.url("/admin"))
        .header("Host", rebound.as_str())
        .send()
        .await
        .unwrap();
    let drive = app
        .client
        .post(app.url("/admin/retry"))
        .header("Host", rebound.as_str())
        .header("Origin", format!("http://{rebound}"))
        .send()
        .await
        .unwrap();

    assert_eq!(read.status(), 421);
    assert!(!read.text().await.unwrap().contains("Signup status"));
    assert_eq!(drive.status(), 421);
    // A page may set forwarding headers on its own requests: they name no host here.
    for (name, value) in [
        ("X-Forwarded-Host", format!("localhost:{port}")),
        ("Forwarded", format!("host=localhost:{port}")),
    ] {
        let forwarded = app
            .client
            .get(app.url("/admin/status.json"))
            .header("Host", rebound.as_str())
            .header(name, value.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(forwarded.status(), 421, "{name}: {value}");
    }
    // The machine's own names still work, and health checks answer whatever the name.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let page = app
            .client
            .get(app.url("/admin"))
            .header("Host", host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{host}");
    }
    let health = app
        .client
        .get(app.url("/healthz"))
        .header("Host", "10.0.0.7:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_origin_is_compared_with_public_url_not_with_the_host_it_names() {
    let mut config = Config::demo();
    config
        .set("HOST", "0.0.0.0")
        .set("PUBLIC_URL", "https://signup.example.com");
    let app = spawn_app(&config).await;

    // The page and the request agree with each other, but not with PUBLIC_URL.
    let response = app
        .client
        .post(app.url("/api/signups"))
        .header("Host", "signup.example.com")
        .header("Origin", "http://signup.example.com")
        .json(&serde_json::json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "an http page passed for the https site"
    );

    let own = app
        .client
        .post(app.url("/api/signups"))
        .header("Host", "signup.example.com")
        .header("Origin", "https://signup.example.com")
        .json(&serde_json::json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn the_embedded_pages_tell_only_the_configured_frame_ancestors() {
    let mut config = Config::demo();
    config.set(
        "FRAME_ANCESTORS",
        "'self' https://shop.example.com https://Other.example:8443",
    );
    let app = spawn_app(&config).await;

    for path in ["/embed", "/embed/thanks"] {
        let html = app.get(path).await.text().await.unwrap();
        assert!(
            html.contains(
                r#"data-parent-origins="'self' https://shop.example.com https://other.example:8443""#
            ) || html.contains(
                "data-parent-origins=\"&#39;self&#39; https://shop.example.com https://other.example:8443\""
            ),
            "{path}: {html}"
        );
    }
    // The script posts to those origins only, never to whoever frames the page.
    let script = app.get("/static/embed.js").await.text().await.unwrap();
    assert!(script.contains("clover-signup:complete"));
    assert!(!script.contains(r#""*""#), "{script}");
    app.stop().await;

    // Without FRAME_ANCESTORS (nobody may frame the pages), the page's own origin.
    let app = spawn_app(&Config::demo()).await;
    let html = app.get("/embed/thanks").await.text().await.unwrap();
    assert!(
        html.contains(r#"data-parent-origins="'self'""#)
            || html.contains(r#"data-parent-origins="&#39;self&#39;""#),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_container_listening_on_every_interface_still_answers_its_loopback_names() {
    // As the Docker image runs by default: HOST=0.0.0.0, PUBLIC_URL left on loopback.
    let mut config = Config::demo();
    config.set("HOST", "0.0.0.0");
    let app = spawn_app(&config).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();

    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let page = app
            .client
            .get(app.url("/"))
            .header("Host", host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{host}");
    }
    app.stop().await;
}
