//! The database goes away under a running service, while signups keep arriving: a
//! PostgreSQL server stopped and started again, a SQLite file on a filesystem that fills
//! up. Each visitor is either acknowledged or told, with their input, that nothing was
//! saved; once the database is back, signups are taken again within seconds without a
//! restart, and every acknowledged one reaches Clover exactly once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::helpers::{Config, TEST_ADMIN_TOKEN, TestApp, spawn_app, with_hidden_fields};
use crate::support::fake_clover::{Endpoint, FakeClover};
use crate::support::postgres::OwnCluster;

/// How soon after the database is back a signup must be taken again.
const BACK_WITHIN: Duration = Duration::from_secs(5);
/// How long everything acknowledged may take to be delivered once the database is back:
/// the worker's wait between tries at an unreadable queue grows to 5 s, and a claim
/// whose result could not be written lapses with its lease (15 s here).
const DELIVERED_WITHIN: Duration = Duration::from_secs(30);

/// Token mode against `fake`, on `database_url`, with short leases (so a claim whose
/// result could not be written comes back within seconds) and limits no test visitor
/// reaches: they all come from 127.0.0.1.
fn config(fake: &FakeClover, database_url: &str) -> Config {
    let mut config = Config::token(fake);
    config
        .set("DATABASE_URL", database_url)
        .set("DELIVERY_LEASE_SECONDS", "15")
        .set("RATE_LIMIT_BURST", "10000")
        .set("RATE_LIMIT_PER_MINUTE", "10000");
    config
}

/// A signup as a visitor sends it, and again unchanged when told it was not saved: a
/// form keeps its hidden id, an API client its `Idempotency-Key`.
#[derive(Clone, Debug)]
enum Signup {
    Form {
        email: String,
        fields: Vec<(String, String)>,
    },
    Api {
        email: String,
        key: String,
    },
}

impl Signup {
    fn email(&self) -> &str {
        match self {
            Signup::Form { email, .. } | Signup::Api { email, .. } => email,
        }
    }
}

/// What the service answered a signup.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// 303 to the thanks page, or 202: stored, and the visitor is told so.
    Taken,
    /// 503 with `Retry-After`, and the form again with the input and the notice, or the
    /// API's `database_unavailable`.
    NotSaved,
    /// Anything else: never right here.
    Wrong(String),
}

/// Visitors signing up, each with an address of their own, and what became of them.
#[derive(Clone)]
struct Visitors {
    address: String,
    client: reqwest::Client,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    sent: usize,
    /// Emails of the signups acknowledged, each once however often it was sent.
    taken: BTreeSet<String>,
    /// Refused as not saved, and not taken since.
    refused: Vec<Signup>,
    refusals: usize,
    wrong: Vec<String>,
}

impl Visitors {
    fn new(app: &TestApp) -> Self {
        Self {
            address: app.address.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            log: Arc::default(),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// A new visitor's signup, through the form (with the hidden fields of a form served
    /// now) or the JSON API.
    async fn new_signup(&self, by_form: bool) -> Signup {
        let n = {
            let mut log = self.log();
            log.sent += 1;
            log.sent
        };
        let email = format!("visitor{n}@example.com");
        if by_form {
            let typed = [
                ("first_name", "Ada"),
                ("last_name", "Lovelace"),
                ("email", email.as_str()),
                ("marketing_consent", "on"),
            ];
            let fields = with_hidden_fields(&self.client, &self.address, &typed).await;
            Signup::Form { email, fields }
        } else {
            let key = format!("outage-test-{n}-{:08x}", rand::random::<u32>());
            Signup::Api { email, key }
        }
    }

    /// Sends `signup`, checks the answer is one of the two allowed, and logs it.
    async fn send(&self, signup: &Signup) -> Answer {
        let answer = match signup {
            Signup::Form { email, fields } => {
                let response = self
                    .client
                    .post(format!("{}/", self.address))
                    .form(fields)
                    .send()
                    .await;
                match response {
                    Err(error) => Answer::Wrong(format!("form: {error}")),
                    Ok(response) => form_answer(response, email).await,
                }
            }
            Signup::Api { email, key } => {
                let response = self
                    .client
                    .post(format!("{}/api/signups", self.address))
                    .header("Idempotency-Key", key)
                    .json(&json!({"first_name": "Grace", "last_name": "Hopper", "email": email}))
                    .send()
                    .await;
                match response {
                    Err(error) => Answer::Wrong(format!("API: {error}")),
                    Ok(response) => api_answer(response).await,
                }
            }
        };
        let mut log = self.log();
        log.refused.retain(|r| r.email() != signup.email());
        match &answer {
            Answer::Taken => {
                log.taken.insert(signup.email().to_owned());
            }
            Answer::NotSaved => {
                log.refusals += 1;
                log.refused.push(signup.clone());
            }
            Answer::Wrong(what) => log.wrong.push(what.clone()),
        }
        answer
    }

    /// New visitors arrive one after another until the returned sender is dropped or set,
    /// by the form and the API in turn.
    fn keep_arriving(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let visitors = self.clone();
        let task = tokio::spawn(async move {
            let mut by_form = true;
            while !*stopped.borrow() {
                let signup = visitors.new_signup(by_form).await;
                visitors.send(&signup).await;
                by_form = !by_form;
                tokio::select! {
                    _ = stopped.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        (stop, task)
    }

    async fn wait_taken(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.log().taken.len() < count {
            assert!(
                Instant::now() < deadline,
                "fewer than {count} signups taken"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// New signups by `by_form`'s door until one is refused (taken ones are logged as
    /// such): the database is away, or soon will be.
    async fn until_refused(&self, by_form: bool) -> Signup {
        for _ in 0..300 {
            let signup = self.new_signup(by_form).await;
            match self.send(&signup).await {
                Answer::NotSaved => return signup,
                Answer::Taken => {}
                Answer::Wrong(what) => panic!("{what}"),
            }
        }
        panic!("every signup was taken; the database never went away")
    }

    /// Sends `signup` again until it is taken; how long that took.
    async fn until_taken(&self, signup: &Signup, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            match self.send(signup).await {
                Answer::Taken => return start.elapsed(),
                Answer::NotSaved => assert!(
                    start.elapsed() < within,
                    "still not saved {within:?} after the database came back"
                ),
                Answer::Wrong(what) => panic!("{what}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every visitor told their signup was not saved sends it again, as told, until it
    /// is taken; then the emails of everything acknowledged.
    async fn all_sent_again(&self) -> BTreeSet<String> {
        let refused = self.log().refused.clone();
        for signup in &refused {
            self.until_taken(signup, DELIVERED_WITHIN).await;
        }
        let log = self.log();
        assert!(
            log.wrong.is_empty(),
            "answers neither allowed: {:?}",
            log.wrong
        );
        assert!(log.refused.is_empty());
        log.taken.clone()
    }

    /// Once the database is back: the refused form and API signups are taken again, a
    /// few more arrive, arrivals stop, and everyone told to send again does. Returns the
    /// emails of everything acknowledged; `after` names the recovery in the report.
    async fn taken_again_after(
        &self,
        (form, api): (&Signup, &Signup),
        (stop_arriving, arriving): (
            tokio::sync::watch::Sender<bool>,
            tokio::task::JoinHandle<()>,
        ),
        after: &str,
    ) -> BTreeSet<String> {
        let form_back = self.until_taken(form, BACK_WITHIN).await;
        let api_back = self.until_taken(api, BACK_WITHIN).await;
        let before = self.log().taken.len();
        self.wait_taken(before + 4).await;
        stop_arriving.send(true).unwrap();
        arriving.await.unwrap();
        let taken = self.all_sent_again().await;
        eprintln!(
            "{} signups taken, {} refusals; taken again {form_back:?} (form) and {api_back:?} (API) {after}",
            taken.len(),
            self.log().refusals
        );
        taken
    }
}

async fn form_answer(response: reqwest::Response, email: &str) -> Answer {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let page = response.text().await.unwrap_or_default();
    match status.as_u16() {
        303 => Answer::Taken,
        503 if !retry_after => Answer::Wrong("form: 503 without Retry-After".into()),
        503 if !page.contains("was not saved") => {
            Answer::Wrong("form: 503 without the notice".into())
        }
        503 if !page.contains(&format!(r#"value="{email}""#)) => {
            Answer::Wrong("form: 503 without the visitor's input".into())
        }
        503 => Answer::NotSaved,
        other => Answer::Wrong(format!("form: {other}")),
    }
}

async fn api_answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match status.as_u16() {
        202 => Answer::Taken,
        503 if retry_after && body["reason"] == "database_unavailable" => Answer::NotSaved,
        other => Answer::Wrong(format!("API: {other} {body}")),
    }
}

/// What the service says about itself while the database is away: alive, not ready
/// because of the database, and the admin's status a 503 with its reason.
async fn assert_reports_the_database_away(app: &TestApp) {
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["reason"], "database_unavailable", "{ready}");
    let status = app
        .client
        .get(app.url("/admin/status.json"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 503);
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["reason"], "database_unavailable", "{status}");
}

/// Everything acknowledged is delivered, each visitor one customer made by one create,
/// and nothing else reached Clover.
async fn assert_delivered_exactly_once(app: &TestApp, fake: &FakeClover, taken: &BTreeSet<String>) {
    app.wait_for_delivered(taken.len() as u64, DELIVERED_WITHIN)
        .await;
    let mut customers = std::collections::BTreeMap::<String, usize>::new();
    for email in fake
        .customers()
        .into_iter()
        .flat_map(|customer| customer.emails)
    {
        *customers.entry(email).or_default() += 1;
    }
    let twice: Vec<_> = customers.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = taken
        .iter()
        .filter(|e| !customers.contains_key(*e))
        .collect();
    let unknown: Vec<_> = customers.keys().filter(|e| !taken.contains(*e)).collect();
    assert!(twice.is_empty(), "customers made more than once: {twice:?}");
    assert!(
        missing.is_empty(),
        "acknowledged, never delivered: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "delivered, never acknowledged: {unknown:?}"
    );
    assert_eq!(
        fake.requests_to(Endpoint::CreateCustomer).len(),
        taken.len(),
        "a create was sent twice"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_stopped_and_started_while_signups_arrive_loses_nothing_and_doubles_nothing() {
    let Some(cluster) = OwnCluster::start().await else {
        return;
    };
    let fake = FakeClover::start().await;
    // Each delivery takes a while, so that some are under way when the server stops.
    fake.set_latency(Duration::from_millis(150));
    let app = spawn_app(&config(&fake, cluster.url())).await;
    let visitors = Visitors::new(&app);
    let (stop_arriving, arriving) = visitors.keep_arriving();
    visitors.wait_taken(4).await;

    cluster.stop().await;
    let form = visitors.until_refused(true).await;
    let api = visitors.until_refused(false).await;
    assert_reports_the_database_away(&app).await;
    // Long enough for the delivery worker to meet the outage too, and for more visitors
    // to be turned away.
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.start_again().await;
    // A few more arrive with the database back, then everyone told to send again does.
    let taken = visitors
        .taken_again_after(
            (&form, &api),
            (stop_arriving, arriving),
            "after the restart",
        )
        .await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    assert_delivered_exactly_once(&app, &fake, &taken).await;
    app.stop().await;
}

/// A small tmpfs mounted on a temporary folder, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (with a note) where this process may not mount, except in CI, where the
    /// test must not be skipped.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("small-disk-")
            .tempdir()
            .unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self { dir }),
            Ok(output) => skip(&String::from_utf8_lossy(&output.stderr)),
            Err(error) => skip(&error.to_string()),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of zeros until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = [0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => panic!("filling the disk: {error}"),
            }
        }
        // The last partial block, byte by byte: nothing is to be left.
        while let Ok(1) = file.write(&block[..1]) {}
        path
    }
}

fn skip(why: &str) -> Option<SmallDisk> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true, but a tmpfs cannot be mounted for the full-disk test: {why}"
    );
    eprintln!(
        "note: cannot mount a tmpfs here ({}); the full-disk test is skipped",
        why.trim()
    );
    None
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Something still holds a file open there (a thread of a service not yet
            // gone): detach it now, and the kernel frees it when the last file closes.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_on_a_full_disk_refuses_signups_with_their_input_and_takes_them_once_there_is_room()
{
    // Small, yet with room for the burst at the end, when every refused visitor sends
    // again at once: each signup adds some 30 KB to SQLite's log until the next
    // checkpoint, and a log that fills the disk again blocks the checkpoint that would
    // make room.
    let Some(disk) = SmallDisk::mount("16m") else {
        return;
    };
    let database = disk.path().join("signup.db");
    let fake = FakeClover::start().await;
    // Long enough for the disk to be filled between a create reaching Clover and its
    // answer coming back; well within the client's 1 s timeout.
    fake.set_latency(Duration::from_millis(400));
    let app = spawn_app(&config(&fake, &format!("sqlite://{}", database.display()))).await;
    let visitors = Visitors::new(&app);
    let (stop_arriving, arriving) = visitors.keep_arriving();
    visitors.wait_taken(4).await;

    // Full while a customer is being created: the delivery's result cannot be written.
    let creates = fake.requests_to(Endpoint::CreateCustomer).len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.requests_to(Endpoint::CreateCustomer).len() == creates {
        assert!(Instant::now() < deadline, "no delivery reached Clover");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let filler = disk.fill();
    // SQLite reuses the room its log already has, so a few more may still be stored; soon
    // none are.
    let form = visitors.until_refused(true).await;
    let api = visitors.until_refused(false).await;
    // Reads still work on a full disk: the database answers, and says what it holds.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert!(app.status().await["queue"]["pending"].is_u64());
    // Longer than the worker's tries at writing a result (0.2 + 1 + 5 s): the result of
    // the delivery under way is lost, and the submission is delivered again later.
    tokio::time::sleep(Duration::from_secs(7)).await;

    std::fs::remove_file(&filler).unwrap();
    let taken = visitors
        .taken_again_after(
            (&form, &api),
            (stop_arriving, arriving),
            "once there was room",
        )
        .await;

    assert_delivered_exactly_once(&app, &fake, &taken).await;
    // Each attempt searches once: more searches than signups means a delivery was made
    // again after its result was lost, and found its customer instead of creating one.
    assert!(
        fake.requests_to(Endpoint::SearchCustomers).len() > taken.len(),
        "no delivery was repeated: the lost result this test is for did not happen"
    );
    app.stop().await;
}
