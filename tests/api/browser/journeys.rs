//! A visitor's journeys through the form in a real browser: signing up with JavaScript
//! on and off, getting it wrong, switching language, using only the keyboard, inside an
//! iframe; axe-core on every page; screenshots for the README.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use super::harness::{
    Browser, BrowserOptions, assert_no_serious_violations, describe_active_element, screenshot,
    text_of, type_into, wait_for, wait_for_path,
};
use crate::helpers::{Config, TestApp, spawn_app};
use crate::support::fake_clover::FakeClover;

const EVERY_FIELD: &str = "first_name,last_name,email,phone,birthday,address,note";

/// A merchant who uses every option, against the fake Clover.
fn branded(fake: &FakeClover) -> Config {
    let mut config = Config::token(fake);
    config
        .set("FORM_FIELDS", EVERY_FIELD)
        .set("MERCHANT_NAME", "Corner Bakery")
        .set("ACCENT_COLOR", "#8a1c7c")
        .set("PRIVACY_URL", "https://bakery.example.com/privacy");
    config
}

/// With `UPDATE_DOCS_SCREENSHOTS=1`, a screenshot also replaces the README's copy in
/// `docs/`, so the pictures there are the ones the tests just took.
pub(super) fn keep_for_readme(screenshot: &std::path::Path, docs_name: &str) {
    if std::env::var("UPDATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::copy(screenshot, docs.join(docs_name)).expect("copy a screenshot to docs/");
    }
}

async fn click(browser: &Browser, css: &str) {
    wait_for(browser, css).await.click().await.expect("click");
}

async fn attribute(browser: &Browser, css: &str, name: &str) -> Option<String> {
    wait_for(browser, css)
        .await
        .attr(name)
        .await
        .expect("read an attribute")
}

/// Waits until the element matching `css` reads `text` (a page replaced in place, or
/// inside an iframe, has no new URL to wait for).
async fn wait_for_text(browser: &Browser, css: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && element.text().await.is_ok_and(|t| t.trim() == text)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never read {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fills the whole form as a visitor would.
async fn fill_in(browser: &Browser, email: &str) {
    type_into(browser, "#first_name", "Ada").await;
    type_into(browser, "#last_name", "Lovelace").await;
    type_into(browser, "#email", email).await;
    type_into(browser, "#phone", "+44 20 7946 0000").await;
    type_into(browser, "#birthday_day", "10").await;
    type_into(browser, "#birthday_month", "12").await;
    type_into(browser, "#address1", "12 Baker Street").await;
    type_into(browser, "#city", "London").await;
    type_into(browser, "#state", "Greater London").await;
    type_into(browser, "#zip", "NW1 6XE").await;
    type_into(browser, "#country", "gb").await;
    type_into(browser, "#note", "Gluten free, please.").await;
    click(browser, "#marketing_consent").await;
}

async fn wait_for_customer(fake: &FakeClover, app: &TestApp, email: &str) {
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    let customers = fake.customers();
    let customer = customers
        .iter()
        .find(|c| c.emails.iter().any(|e| e == email))
        .unwrap_or_else(|| panic!("no customer {email} at the fake Clover"));
    assert_eq!(customer.first_name.as_deref(), Some("Ada"));
    assert_eq!(customer.metadata["dobMonth"], 12);
    assert_eq!(customer.addresses[0]["country"], "GB");
}

#[tokio::test]
async fn with_javascript_the_form_is_sent_with_fetch_and_the_customer_reaches_clover() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    let browser = Browser::open(BrowserOptions::desktop()).await;

    browser.goto(&app.url("/")).await.unwrap();
    fill_in(&browser, "ada@example.com").await;
    click(&browser, "button[type=submit]").await;

    wait_for_path(&browser, "/thanks").await;
    assert_eq!(
        text_of(&browser, "h1").await,
        "Thank you from Corner Bakery!"
    );
    wait_for_customer(&fake, &app, "ada@example.com").await;
    assert_no_serious_violations(&browser, "/thanks").await;
    screenshot(&browser, "thanks-1280").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn without_javascript_the_plain_form_signs_up_on_a_phone() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    let browser = Browser::open(BrowserOptions::phone().without_javascript()).await;

    browser.goto(&app.url("/")).await.unwrap();
    fill_in(&browser, "grace@example.com").await;
    click(&browser, "button[type=submit]").await;

    wait_for_path(&browser, "/thanks").await;
    assert_eq!(
        text_of(&browser, "h1").await,
        "Thank you from Corner Bakery!"
    );
    wait_for_customer(&fake, &app, "grace@example.com").await;
    screenshot(&browser, "thanks-375").await;
    browser.close().await;
    app.stop().await;
}

/// What a wrong submission must look like, with or without the script: the summary has
/// focus and lists each problem, each error sits beside its field and is tied to it.
async fn assert_errors_announced(browser: &Browser) {
    let summary = wait_for(browser, ".error-summary").await;
    let focused = describe_active_element(browser).await;
    assert!(focused.contains("error-summary"), "focus is on {focused}");
    let links = summary.find_all(Locator::Css("li a")).await.unwrap();
    let mut targets = Vec::new();
    for link in links {
        targets.push(link.attr("href").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        targets,
        ["#email", "#birthday_day", "#zip"],
        "summary links"
    );

    for (input, error) in [("#email", "email-error"), ("#zip", "zip-error")] {
        assert_eq!(
            attribute(browser, input, "aria-invalid").await.as_deref(),
            Some("true")
        );
        let described = attribute(browser, input, "aria-describedby")
            .await
            .unwrap_or_default();
        assert!(
            described.split(' ').any(|id| id == error),
            "{input}: {described}"
        );
    }
    assert!(
        text_of(browser, "#email-error")
            .await
            .ends_with("Enter an email address like name@example.com.")
    );
    assert!(
        text_of(browser, "#birthday-error")
            .await
            .contains("Enter a real date")
    );
    assert!(
        text_of(browser, "#zip-error")
            .await
            .contains("at most 10 characters")
    );
    // Following a link in the summary puts the keyboard in the field.
    summary
        .find(Locator::Css("li a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let focused = describe_active_element(browser).await;
    assert_eq!(focused, "input#email");
}

async fn submit_wrong(browser: &Browser) {
    type_into(browser, "#first_name", "Ada").await;
    type_into(browser, "#last_name", "Lovelace").await;
    type_into(browser, "#email", "ada-at-example.com").await;
    type_into(browser, "#birthday_day", "31").await;
    type_into(browser, "#birthday_month", "4").await;
    type_into(browser, "#address1", "1 Main St").await;
    type_into(browser, "#city", "Sunnyvale").await;
    type_into(browser, "#state", "CA").await;
    type_into(browser, "#zip", "94085-1234-5").await;
    type_into(browser, "#country", "US").await;
    click(browser, "button[type=submit]").await;
}

#[tokio::test]
async fn a_wrong_submission_without_javascript_is_announced_and_passes_axe() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    let browser = Browser::open(BrowserOptions::phone().without_javascript()).await;

    browser.goto(&app.url("/")).await.unwrap();
    submit_wrong(&browser).await;

    assert_errors_announced(&browser).await;
    assert!(browser.title().await.unwrap().starts_with("Error: "));
    let shot = screenshot(&browser, "form-errors-375").await;
    keep_for_readme(&shot, "form-phone-errors.png");
    assert_no_serious_violations(&browser, "the form with errors").await;
    assert!(fake.customers().is_empty());
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn with_javascript_errors_show_before_sending_in_the_servers_words() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    let browser = Browser::open(BrowserOptions::desktop()).await;
    browser.goto(&app.url("/")).await.unwrap();

    // Leaving a field checks it; fixing it clears the error as the visitor types.
    type_into(&browser, "#email", "ada@").await;
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Tab.to_string())
        .await
        .unwrap();
    let error = text_of(&browser, "#email-error").await;
    assert!(
        error.ends_with("Enter an email address like name@example.com."),
        "{error}"
    );
    type_into(&browser, "#email", "example.com").await;
    assert!(
        browser.find(Locator::Css("#email-error")).await.is_err(),
        "the error stays after the email was fixed"
    );
    browser.goto(&app.url("/")).await.unwrap();

    // The page must not reload: a marker set now survives only if it does not.
    wait_for(&browser, "form").await;
    browser
        .execute("window.stillHere = true;", vec![])
        .await
        .unwrap();
    submit_wrong(&browser).await;
    assert_errors_announced(&browser).await;
    let same_page = browser
        .execute("return window.stillHere === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the page reloaded");
    screenshot(&browser, "form-errors-1280").await;

    // The server's own check, after the script's: an email the script lets through.
    browser.goto(&app.url("/")).await.unwrap();
    browser
        .execute("window.stillHere = true;", vec![])
        .await
        .unwrap();
    type_into(&browser, "#first_name", "Ada").await;
    type_into(&browser, "#last_name", "Lovelace").await;
    type_into(&browser, "#email", "ada@example..com").await;
    click(&browser, "button[type=submit]").await;
    let summary = wait_for(&browser, ".error-summary").await;
    assert!(
        summary
            .text()
            .await
            .unwrap()
            .contains("Enter an email address like")
    );
    let focused = describe_active_element(&browser).await;
    assert!(focused.contains("error-summary"), "focus is on {focused}");
    let same_page = browser
        .execute("return window.stillHere === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "the answer replaced the page");
    assert_no_serious_violations(&browser, "the form with errors from the server").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_language_follows_the_browser_and_the_links() {
    crate::require_browser!();
    let app = spawn_app(&Config::demo()).await;
    let browser = Browser::open(BrowserOptions::phone().accept_language("es-MX,es")).await;

    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(
        text_of(&browser, "label[for=email]").await,
        "Correo electrónico"
    );
    assert_eq!(
        attribute(&browser, "html", "lang").await.as_deref(),
        Some("es")
    );
    // The script checks in Spanish too.
    click(&browser, "button[type=submit]").await;
    assert_eq!(
        text_of(&browser, ".error-summary h2").await,
        "Hay un problema"
    );
    let shot = screenshot(&browser, "form-es-375").await;
    keep_for_readme(&shot, "form-phone-spanish.png");

    click(&browser, "a[hreflang=fr]").await;
    wait_for(&browser, "html[lang=fr]").await;
    assert_eq!(
        text_of(&browser, "label[for=email]").await,
        "Adresse e-mail"
    );
    assert_eq!(
        attribute(&browser, "a[hreflang=fr]", "aria-current")
            .await
            .as_deref(),
        Some("true")
    );

    browser.goto(&app.url("/?lang=en")).await.unwrap();
    assert_eq!(text_of(&browser, "label[for=email]").await, "Email address");
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_keyboard_alone_is_enough_to_sign_up() {
    crate::require_browser!();
    let app = spawn_app(&Config::demo()).await;
    let browser = Browser::open(BrowserOptions::desktop()).await;
    browser.goto(&app.url("/")).await.unwrap();
    wait_for(&browser, "form").await;

    // From the top of the page, Tab reaches the fields in order, skipping the honeypot.
    let mut order = Vec::new();
    let body = browser.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    for _ in 0..7 {
        order.push(describe_active_element(&browser).await);
        let typed = match order.last().map(String::as_str) {
            Some("input#first_name") => "Ada",
            Some("input#last_name") => "Lovelace",
            Some("input#email") => "keys@example.com",
            _ => "",
        };
        let mut keys = typed.to_owned();
        keys.push_str(&Key::Tab.to_string());
        browser
            .active_element()
            .await
            .unwrap()
            .send_keys(&keys)
            .await
            .unwrap();
    }
    assert_eq!(
        order,
        [
            "input#first_name",
            "input#last_name",
            "input#email",
            "input#phone",
            "input#marketing_consent",
            "button.button",
            "a",
        ]
    );
    // Back to the button, and Enter sends the form.
    wait_for(&browser, "button[type=submit]")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_for_path(&browser, "/thanks").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_form_fits_a_320_pixel_screen_and_200_percent_zoom() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    // 320 CSS pixels is also a 1280-pixel window at 400 % zoom; 640 is it at 200 %.
    for width in [320, 640] {
        let browser = Browser::open(BrowserOptions::sized(width, 700)).await;
        browser.goto(&app.url("/")).await.unwrap();
        wait_for(&browser, "form").await;
        let overflow = browser
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(overflow, json!(0), "sideways scrolling at {width} px");
        browser.close().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_embedded_form_resizes_its_iframe_and_passes_axe() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    // The merchant's page, on another origin, with the snippet of docs/form.md.
    let shop = ShopPage::start().await;
    let mut config = branded(&fake);
    // Messages go to each origin listed; the shop's is not the first.
    config.set(
        "FRAME_ANCESTORS",
        &format!("https://elsewhere.example {}", shop.origin),
    );
    let app = spawn_app(&config).await;
    shop.set_form_url(&app.url("/embed"));
    let browser = Browser::open(BrowserOptions::desktop()).await;

    browser.goto(&app.url("/embed")).await.unwrap();
    wait_for(&browser, "body.embed form").await;
    assert_no_serious_violations(&browser, "/embed").await;
    screenshot(&browser, "embed-1280").await;

    browser.goto(&shop.origin).await.unwrap();
    let frame = wait_for(&browser, "iframe#clover-signup").await;
    // The snippet starts the iframe 100 px tall; the form tells it its real height.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let height = browser
            .execute(
                "return document.getElementById('clover-signup').getBoundingClientRect().height;",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap_or_default();
        if height > 600.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the iframe stayed {height} px tall"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Signing up inside the iframe ends on the iframe's thanks page.
    frame.enter_frame().await.unwrap();
    fill_in(&browser, "frame@example.com").await;
    click(&browser, "button[type=submit]").await;
    wait_for_text(&browser, "body.embed h1", "Thank you from Corner Bakery!").await;
    wait_for_customer(&fake, &app, "frame@example.com").await;
    // The page around it was told, by a message addressed to its origin.
    browser.enter_parent_frame().await.unwrap();
    wait_for(&browser, "body[data-signup-complete]").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn screenshots_and_axe_of_the_form_at_both_widths() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let app = spawn_app(&branded(&fake)).await;
    for (options, name) in [
        (BrowserOptions::phone(), "form-375"),
        (BrowserOptions::desktop(), "form-1280"),
    ] {
        let browser = Browser::open(options).await;
        browser.goto(&app.url("/")).await.unwrap();
        wait_for(&browser, "form").await;
        assert_no_serious_violations(&browser, "the signup form").await;
        let shot = screenshot(&browser, name).await;
        if name == "form-1280" {
            keep_for_readme(&shot, "form-desktop.png");
        }
        browser.goto(&app.url("/no-such-page")).await.unwrap();
        wait_for(&browser, "h1").await;
        assert_no_serious_violations(&browser, "the 404 page").await;
        browser.close().await;
    }
    app.stop().await;
}

/// The merchant's own page, served from another loopback port: an iframe of the form
/// with the resize listener from docs/form.md.
struct ShopPage {
    origin: String,
    form_url: std::sync::Arc<std::sync::Mutex<String>>,
    _server: actix_web::dev::ServerHandle,
}

impl ShopPage {
    async fn start() -> Self {
        use actix_web::{App, HttpServer, web};
        let form_url = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let shared = web::Data::from(form_url.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/", web::get().to(shop_page))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            origin,
            form_url,
            _server: handle,
        }
    }

    fn set_form_url(&self, url: &str) {
        *self.form_url.lock().unwrap() = url.to_owned();
    }
}

async fn shop_page(
    form_url: actix_web::web::Data<std::sync::Mutex<String>>,
) -> actix_web::HttpResponse {
    let src = form_url.lock().unwrap().clone();
    let form_origin = src.split("/embed").next().unwrap_or_default().to_owned();
    actix_web::HttpResponse::Ok()
        .content_type("text/html")
        .body(
            SHOP_PAGE
                .replace("FORM_URL", &src)
                .replace("FORM_ORIGIN", &form_origin),
        )
}

const SHOP_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Corner Bakery</title></head>
<body>
<h1>Corner Bakery</h1>
<iframe id="clover-signup" src="FORM_URL" title="Sign up"
        style="width: 100%; max-width: 34rem; border: 0; height: 100px"></iframe>
<script>
  window.addEventListener("message", function (event) {
    if (event.origin !== "FORM_ORIGIN") return;
    var frame = document.getElementById("clover-signup");
    if (event.data && event.data.type === "clover-signup:resize") {
      frame.style.height = event.data.height + "px";
    }
    if (event.data && event.data.type === "clover-signup:complete") {
      document.body.setAttribute("data-signup-complete", "");
    }
  });
</script>
</body></html>"#;
