//! The merchant's dashboard in a real browser, with a month of signups and an open alert:
//! axe-core on it with the chart's table open, the keyboard reaching that table, and the
//! README's pictures of the dashboard and of an alert email.

use std::time::Duration;

use clover_signup::alerts::message::{Facts, Occasion, compose};
use clover_signup::alerts::{Finding, Trouble};
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use base64::Engine as _;

use super::harness::{
    Browser, BrowserOptions, assert_no_serious_violations, cdp, describe_active_element,
    screenshot, screenshot_dir, text_of, type_into, wait_for, wait_for_path,
};
use super::journeys::keep_for_readme;
use crate::helpers::{Config, TEST_ADMIN_TOKEN, TestApp, spawn_app};
use crate::support::fake_clover::FakeClover;
use crate::support::smtp_sink::SmtpSink;

const DAY_MS: i64 = 86_400_000;

/// Signups on each of the last 30 days, oldest first: busier at weekends, growing.
const PER_DAY: [usize; 30] = [
    1, 2, 1, 4, 6, 2, 1, 2, 3, 2, 5, 7, 3, 2, 3, 2, 4, 6, 9, 4, 3, 4, 3, 5, 8, 10, 5, 4, 5, 3,
];

const NAMES: [(&str, &str); 8] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Frances", "Allen"),
];

/// Runs `sql` on the app's database behind its back, to date signups in the past.
async fn execute(config: &Config, sql: &str) {
    let url = config.vars()["DATABASE_URL"].clone();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection.busy_timeout(Duration::from_secs(10)).unwrap();
        connection.execute_batch(sql).unwrap();
        return;
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let running = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    running.await.unwrap().unwrap();
}

/// A month of signups, delivered within seconds, two of them failed for good.
async fn a_month_of_signups(app: &TestApp, config: &Config) {
    let total: usize = PER_DAY.iter().sum();
    for n in 0..total {
        let (first, last) = NAMES[n % NAMES.len()];
        let email = format!("{}.{}{n}@example.com", first, last).to_lowercase();
        let body = json!({"first_name": first, "last_name": last, "email": email,
                          "marketing_consent": n % 3 != 0});
        assert_eq!(app.post_json(&body).await.status(), 202);
    }
    app.wait_for_delivered(total as u64, Duration::from_secs(60))
        .await;
    let now = jiff::Timestamp::now().as_millisecond();
    let today = now - now % DAY_MS;
    let mut sql = String::new();
    let mut n = 0;
    for (day, count) in PER_DAY.iter().enumerate() {
        for i in 0..*count {
            let days_ago = (PER_DAY.len() - 1 - day) as i64;
            // Spread over as much of the (UTC) day as today has had, so never later
            // than now nor on another day.
            let share = (now - today) * (i as i64 + 1) / (*count as i64 + 1);
            let received = today - days_ago * DAY_MS + share;
            let taking = 800 + (n as i64 * 613) % 4_000 + if n % 17 == 0 { 95_000 } else { 0 };
            let email = {
                let (first, last) = NAMES[n % NAMES.len()];
                format!("{}.{}{n}@example.com", first, last).to_lowercase()
            };
            sql.push_str(&format!(
                "UPDATE submissions SET received_at = {received}, delivered_at = {}
                 WHERE email = '{email}';\n",
                received + taking
            ));
            n += 1;
        }
    }
    // Two that Clover refused: they wait for the merchant, and the watcher alerts.
    sql.push_str(
        "UPDATE submissions SET state = 'failed', delivered_at = NULL, clover_customer_id = NULL,
             outcome = NULL, attempts = 1,
             last_error = 'Clover rejected the phone number: too many digits'
         WHERE email IN ('grace.hopper1@example.com', 'alan.turing2@example.com');",
    );
    execute(config, &sql).await;
}

/// Reloads `/admin` until the watcher's alert shows (it looks every 10 seconds).
async fn wait_for_alert(browser: &Browser, app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        browser.goto(&app.url("/admin")).await.unwrap();
        if browser.find(Locator::Css(".alert-list li")).await.is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no open alert shown within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A PNG of the page down to the fifth of the latest submissions: the README's picture,
/// without the 45 lines after it.
async fn top_of_page(browser: &Browser, name: &str) -> std::path::PathBuf {
    let bottom = browser
        .execute(
            "const row = document.querySelector('h2 + .table-scroll tbody tr:nth-child(5)');
             return row.getBoundingClientRect().bottom + window.scrollY + 24;",
            vec![],
        )
        .await
        .unwrap();
    let (width, _) = browser.viewport().await;
    let shot = cdp(
        browser,
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": { "x": 0, "y": 0, "width": width, "height": bottom, "scale": 1 },
        }),
    )
    .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

#[tokio::test]
async fn the_dashboard_with_a_month_of_signups_passes_axe_and_is_pictured() {
    crate::require_browser!();
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let mut config = Config::token(&fake);
    config
        .set("MERCHANT_NAME", "Corner Bakery")
        // A month of signups, sent in a second from one address.
        .set("RATE_LIMIT_BURST", "1000")
        // An alert channel, without which no alert is raised.
        .set("SMTP_URL", &sink.url())
        .set(
            "MAIL_FROM",
            "Corner Bakery signups <signups@cornerbakery.example>",
        )
        .set("ALERT_EMAIL", "owner@cornerbakery.example")
        .set("DIGEST", "off");
    let app = spawn_app(&config).await;
    a_month_of_signups(&app, &config).await;
    let browser = Browser::open(BrowserOptions::desktop()).await;
    browser.goto(&app.url("/admin/login")).await.unwrap();
    type_into(&browser, "#token", TEST_ADMIN_TOKEN).await;
    wait_for(&browser, "button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_for_path(&browser, "/admin").await;

    wait_for_alert(&browser, &app).await;
    assert_eq!(
        text_of(&browser, ".alert-list li strong").await,
        "Signups could not be delivered to Clover"
    );
    assert_eq!(text_of(&browser, ".tile-failed dd").await, "2");
    // The alert is recorded, then sent: the email may follow the page by a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.received().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = sink.received();
    assert_eq!(
        mails[0].subject(),
        "[Corner Bakery] Signups could not be delivered to Clover",
        "the email pictured beside the dashboard is the one sent"
    );
    screenshot(&browser, "admin-dashboard-1280").await;
    let shot = top_of_page(&browser, "admin-dashboard-top-1280").await;
    keep_for_readme(&shot, "admin-dashboard.png");
    assert_no_serious_violations(&browser, "the dashboard").await;

    // The keyboard reaches the chart's table and opens it.
    let body = browser.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let mut tabs = 0;
    while describe_active_element(&browser).await != "summary" {
        tabs += 1;
        assert!(tabs < 40, "Tab never reached the chart's table");
        browser
            .active_element()
            .await
            .unwrap()
            .send_keys(&Key::Tab.to_string())
            .await
            .unwrap();
    }
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_for(&browser, "details.chart-table[open]").await;
    let mut shown = 0;
    for cell in browser
        .find_all(Locator::Css(".chart-table tbody td"))
        .await
        .unwrap()
    {
        shown += cell.text().await.unwrap().parse::<usize>().unwrap();
    }
    assert_eq!(
        shown,
        PER_DAY.iter().sum::<usize>(),
        "every signup in the table"
    );
    assert_no_serious_violations(&browser, "the dashboard with the chart's table").await;
    browser.close().await;
    app.stop().await;
}

/// The alert email's HTML part, as `compose` writes it for the dashboard's alert, shown
/// as a mail client would, under its subject.
#[tokio::test]
async fn an_alert_email_is_pictured() {
    crate::require_browser!();
    let finding = Finding {
        trouble: Trouble::FailedSignups,
        detail: "2 signup(s) could not be delivered and wait for you.".into(),
    };
    let message = compose(&Facts {
        shop: "Corner Bakery",
        trouble: Trouble::FailedSignups,
        finding: Some(&finding),
        occasion: Occasion::Opened,
        since: time::macros::datetime!(2026-03-14 09:41 UTC),
        waiting: 0,
        admin_url: "https://signup.cornerbakery.example/admin",
    });
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{subject}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:0;background:#eef1f3;color:#1d2428}}\
         header{{background:#fff;padding:16px 24px;border-bottom:1px solid #d5dadd}}\
         header p{{margin:2px 0;color:#56606a}} h1{{font-size:20px;margin:0 0 8px}}\
         main{{background:#fff;margin:16px 24px;padding:8px 24px;border-radius:6px}}</style>\
         </head><body><header><h1>{subject}</h1>\
         <p>From: clover-signup &lt;alerts@cornerbakery.example&gt;</p>\
         <p>To: owner@cornerbakery.example</p></header><main>{html}</main></body></html>",
        subject = message.subject,
        html = message.html,
    );
    let browser = Browser::open(BrowserOptions::sized(720, 420)).await;
    let url = format!(
        "data:text/html;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(page)
    );
    browser.goto(&url).await.unwrap();
    assert_eq!(
        text_of(&browser, "h1").await,
        "[Corner Bakery] Signups could not be delivered to Clover"
    );
    let shot = screenshot(&browser, "alert-email-720").await;
    keep_for_readme(&shot, "alert-email.png");
    browser.close().await;
}
