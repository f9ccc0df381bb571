use std::collections::HashMap;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use clover_signup::configuration::Settings;
use clover_signup::startup::Application;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::support::fake_clover::{self, FakeClover};
use crate::support::postgres;
use crate::support::smtp_sink::SmtpSink;

/// The admin token of token-mode tests (demo mode leaves the admin open).
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef-tests";

/// A running application and a client for it. The database lives in a temporary folder
/// that outlives restarts of the application within one test.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    server: ServerHandle,
    running: JoinHandle<anyhow::Result<()>>,
}

/// Configuration as an operator writes it: variable names and values.
#[derive(Clone, Default)]
pub struct Config {
    vars: HashMap<String, String>,
    /// Keeps the temporary folder alive as long as any copy of the configuration.
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Config {
    /// Demo mode with fast retries, in a fresh temporary database.
    pub fn demo() -> Self {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temporary folder"));
        let db = dir.path().join("signup.db");
        let mut config = Self {
            vars: HashMap::new(),
            _dir: Some(dir),
        };
        let database_url = match end_to_end_database() {
            Some(postgres) => postgres,
            None => format!("sqlite://{}", db.display()),
        };
        config
            .set("PORT", "0")
            .set("DATABASE_URL", &database_url)
            .set("DELIVERY_BACKOFF_BASE_MS", "100")
            .set("DELIVERY_BACKOFF_MAX_MS", "400")
            .set("AUTH_RECHECK_SECONDS", "1")
            .set("FORM_MIN_FILL_SECONDS", "0")
            .set("RATE_LIMIT_BURST", "100")
            // Every test's clients connect from 127.0.0.1: a test that sends many requests
            // at once (and keeps their connections alive) would otherwise meet the cap on
            // connections per address, whose own tests set it low themselves.
            .set("MAX_CONNECTIONS_PER_ADDRESS", "1000");
        config
    }

    /// Token mode against `fake`.
    pub fn token(fake: &FakeClover) -> Self {
        let mut config = Self::demo();
        config
            .set("CLOVER_AUTH", "token")
            .set("CLOVER_MERCHANT_ID", fake_clover::MERCHANT_ID)
            .set("CLOVER_API_TOKEN", fake_clover::API_TOKEN)
            .set("CLOVER_API_BASE_URL", &fake.base_url())
            .set("CLOVER_TIMEOUT_SECONDS", "1")
            .set("ADMIN_TOKEN", TEST_ADMIN_TOKEN)
            .set("SECRET_KEY", &"5e".repeat(32));
        config
    }

    /// OAuth mode against `fake`, on a port chosen now so that `PUBLIC_URL` (and with it
    /// the OAuth redirect_uri) can name it.
    pub fn oauth(fake: &FakeClover, with_secret: bool) -> Self {
        let mut config = Self::token(fake);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        config
            .unset("CLOVER_MERCHANT_ID")
            .unset("CLOVER_API_TOKEN")
            .set("CLOVER_AUTH", "oauth")
            .set("CLOVER_APP_ID", fake_clover::APP_ID)
            .set("CLOVER_WEB_BASE_URL", &fake.web_base_url())
            .set("OAUTH_REFRESH_MARGIN_SECONDS", "1")
            .set("PORT", &port.to_string())
            .set("PUBLIC_URL", &format!("http://127.0.0.1:{port}"));
        if with_secret {
            config.set("CLOVER_APP_SECRET", fake_clover::APP_SECRET);
        }
        config
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn unset(&mut self, name: &str) -> &mut Self {
        self.vars.remove(name);
        self
    }

    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    pub fn settings(&self) -> Settings {
        Settings::from_lookup(|name| self.vars.get(name).cloned()).expect("test settings are valid")
    }
}

/// With `TEST_STORE=postgres`, a fresh PostgreSQL database for one test's application.
/// Created on a thread of its own: configurations are built inside the tests' runtime.
fn end_to_end_database() -> Option<String> {
    if !postgres::end_to_end_on_postgres() {
        return None;
    }
    let url = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(postgres::fresh_database())
    })
    .join()
    .unwrap();
    Some(url.expect("TEST_STORE=postgres needs TEST_POSTGRES_URL"))
}

/// Everything the application stored, as bytes to search for what must not be there:
/// the SQLite file with its write-ahead log, or every row of every PostgreSQL table as
/// text (binary columns as hex).
pub async fn stored_bytes(config: &Config) -> Vec<u8> {
    let url = &config.vars()["DATABASE_URL"];
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        return bytes;
    }
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    for table in tables {
        let table: String = table.get(0);
        for row in client
            .query(&format!("SELECT t::text FROM {table} t"), &[])
            .await
            .unwrap()
        {
            let text: String = row.get(0);
            bytes.extend(decoded_bytea(&text));
            bytes.extend(text.into_bytes());
        }
    }
    bytes
}

/// Runs `sql` on the application's database behind its back: to age what a test cannot
/// wait for.
pub async fn execute_sql(config: &Config, sql: &str) {
    let url = &config.vars()["DATABASE_URL"];
    if let Some(path) = url.strip_prefix("sqlite://") {
        rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        return;
    }
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let running = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    running.await.unwrap().unwrap();
}

/// The binary values in a row's text, which PostgreSQL writes as `\x` and hex digits:
/// decoded, so that a token stored unencrypted in one would be found.
fn decoded_bytea(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (start, _) in text.match_indices("\\x") {
        let digits: String = text[start + 3..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        bytes.extend(hex::decode(&digits[..digits.len() / 2 * 2]).unwrap_or_default());
        bytes.push(b' ');
    }
    bytes
}

pub async fn spawn_app(config: &Config) -> TestApp {
    let application = Application::build(config.settings())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = application.server_handle();
    let running = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        server,
        running,
    }
}

/// A complete, valid signup.
pub fn valid_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("email", "ada@example.com"),
        ("phone", "(555) 123-4567"),
        ("marketing_consent", "on"),
    ]
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Posts the form as a browser does: with the hidden fields of a freshly served form,
    /// unless `fields` brings its own.
    pub async fn post_form(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        let fields = with_hidden_fields(&self.client, &self.address, fields).await;
        self.client
            .post(self.url("/"))
            .form(&fields)
            .send()
            .await
            .expect("POST /")
    }

    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/signups"))
            .json(body)
            .send()
            .await
            .expect("POST /api/signups")
    }

    /// Visitor number `n` signs up through the JSON API, which takes it (202).
    pub async fn post_visitor(&self, n: usize) {
        let response = self.post_json(&visitor(n)).await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    /// Signs in at the admin login form; the client keeps the session cookie.
    pub async fn sign_in(&self) {
        let login = self
            .client
            .post(self.url("/admin/login"))
            .form(&[("token", TEST_ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 303, "signing in");
    }

    /// Posts an admin form (signed in) with the CSRF token the people page carries.
    pub async fn admin_post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let page = self.get("/admin/people").await.text().await.unwrap();
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page carries a CSRF token")
            .to_owned();
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// `/admin/status.json` (demo mode leaves the admin open without a token).
    pub async fn status(&self) -> Value {
        self.client
            .get(self.url("/admin/status.json"))
            .bearer_auth(TEST_ADMIN_TOKEN)
            .send()
            .await
            .expect("GET /admin/status.json")
            .json()
            .await
            .expect("status JSON")
    }

    /// Waits until the queue holds `delivered` delivered submissions and nothing pending.
    pub async fn wait_for_delivered(&self, delivered: u64, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status().await;
            let queue = &status["queue"];
            if queue["delivered"] == delivered && queue["pending"] == 0 {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("not delivered within {within:?}: {status:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the credential's state is `state`; returns the status then.
    pub async fn wait_for_auth_state(&self, state: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status().await;
            if status["auth"]["state"] == state {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("auth never became {state}: {status:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the application as SIGTERM would and waits for it to finish.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.running
            .await
            .expect("the application task")
            .expect("the application stopped cleanly");
    }
}

/// `fields` plus the hidden inputs (`form_token`, `form_id`) of a form served just now
/// by the application at `address`, where `fields` does not set them itself.
pub async fn with_hidden_fields(
    client: &reqwest::Client,
    address: &str,
    fields: &[(&str, &str)],
) -> Vec<(String, String)> {
    let page = client
        .get(format!("{address}/"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .unwrap();
    with_hidden_inputs(&page, fields, &["form_token", "form_id"])
}

/// `fields` plus the hidden inputs `names` of `page`, where `fields` does not set them.
pub fn with_hidden_inputs(
    page: &str,
    fields: &[(&str, &str)],
    names: &[&str],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for name in names {
        if all.iter().any(|(k, _)| k == name) {
            continue;
        }
        if let Some(value) = hidden_value(page, name) {
            all.push(((*name).to_owned(), value));
        }
    }
    all
}

/// The value of the hidden input `name` in `page`, when it has one.
pub fn hidden_value(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker)? + marker.len();
    Some(page[start..start + page[start..].find('"')?].to_owned())
}

/// Polls `condition` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    condition()
}

/// The JSON API's body for visitor number `n`, whose email is `visitor{n}@example.com`.
pub fn visitor(n: usize) -> Value {
    serde_json::json!({"first_name": "Visitor", "last_name": format!("Number {n}"),
                       "email": format!("visitor{n}@example.com")})
}

/// Token mode with alert email to `owner@shop.example` through `sink`, for `shop`; no
/// digest, so that a test counts only the messages it is about.
pub fn emailing(fake: &FakeClover, sink: &SmtpSink, shop: &str) -> Config {
    let mut config = Config::token(fake);
    config
        .set("SMTP_URL", &sink.url())
        .set("MAIL_FROM", "signups@shop.example")
        .set("ALERT_EMAIL", "owner@shop.example")
        .set("MERCHANT_NAME", shop)
        .set("DIGEST", "off");
    config
}
