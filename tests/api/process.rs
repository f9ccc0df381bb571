//! Tests that run the compiled binary as a separate process: what it writes to its logs,
//! and what survives `kill -9`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{Config, TEST_ADMIN_TOKEN, valid_form, with_hidden_fields};
use crate::support::fake_clover::{self, Endpoint, FakeClover};

pub struct Process {
    child: Child,
    output: Arc<Mutex<String>>,
    pub address: String,
}

impl Process {
    pub fn start(config: &Config) -> Process {
        Self::start_with_umask(config, None)
    }

    /// Starts the binary with the file-creation mask `umask` (octal, as the shell takes
    /// it), as a shell or a container may leave it.
    pub fn start_with_umask(config: &Config, umask: Option<&str>) -> Process {
        let binary = env!("CARGO_BIN_EXE_clover-signup");
        let mut command = match umask {
            None => Command::new(binary),
            Some(umask) => {
                let mut shell = Command::new("/bin/sh");
                shell.args(["-c", &format!("umask {umask} && exec \"$0\""), binary]);
                shell
            }
        };
        let mut child = command
            .env_clear()
            .envs(config.vars())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = Arc::clone(&output);
            let port_tx = port_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                        let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                        let _ = port_tx.send(port);
                    }
                    let mut output = output.lock().unwrap();
                    output.push_str(&line);
                    output.push('\n');
                }
            });
        }
        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no port announced: {}", output.lock().unwrap()));
        let address = format!("http://127.0.0.1:{port}");
        // Serving means the signal handlers are installed too.
        let healthz = format!("{address}/healthz");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err()
            || !http_ok(&healthz)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{healthz} never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Process {
            child,
            output,
            address,
        }
    }

    pub fn logs(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    pub fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }

    pub fn terminate(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit after SIGTERM: {status}");
        std::thread::sleep(Duration::from_millis(100));
        self.logs()
    }
}

/// A blocking GET with the standard library, usable outside the async runtime's threads.
fn http_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

pub async fn status(address: &str, admin_token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{address}/admin/status.json"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits (up to 10 s) until the process at `address` has delivered `count` submissions.
async fn wait_for_delivered(address: &str, admin_token: &str, count: u64) {
    wait_longer_for_delivered(address, admin_token, count, Duration::from_secs(10)).await;
}

async fn wait_longer_for_delivered(
    address: &str,
    admin_token: &str,
    count: u64,
    patience: Duration,
) {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let status = status(address, admin_token).await;
        if status["queue"]["delivered"] == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_carry_no_secret_and_no_visitor_email_and_sigterm_stops_cleanly() {
    let fake = FakeClover::start().await;
    let admin_token = "admin-token-that-must-not-leak-0123456789";
    let mut config = Config::token(&fake);
    config.set("ADMIN_TOKEN", admin_token);
    let process = Process::start(&config);
    let client = reqwest::Client::new();

    let fields = with_hidden_fields(&client, &process.address, &valid_form()).await;
    client
        .post(format!("{}/", process.address))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let bad = [("first_name", ""), ("email", "bad@nowhere")];
    let fields = with_hidden_fields(&client, &process.address, &bad).await;
    client
        .post(format!("{}/", process.address))
        .form(&fields)
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/?email=query%40example.com", process.address))
        .send()
        .await
        .unwrap();
    wait_for_delivered(&process.address, admin_token, 1).await;
    // The consent links carry a token with which anyone could withdraw the person.
    let secret = secrecy::SecretSlice::from(vec![0x5e; 32]);
    let person = clover_signup::consent::PersonKeys::new(Some(&secret)).of("ada@example.com");
    let links = clover_signup::consent::ConsentLinks::new(
        Some(&secret),
        &url::Url::parse(&process.address).unwrap(),
    );
    let token = links.token(&person, clover_signup::consent::ConsentChannel::Email);
    let page =
        client.get(links.preferences_url(&person, clover_signup::consent::ConsentChannel::Email));
    assert_eq!(page.send().await.unwrap().status(), 200);
    let one_click =
        client.post(links.one_click_url(&person, clover_signup::consent::ConsentChannel::Email));
    assert_eq!(one_click.send().await.unwrap().status(), 200);

    let logs = process.terminate();
    assert!(logs.contains("starting in token mode"), "{logs}");
    assert!(logs.contains("a person withdrew their consent"), "{logs}");
    for line in logs.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("LOG_FORMAT=json wrote a line that is not JSON: {line}"));
        if event["message"] == "request served" {
            assert!(event["span"]["request_id"].as_str().unwrap().len() >= 10);
        }
    }
    assert!(logs.contains("\"request served\""));
    assert!(logs.contains("delivered"));
    for secret in [
        fake_clover::API_TOKEN,
        admin_token,
        &"5e".repeat(32),
        "ada@example.com",
        "bad@nowhere",
        "query@example.com",
        "query%40example.com",
        "5551234567",
        "Lovelace",
        &token,
        person.as_ref(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} appears in the logs:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_log_line_of_a_bare_start_says_demo_mode() {
    let config = Config::demo();
    let process = Process::start(&config);

    let logs = process.terminate();

    let first = logs.lines().next().unwrap();
    assert!(first.contains("DEMO mode"), "{first}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_database_is_readable_by_its_own_user_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("data");
    let db = folder.join("signup.db");
    let mut config = Config::demo();
    config.set("DATABASE_URL", &format!("sqlite://{}", db.display()));
    let files = [
        db.clone(),
        folder.join("signup.db-wal"),
        folder.join("signup.db-shm"),
    ];
    let mode = |path: &std::path::Path| {
        let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        metadata.permissions().mode() & 0o777
    };

    // Nothing masked: whatever is created readable stays readable to every local user.
    let process = Process::start_with_umask(&config, Some("000"));
    assert_eq!(mode(&folder), 0o700, "the folder");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{file:?}");
    }
    // Killed, so the write-ahead log and its index stay behind, loosened as an earlier
    // version left them: the next start tightens them again.
    process.kill_9();
    for file in &files {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let process = Process::start_with_umask(&config, Some("000"));
    for file in &files {
        assert_eq!(mode(file), 0o600, "{file:?} after a restart");
    }
    process.terminate();
}

/// Writes `request` to a new connection, stops sending after `pause`, and reads the
/// answer, if any comes.
fn send_raw(address: &str, request: &[u8], pause: Duration) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(request);
    std::thread::sleep(pause);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.read(&mut [0u8; 256]);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_logged_as_warnings_never_as_errors() {
    let mut config = Config::demo();
    config.set("REQUEST_TIMEOUT_SECONDS", "1");
    let process = Process::start(&config);
    let address = process.address.trim_start_matches("http://").to_owned();

    tokio::task::spawn_blocking(move || {
        let form = "Content-Type: application/x-www-form-urlencoded";
        let requests = [
            // A chunked body that lies about its sizes.
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}\r\nTransfer-Encoding: chunked\r\n\r\n\
                 fffffff\r\nabc\r\n0\r\n\r\n"
            ),
            // A head larger than the server reads.
            format!(
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: {}\r\n\r\n",
                "h".repeat(40_000)
            ),
            // A form body that is not one, JSON that is not JSON, a body over the limit.
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}\r\nContent-Length: 9\r\n\r\n%ZZ=%E0%A"
            ),
            "POST /api/signups HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: 9\r\n\r\n{\"email\":["
                .to_owned(),
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}\r\nContent-Length: 1000000\r\n\r\n"
            ),
            "NOT HTTP AT ALL\r\n\r\n".to_owned(),
        ];
        for request in requests {
            send_raw(&address, request.as_bytes(), Duration::ZERO);
        }
        // A body that stops arriving: cut off at the request deadline.
        let slow =
            format!("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}\r\nContent-Length: 100\r\n\r\na");
        send_raw(&address, slow.as_bytes(), Duration::from_millis(1500));
    })
    .await
    .unwrap();

    let logs = process.terminate();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(r#""level":"ERROR""#))
        .collect();
    assert!(
        errors.is_empty(),
        "logged as errors:\n{}",
        errors.join("\n")
    );
    let warnings = logs
        .lines()
        .filter(|line| line.contains(r#""level":"WARN""#))
        .count();
    assert!(
        warnings >= 2,
        "the malformed requests were not logged:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_configuration_stops_start_up_naming_every_problem() {
    let output = Command::new(env!("CARGO_BIN_EXE_clover-signup"))
        .env_clear()
        .env("CLOVER_AUTH", "token")
        .env("CLOVER_API_TOKEN", "super-secret-token")
        .env("PORT", "http")
        .env("CLOVER_REGION", "mars")
        .env("ADMIN_TOKEN", "guessable-1234")
        .output()
        .unwrap();

    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    for name in [
        "PORT",
        "CLOVER_REGION",
        "CLOVER_MERCHANT_ID",
        "SECRET_KEY",
        "ADMIN_TOKEN",
    ] {
        assert!(text.contains(name), "{name} not named in: {text}");
    }
    assert!(
        text.contains("openssl rand -hex 32"),
        "how to make a long enough admin token: {text}"
    );
    assert!(!text.contains("super-secret-token"));
    assert!(!text.contains("guessable-1234"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_delivery_loses_nothing_and_duplicates_nothing() {
    let fake = FakeClover::start().await;
    // Slow answers keep deliveries in flight when the process is killed.
    fake.set_latency(Duration::from_millis(400));
    let admin_token = "kill-nine-admin-token-0123456789abcdef";
    let mut config = Config::token(&fake);
    // On PostgreSQL the restarted process is a new instance: it takes over the killed
    // one's claims once their lease runs out. (SQLite releases them at start.)
    config
        .set("ADMIN_TOKEN", admin_token)
        .set("DELIVERY_LEASE_SECONDS", "15");
    let process = Process::start(&config);
    let client = reqwest::Client::new();
    for n in 0..6 {
        let response = client
            .post(format!("{}/api/signups", process.address))
            .json(&serde_json::json!({
                "first_name": "Kill", "last_name": format!("Nine {n}"),
                "email": format!("k{n}@example.com"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // Wait until the first create is under way, then kill without warning.
    for _ in 0..200 {
        if !fake.requests_to(Endpoint::CreateCustomer).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process.kill_9();

    fake.set_latency(Duration::ZERO);
    let restarted = Process::start(&config);
    // A lease (15 s) at most, on PostgreSQL.
    wait_longer_for_delivered(&restarted.address, admin_token, 6, Duration::from_secs(30)).await;
    assert_eq!(
        fake.customers().len(),
        6,
        "a visitor was lost or duplicated"
    );
    let mut emails: Vec<_> = fake
        .customers()
        .into_iter()
        .flat_map(|c| c.emails)
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 6);
    restarted.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_logs_carry_no_token_secret_code_or_state() {
    let fake = FakeClover::start().await;
    fake.set_access_lifetime(Duration::from_secs(2));
    let config = Config::oauth(&fake, true);
    let process = Process::start(&config);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();

    let callback = crate::oauth::connect_browser(&browser, &process.address).await;
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for n in 0..3 {
        browser
            .post(format!("{}/api/signups", process.address))
            .json(&serde_json::json!({"first_name": "A", "last_name": "B", "email": format!("o{n}@example.com")}))
            .send()
            .await
            .unwrap();
    }
    wait_for_delivered(&process.address, TEST_ADMIN_TOKEN, 3).await;
    assert!(fake.oauth_stats().refreshes >= 1);

    let logs = process.terminate();
    let mut secrets = crate::oauth::secrets_seen_by(&fake);
    secrets.push(state);
    for secret in secrets {
        assert!(!logs.contains(&secret), "{secret:?} appears in the logs");
    }
    assert!(logs.contains("Clover connected"));
    assert!(logs.contains("access token refreshed"));
}
