use std::time::Duration;

use crate::helpers::{Config, eventually, spawn_app, valid_form};
use crate::support::fake_clover::{self, Endpoint, FakeClover, Fault};

const DELIVERY: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_waited_out_exactly_as_retry_after_says() {
    let fake = FakeClover::start().await;
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
            body: r#"{"message":"Too Many Requests"}"#.into(),
        },
    );
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    app.wait_for_delivered(1, DELIVERY).await;

    let requests = fake.requests();
    let limited = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429");
    let next = &requests[limited + 1];
    let waited = next.at.duration_since(requests[limited].at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert!(
        waited < Duration::from_secs(3),
        "waited far longer than asked: {waited:?}"
    );
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_is_retried_with_backoff_until_it_succeeds() {
    let fake = FakeClover::start().await;
    for _ in 0..2 {
        fake.push_fault(
            Endpoint::CreateCustomer,
            Fault::Status {
                status: 503,
                retry_after: None,
                body: r#"{"message":"Service Unavailable"}"#.into(),
            },
        );
    }
    let app = spawn_app(&Config::token(&fake)).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    let creates = fake.requests_to(Endpoint::CreateCustomer);
    assert_eq!(creates.len(), 3);
    // Backoff base is 100 ms in tests: the second wait is at least the first's floor doubled.
    let first_wait = creates[1].at.duration_since(creates[0].at);
    let second_wait = creates[2].at.duration_since(creates[1].at);
    assert!(first_wait >= Duration::from_millis(50), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(100), "{second_wait:?}");
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(status["recent"][0]["attempts"], 3);
    app.stop().await;
}

/// The create happens in Clover but its answer is lost: the next attempt must find the
/// customer instead of creating a second one, even when the policy is to always create.
async fn lost_answer_still_makes_exactly_one_customer(fault: Fault) {
    let fake = FakeClover::start().await;
    fake.push_fault(Endpoint::CreateCustomer, fault);
    let mut config = Config::token(&fake);
    config.set("DUPLICATE_POLICY", "create");
    let app = spawn_app(&config).await;

    app.post_form(&valid_form()).await;
    let status = app.wait_for_delivered(1, DELIVERY).await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1, "the visitor became two customers");
    assert_eq!(fake.requests_to(Endpoint::CreateCustomer).len(), 1);
    assert_eq!(
        status["recent"][0]["clover_customer_id"],
        customers[0].id.as_str()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_with_500_after_it_happened_yields_one_customer() {
    lost_answer_still_makes_exactly_one_customer(Fault::ProcessThenStatus { status: 500 }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_504_and_carried_out_after_yields_one_customer() {
    // Clover's gateway gives up at once, its backend creates the customer 1.5 s later
    // (within twice the client's 1 s timeout): a search before then finds nobody.
    lost_answer_still_makes_exactly_one_customer(Fault::StatusThenProcess {
        status: 504,
        after: Duration::from_millis(1_500),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_timed_out_after_it_happened_yields_one_customer() {
    // The client gives up after 1 s; Clover answers after 3 s.
    lost_answer_still_makes_exactly_one_customer(Fault::ProcessThenDelay(Duration::from_secs(3)))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_pauses_delivery_without_losing_anything_until_it_works() {
    let fake = FakeClover::start().await;
    fake.set_accepted_token("the-merchant-deleted-ours");
    let app = spawn_app(&Config::token(&fake)).await;

    assert_eq!(app.post_form(&valid_form()).await.status(), 303);
    app.wait_for_auth_state("failing", Duration::from_secs(5))
        .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let reason: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(reason["reason"], "clover_unavailable");
    // Visitors are still accepted, and queued.
    let mut second = valid_form();
    second.retain(|(name, _)| *name != "email");
    second.push(("email", "grace@example.com"));
    assert_eq!(app.post_form(&second).await.status(), 303);
    let status = app.status().await;
    assert_eq!(status["queue"]["pending"], 2);
    assert_eq!(status["queue"]["failed"], 0);
    // Paused means paused: one probe per recheck interval (1 s here), not a retry storm.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        fake.requests().len() <= 3,
        "{} requests while paused",
        fake.requests().len()
    );

    fake.set_accepted_token(fake_clover::API_TOKEN);

    app.wait_for_delivered(2, DELIVERY).await;
    assert_eq!(app.status().await["auth"]["state"], "ok");
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(fake.customers().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_clover_rejects_fails_for_good_with_its_reason_and_can_be_retried() {
    let fake = FakeClover::start().await;
    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::Status {
            status: 400,
            retry_after: None,
            body: r#"{"message":"Bad Request","details":"Invalid email domain"}"#.into(),
        },
    );
    let app = spawn_app(&Config::token(&fake)).await;
    app.post_form(&valid_form()).await;

    let mut status = app.status().await;
    for _ in 0..200 {
        if status["queue"]["failed"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        status = app.status().await;
    }
    assert_eq!(status["queue"]["failed"], 1, "{status:#}");
    let error = status["recent"][0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("400") && error.contains("Invalid email domain"),
        "{error}"
    );
    assert_eq!(
        fake.requests_to(Endpoint::CreateCustomer).len(),
        1,
        "a 400 was retried"
    );

    let retry = app
        .client
        .post(app.url("/admin/retry"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 303);
    assert_eq!(retry.headers()["location"], "/admin");

    app.wait_for_delivered(1, DELIVERY).await;
    assert_eq!(fake.customers().len(), 1);
    assert!(eventually(Duration::from_secs(1), || fake.violations().is_empty()).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_may_read_but_not_write_stays_failing_until_a_delivery_succeeds() {
    let fake = FakeClover::start().await;
    // Clover answers 401 for a missing permission too: searches pass, creates do not.
    for _ in 0..3 {
        fake.push_fault(Endpoint::CreateCustomer, Fault::unauthorized());
    }
    let app = spawn_app(&Config::token(&fake)).await;
    app.post_form(&valid_form()).await;

    let mut seen_failing = false;
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        let status = app.status().await;
        if status["queue"]["delivered"] == 1 {
            break;
        }
        let state = status["auth"]["state"].as_str().unwrap().to_owned();
        if state == "failing" {
            seen_failing = true;
        } else if seen_failing {
            // The report reads the queue before the auth state, and the worker records a
            // delivery before it declares the credential good: read once more.
            let again = app.status().await;
            assert_eq!(
                again["queue"]["delivered"], 1,
                "auth flapped back to {state} before any delivery worked"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(seen_failing);
    assert_eq!(app.status().await["auth"]["state"], "ok");
    // One probe per recheck interval (1 s): three refusals take at least two intervals.
    let creates = fake.requests_to(Endpoint::CreateCustomer);
    assert_eq!(creates.len(), 4);
    assert!(creates[3].at.duration_since(creates[0].at) >= Duration::from_secs(2));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_clover_keeps_the_submission_pending_and_retries_with_backoff() {
    // A port nobody listens on: every attempt is a connection error.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fake = FakeClover::start().await;
    let mut config = Config::token(&fake);
    config.set(
        "CLOVER_API_BASE_URL",
        &format!("http://127.0.0.1:{closed_port}"),
    );
    let app = spawn_app(&config).await;

    assert_eq!(app.post_form(&valid_form()).await.status(), 303);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let status = app.status().await;
    let recent = &status["recent"][0];
    assert_eq!(recent["state"], "pending");
    assert_eq!(
        recent["last_error"],
        "Clover is unavailable: could not connect to Clover"
    );
    // Backoff of 100, 200, then 400 ms (with jitter) allows a handful of attempts in
    // 1.5 s, not hundreds.
    let attempts = recent["attempts"].as_u64().unwrap();
    assert!((2..=8).contains(&attempts), "{attempts} attempts");
    app.stop().await;
}

/// A write that could only leave after its claim ran out is not sent at all: whoever
/// took the submission over might already be creating the same customer.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_due_after_its_deadline_is_never_sent() {
    use std::sync::Arc;

    use clover_signup::clover::{
        Access, CloverClient, CloverError, CustomerDraft, MerchantId, StaticToken,
    };

    let fake = FakeClover::start().await;
    let token = StaticToken::new(Some(Access {
        merchant_id: MerchantId::parse(fake_clover::MERCHANT_ID).unwrap(),
        token: fake_clover::API_TOKEN.to_owned().into(),
    }));
    let client = CloverClient::new(
        fake.base_url().parse().unwrap(),
        Arc::new(token),
        Duration::from_secs(1),
    )
    .unwrap();
    let draft = CustomerDraft {
        first_name: Some("Ada".into()),
        last_name: None,
        email: "ada@example.com".into(),
        phone: None,
        birthday: None,
        address: None,
        note: "Signed up on the website.".into(),
        customer_since: 1_700_000_000_000,
    };

    let passed = tokio::time::Instant::now() - Duration::from_millis(1);
    let late = client.create(&draft, passed).await;
    assert!(
        matches!(late, Err(CloverError::Unavailable { .. })),
        "{late:?}"
    );
    assert!(fake.customers().is_empty(), "a late write reached Clover");

    let in_time = tokio::time::Instant::now() + Duration::from_secs(30);
    client.create(&draft, in_time).await.unwrap();
    assert_eq!(fake.customers().len(), 1);
}

/// Holds the application's database so that it cannot write until the guard is dropped:
/// SQLite locked by another connection (as a backup or the CLI might), PostgreSQL's
/// submissions table locked. Either way the service's wait for the lock runs out.
struct DatabaseHeld {
    release: std::sync::mpsc::Sender<()>,
    held: std::thread::JoinHandle<()>,
}

impl DatabaseHeld {
    async fn hold(config: &Config) -> Self {
        let url = config.vars()["DATABASE_URL"].clone();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (locked, is_locked) = std::sync::mpsc::channel::<()>();
        let held = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            if let Some(path) = url.strip_prefix("sqlite://") {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.execute_batch("BEGIN EXCLUSIVE").unwrap();
                locked.send(()).unwrap();
                let _ = released.recv();
                connection.execute_batch("ROLLBACK").unwrap();
            } else {
                runtime.block_on(async {
                    let (mut client, connection) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls)
                            .await
                            .unwrap();
                    tokio::spawn(connection);
                    let tx = client.transaction().await.unwrap();
                    tx.batch_execute("LOCK TABLE submissions IN ACCESS EXCLUSIVE MODE")
                        .await
                        .unwrap();
                    locked.send(()).unwrap();
                    let _ = tokio::task::spawn_blocking(move || released.recv()).await;
                    tx.rollback().await.unwrap();
                });
            }
        });
        tokio::task::spawn_blocking(move || is_locked.recv().unwrap())
            .await
            .unwrap();
        Self { release, held }
    }

    async fn release(self) {
        self.release.send(()).unwrap();
        tokio::task::spawn_blocking(move || self.held.join().unwrap())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signup_that_cannot_be_stored_gets_its_form_back_and_goes_through_once_it_can() {
    let config = Config::demo();
    let app = spawn_app(&config).await;
    let fields = crate::helpers::with_hidden_fields(&app.client, &app.address, &valid_form()).await;

    let held = DatabaseHeld::hold(&config).await;
    let refused = app
        .client
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = refused.status();
    let retry_after = refused.headers().get("retry-after").cloned();
    let page = refused.text().await.unwrap();
    let api = app
        .post_json(&serde_json::json!({
            "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
        }))
        .await;
    let api_status = api.status();
    let api_retry_after = api.headers().get("retry-after").cloned();
    let api_body: serde_json::Value = api.json().await.unwrap();
    held.release().await;

    assert_eq!(status, 503, "{page}");
    assert!(retry_after.is_some(), "no Retry-After");
    assert!(page.contains("was not saved"), "{page}");
    assert!(
        page.contains(r#"value="ada@example.com""#),
        "the input is lost: {page}"
    );
    assert_eq!(api_status, 503);
    assert!(api_retry_after.is_some());
    assert_eq!(api_body["reason"], "database_unavailable", "{api_body}");

    // The same form, sent again once the database is back, goes through.
    let again = app
        .client
        .post(app.url("/"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    app.stop().await;
}

/// While the database does not answer, the admin page shows what it knows without it and
/// says so, and `status.json` answers 503 with a reason: neither is a bare 500.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_says_the_database_does_not_answer_instead_of_failing() {
    let fake = FakeClover::start().await;
    let config = Config::token(&fake);
    if !config.vars()["DATABASE_URL"].starts_with("postgres") {
        // SQLite in WAL mode goes on serving reads while another connection holds the
        // write lock, so only PostgreSQL's table lock makes the reads fail here.
        eprintln!("note: runs with TEST_STORE=postgres (as CI does)");
        return;
    }
    let app = spawn_app(&config).await;
    let held = DatabaseHeld::hold(&config).await;
    let json = app
        .client
        .get(app.url("/admin/status.json"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let json_status = json.status();
    let body: serde_json::Value = json.json().await.unwrap();
    let page = app
        .client
        .get(app.url("/admin"))
        .bearer_auth(crate::helpers::TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let page_status = page.status();
    let page = page.text().await.unwrap();
    held.release().await;

    assert_eq!(json_status, 503, "{body}");
    assert_eq!(body["reason"], "database_unavailable");
    assert_eq!(page_status, 503);
    assert!(page.contains("The database does not answer"), "{page}");
    assert!(
        page.contains(fake_clover::MERCHANT_ID),
        "the rest is shown: {page}"
    );
    assert_eq!(
        app.status().await["queue"]["pending"],
        0,
        "back once it answers"
    );
    app.stop().await;
}
