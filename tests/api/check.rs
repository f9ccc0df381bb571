//! `clover-signup check`: the real binary, against the fake Clover, in a good setup and in
//! broken ones. It prints a line per check and exits 0 only when everything needed works.

use std::process::Command;

use crate::helpers::{Config, TestApp, emailing, spawn_app};
use crate::oauth::connect_browser;
use crate::support::fake_clover::{self, CUSTOMERS_R, CUSTOMERS_W, FakeClover, NewFakeCustomer};
use crate::support::smtp_sink::SmtpSink;

/// Runs `clover-signup check` with exactly `config`'s variables; its exit code and output.
async fn check(config: &Config) -> (i32, String) {
    check_with(config, &[]).await
}

/// `clover-signup check` with `extra` arguments.
async fn check_with(config: &Config, extra: &[&'static str]) -> (i32, String) {
    let vars = config.vars().clone();
    let extra = extra.to_vec();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_clover-signup"))
            .arg("check")
            .args(extra)
            .env_clear()
            .envs(vars)
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().expect("an exit code"), text)
}

/// The line about `subject`, which must be there.
fn line<'a>(output: &'a str, subject: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.get(5..).is_some_and(|rest| rest.starts_with(subject)))
        .unwrap_or_else(|| panic!("no line about {subject}:\n{output}"))
}

/// The database created and migrated, as after a first start.
async fn started_once(config: &Config) {
    let app: TestApp = spawn_app(config).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_token_setup_passes_line_by_line_and_changes_nothing() {
    let fake = FakeClover::start().await;
    fake.set_api_token_permissions(fake_clover::API_TOKEN, &[CUSTOMERS_R, CUSTOMERS_W]);
    fake.seed_customer(NewFakeCustomer {
        emails: vec!["someone@example.com".into()],
        ..NewFakeCustomer::default()
    });
    let config = Config::token(&fake);
    started_once(&config).await;

    let (code, output) = check(&config).await;

    assert_eq!(code, 0, "{output}");
    assert!(line(&output, "configuration").starts_with("ok"), "{output}");
    assert!(
        line(&output, "database").contains("is migrated"),
        "{output}"
    );
    assert!(line(&output, "Clover hosts").starts_with("ok"), "{output}");
    assert!(line(&output, "API token").starts_with("ok"), "{output}");
    assert!(
        line(&output, "token accepted").starts_with("ok"),
        "{output}"
    );
    assert!(
        line(&output, "customers' email addresses").starts_with("ok"),
        "{output}"
    );
    assert!(
        line(&output, "customers writable").contains("not checked")
            || line(&output, "customers writable").starts_with("--"),
        "{output}"
    );
    assert!(
        line(&output, "search by email").starts_with("ok"),
        "{output}"
    );
    assert!(
        !output.contains(fake_clover::API_TOKEN),
        "the token was printed"
    );
    assert!(
        fake.requests().iter().all(|r| r.method == "GET"),
        "the check wrote to Clover"
    );
    assert_eq!(fake.customers().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_configuration_fails_with_every_problem_named() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("CLOVER_REGION", "mars").set("PORT", "eighty");

    let (code, output) = check(&config).await;

    assert_eq!(code, 1, "{output}");
    let configuration = line(&output, "configuration");
    assert!(configuration.starts_with("FAIL"), "{output}");
    assert!(
        configuration.contains("CLOVER_REGION") && configuration.contains("PORT"),
        "{output}"
    );
    assert!(output.contains("fix:"), "{output}");
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_clover_refuses_fails_with_its_fix() {
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set("CLOVER_API_TOKEN", "revoked-by-the-merchant");

    let (code, output) = check(&config).await;

    assert_eq!(code, 1, "{output}");
    let accepted = line(&output, "token accepted");
    assert!(
        accepted.starts_with("FAIL") && accepted.contains("401"),
        "{output}"
    );
    assert!(
        output.contains("fix: give the token (or the app) Customers read and write"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_cannot_read_email_addresses_fails() {
    let fake = FakeClover::start().await;
    fake.set_field_permissions(true);
    fake.seed_customer(NewFakeCustomer {
        emails: vec!["someone@example.com".into()],
        ..NewFakeCustomer::default()
    });

    let (code, output) = check(&Config::token(&fake)).await;

    assert_eq!(code, 1, "{output}");
    assert!(
        line(&output, "token accepted").starts_with("ok"),
        "{output}"
    );
    assert!(
        line(&output, "customers' email addresses").starts_with("FAIL"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_before_and_after_the_merchant_connects() {
    let fake = FakeClover::start().await;
    let config = Config::oauth(&fake, true);
    started_once(&config).await;

    let (code, output) = check(&config).await;
    assert_eq!(code, 1, "{output}");
    assert!(
        line(&output, "OAuth connection").contains("not connected yet"),
        "{output}"
    );

    let app = spawn_app(&config).await;
    connect_browser(&app.client, &app.address).await;
    app.stop().await;
    let refreshes = fake.oauth_stats().refreshes;

    let (code, output) = check(&config).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        line(&output, "refresh token").contains("valid until"),
        "{output}"
    );
    assert!(
        line(&output, "token accepted").starts_with("ok"),
        "{output}"
    );
    assert_eq!(
        fake.oauth_stats().refreshes,
        refreshes,
        "the check spent a refresh token"
    );
}

/// The SQLite file the configuration names.
fn sqlite_file(config: &Config) -> std::path::PathBuf {
    let url = &config.vars()["DATABASE_URL"];
    std::path::PathBuf::from(
        url.strip_prefix("sqlite://")
            .expect("a SQLite test database"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_check_creates_no_database_and_changes_none() {
    if crate::support::postgres::end_to_end_on_postgres() {
        return; // About the SQLite file; PostgreSQL is only read, with SELECTs.
    }
    let fake = FakeClover::start().await;
    let config = Config::token(&fake);
    let file = sqlite_file(&config);

    let (code, output) = check(&config).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        line(&output, "database").contains("no data yet"),
        "{output}"
    );
    assert!(!file.exists(), "the check created the database");

    started_once(&config).await;
    // The stopped server's last connections may still be folding its log into the file.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = stored(&file);
    let (code, output) = check(&config).await;
    assert_eq!(code, 0, "{output}");
    assert!(stored(&file) == before, "the check changed the database");
}

/// What the database holds: the file and its write-ahead log (an empty log is none).
fn stored(file: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(file).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_fails_and_leaves_the_stored_credential_unchecked() {
    let fake = FakeClover::start().await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::oauth(&fake, true);
    config.set(
        "DATABASE_URL",
        &format!("postgres://nobody@127.0.0.1:{closed_port}/none"),
    );

    let (code, output) = check(&config).await;

    assert_eq!(code, 1, "{output}");
    assert!(line(&output, "database").starts_with("FAIL"), "{output}");
    assert!(
        line(&output, "OAuth connection").starts_with("--"),
        "an unread database is not a missing connection: {output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clover_that_cannot_filter_by_email_fails_the_check() {
    let fake = FakeClover::start().await;
    fake.set_allowed_filter_fields("customerSince,firstName,lastName,fullName,id,deletedTime");

    let (code, output) = check(&Config::token(&fake)).await;

    assert_eq!(code, 1, "{output}");
    assert!(
        line(&output, "search by email").starts_with("FAIL"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_access_token_is_not_refreshed_by_the_check() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(std::time::Duration::from_secs(2));
    let config = Config::oauth(&fake, true);
    let app = spawn_app(&config).await;
    connect_browser(&app.client, &app.address).await;
    app.stop().await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let (code, output) = check(&config).await;

    assert_eq!(code, 0, "{output}");
    assert!(line(&output, "customers").starts_with("--"), "{output}");
    assert_eq!(
        fake.oauth_stats().refreshes,
        0,
        "the check spent the refresh token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn send_test_sends_a_message_on_every_alert_channel_and_says_how_it_went() {
    let fake = FakeClover::start().await;
    let sink = SmtpSink::start().await;
    let mut config = emailing(&fake, &sink, "Corner Shop");
    started_once(&config).await;

    let (_, without) = check(&config).await;
    assert!(
        line(&without, "alerts").contains("--send-test"),
        "{without}"
    );
    assert!(sink.received().is_empty(), "a plain check sent something");

    let (code, output) = check_with(&config, &["--send-test"]).await;
    assert_eq!(code, 0, "{output}");
    assert!(line(&output, "alert email").contains("test message was taken"));
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].subject(),
        "[Corner Shop] Test message: alerts reach you here"
    );
    assert_eq!(received[0].to, ["owner@shop.example"]);

    // A server that is not there is a failure, named, with what to do.
    config.set("SMTP_URL", "smtp://127.0.0.1:9?tls=none");
    let (code, output) = check_with(&config, &["--send-test"]).await;
    assert_ne!(code, 0, "{output}");
    assert!(
        line(&output, "alert email").contains("SMTP server did not take"),
        "{output}"
    );
}
