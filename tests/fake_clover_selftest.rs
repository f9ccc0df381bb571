mod support;

// Checks that the fake Clover enforces the facts of docs/clover-api.md at least as strictly
// as Clover does, so tests of the app that pass against it mean something.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_clover::{
    API_TOKEN, APP_ID, APP_SECRET, CUSTOMERS_ADDRESS_W, CUSTOMERS_EMAIL_R, CUSTOMERS_EMAIL_W,
    CUSTOMERS_R, CUSTOMERS_W, Endpoint, FakeClover, Fault, LEGACY_TOKEN, MERCHANT_ID, MERCHANT_R,
    NewFakeCustomer,
};

fn client() -> Client {
    Client::builder()
        .user_agent("clover-signup-selftest/0.1")
        .build()
        .expect("client")
}

fn merchant_url(fake: &FakeClover) -> String {
    format!("{}/v3/merchants/{MERCHANT_ID}", fake.base_url())
}

fn customers_url(fake: &FakeClover) -> String {
    format!("{}/customers", merchant_url(fake))
}

async fn post_json(http: &Client, url: &str, body: Value) -> Response {
    http.post(url)
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("send")
}

async fn get(http: &Client, url: &str) -> Response {
    get_as(http, url, API_TOKEN).await
}

async fn get_as(http: &Client, url: &str, token: &str) -> Response {
    http.get(url).bearer_auth(token).send().await.expect("send")
}

async fn post_as(http: &Client, url: &str, token: &str, body: Value) -> Response {
    http.post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("send")
}

async fn delete_as(http: &Client, url: &str, token: &str) -> Response {
    http.delete(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

/// The `elements` of a search answer.
async fn elements(resp: Response) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    page["elements"].as_array().unwrap().clone()
}

fn millis_now() -> i64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    i64::try_from(since.unwrap().as_millis()).unwrap()
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

fn count_prefixed(fake: &FakeClover, prefix: &str) -> usize {
    fake.violations()
        .iter()
        .filter(|v| v.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn auth_is_refused_and_every_request_recorded() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);

    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let other_merchant = format!("{}/v3/merchants/AAAAAAAAAAAAA/customers", fake.base_url());
    assert_eq!(get(&http, &other_merchant).await.status(), 401);

    let ok = get(&http, &url).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let page: Value = ok.json().await.unwrap();
    assert_eq!(page["elements"], json!([]));

    fake.set_accepted_token("rotated-token");
    assert_eq!(get(&http, &url).await.status(), 401);
    let rotated = http.get(&url).bearer_auth("rotated-token").send().await;
    assert_eq!(rotated.unwrap().status(), 200);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401, 200, 401, 200]);
    assert_eq!(fake.requests_to(Endpoint::SearchCustomers).len(), 6);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // reqwest sends no User-Agent unless told to; the fake answers but objects.
    let bare = Client::new().get(&url).bearer_auth("rotated-token").send();
    assert_eq!(bare.await.unwrap().status(), 200);
    assert_eq!(count_prefixed(&fake, "user-agent:"), 1);
    fake.stop().await;
}

#[tokio::test]
async fn create_accepts_the_documented_shape_and_refuses_the_rest() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);

    let good = json!({
        "firstName": "Ada", "lastName": "Lovelace",
        "emailAddresses": [{"emailAddress": "ada@example.com"}],
        "phoneNumbers": [{"phoneNumber": "5551234567"}],
        "addresses": [{"address1": "1 Main St", "city": "Sunnyvale", "state": "CA",
                       "zip": "94085", "country": "US"}],
        "metadata": {"dobMonth": 12, "dobDay": 10, "note": "web form"},
        "customerSince": 1_718_153_645_000_i64,
        "marketingAllowed": true,
    });
    let resp = post_json(&http, &url, good.clone()).await;
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 13);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
    assert_eq!(created["merchant"]["id"], MERCHANT_ID);
    assert_eq!(created["marketingAllowed"], false);
    assert!(created.get("emailAddresses").is_none(), "not expanded");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let stored = fake.customers();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].emails, ["ada@example.com"]);
    assert_eq!(stored[0].note.as_deref(), Some("web form"));
    assert!(!stored[0].marketing_allowed);

    let mut bad_bodies = vec![
        json!({"firstName": "Ada", "email": "ada@example.com"}),
        json!({"firstName": "x".repeat(65)}),
        json!({"customerSince": 1_718_153_645_i64}),
        json!({"emailAddresses": ["ada@example.com"]}),
        json!({"metadata": {"dobMonth": 13}}),
        json!({"metadata": {"birthday": "1990-12-10"}}),
    ];
    let mut address = good["addresses"][0].clone();
    address["country"] = json!("USA");
    bad_bodies.push(json!({ "addresses": [address] }));
    for body in &bad_bodies {
        let resp = post_json(&http, &url, body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(err["message"].is_string());
    }
    assert_eq!(count_prefixed(&fake, "create:"), bad_bodies.len());

    let text = http
        .post(&url)
        .bearer_auth(API_TOKEN)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(count_prefixed(&fake, "content-type:"), 1);
    assert_eq!(fake.customers().len(), 1, "refused bodies create nothing");
    let recorded = fake.requests_to(Endpoint::CreateCustomer);
    assert_eq!(recorded[0].body.as_ref(), Some(&good));
    assert_eq!(recorded[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn expanded_collections_come_back_wrapped() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = format!(
        "{}?expand=emailAddresses,phoneNumbers,metadata",
        customers_url(&fake)
    );
    let body = json!({
        "firstName": "Ada",
        "emailAddresses": [{"emailAddress": "ada@example.com"}],
        "phoneNumbers": [{"phoneNumber": "5551234567"}],
        "metadata": {"note": "hello"},
    });
    let created: Value = post_json(&http, &url, body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let emails = &created["emailAddresses"];
    assert!(emails.is_object(), "wrapped, not a bare array: {emails}");
    assert_eq!(emails["elements"][0]["emailAddress"], "ada@example.com");
    assert_eq!(emails["elements"][0]["customer"]["id"], id.as_str());
    assert!(emails["elements"][0]["id"].is_string());
    assert_eq!(
        created["phoneNumbers"]["elements"][0]["phoneNumber"],
        "5551234567"
    );
    assert_eq!(created["metadata"]["note"], "hello");

    let one = format!("{}/{id}", customers_url(&fake));
    let plain: Value = get(&http, &one).await.json().await.unwrap();
    assert!(plain.get("emailAddresses").is_none());
    assert!(plain.get("metadata").is_none());
    let expanded: Value = get(&http, &format!("{one}?expand=phoneNumbers"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        expanded["phoneNumbers"]["elements"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(expanded.get("emailAddresses").is_none());

    let missing = get(&http, &format!("{}/ZZZZZZZZZZZZZ", customers_url(&fake))).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"message": "Not Found", "details": "Customer not found"})
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn search_filters_on_flat_fields_only() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);
    let ada = fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        emails: vec!["ada@example.com".into()],
        ..Default::default()
    });
    let plus = fake.seed_customer(NewFakeCustomer {
        emails: vec!["ada+news@example.com".into()],
        phones: vec!["5551234567".into()],
        ..Default::default()
    });

    let search = |filter: &str| {
        http.get(&url)
            .bearer_auth(API_TOKEN)
            .query(&[("filter", filter), ("expand", "emailAddresses")])
            .send()
    };
    let resp = search("emailAddress=ada@example.com").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        header(&resp, "x-clover-allowed-filter-fields")
            .unwrap()
            .contains("emailAddress")
    );
    let page: Value = resp.json().await.unwrap();
    assert!(page["href"].is_string());
    let elements = page["elements"].as_array().unwrap();
    assert_eq!(elements.len(), 1, "exact match only: {page}");
    assert_eq!(elements[0]["id"], ada.as_str());
    assert_eq!(
        elements[0]["emailAddresses"]["elements"][0]["emailAddress"],
        "ada@example.com"
    );

    let page: Value = search("emailAddress=ada+news@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["elements"][0]["id"], plus.as_str());
    let page: Value = search("phoneNumber=5551234567")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["elements"][0]["id"], plus.as_str());

    // An unencoded '+' decodes to a space, exactly like a real server.
    let raw = format!("{url}?filter=emailAddress=ada+news@example.com");
    let page: Value = get(&http, &raw).await.json().await.unwrap();
    assert_eq!(page["elements"], json!([]));
    let none: Value = search("emailAddress=nobody@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["elements"], json!([]));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let nested = search("emailAddresses.emailAddress=ada@example.com")
        .await
        .unwrap();
    assert_eq!(nested.status(), 400);
    assert_eq!(search("email=ada@example.com").await.unwrap().status(), 400);
    assert_eq!(get(&http, &format!("{url}?limit=5000")).await.status(), 400);
    assert_eq!(count_prefixed(&fake, "search:"), 3);

    let first = &fake.requests_to(Endpoint::SearchCustomers)[0];
    assert!(
        first.query.contains("%40"),
        "raw query stays encoded: {}",
        first.query
    );
    assert!(
        first
            .query_pairs()
            .contains(&("filter".into(), "emailAddress=ada@example.com".into()))
    );
}

#[tokio::test]
async fn update_overwrites_only_given_fields_and_contacts_use_sub_resources() {
    let fake = FakeClover::start().await;
    let http = client();
    let id = fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        last_name: Some("King".into()),
        emails: vec!["ada@example.com".into()],
        note: Some("old".into()),
        ..Default::default()
    });
    let one = format!("{}/{id}", customers_url(&fake));

    let updated = post_json(&http, &one, json!({"lastName": "Lovelace"})).await;
    assert_eq!(updated.status(), 200);
    let c = &fake.customers()[0];
    assert_eq!(c.first_name.as_deref(), Some("Ada"));
    assert_eq!(c.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(c.note.as_deref(), Some("old"));

    let email = post_json(
        &http,
        &format!("{one}/email_addresses"),
        json!({"emailAddress": "ada@work.example"}),
    )
    .await;
    assert_eq!(email.status(), 200);
    let email: Value = email.json().await.unwrap();
    assert!(email["id"].is_string());
    assert_eq!(email["customer"]["id"], id.as_str());
    let phone = post_json(
        &http,
        &format!("{one}/phone_numbers"),
        json!({"phoneNumber": "5550001111"}),
    )
    .await;
    assert_eq!(phone.status(), 200);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let c = &fake.customers()[0];
    assert_eq!(c.emails, ["ada@example.com", "ada@work.example"]);
    assert_eq!(c.phones, ["5550001111"]);

    let sneaky = json!({"emailAddresses": [{"emailAddress": "x@example.com"}]});
    assert_eq!(post_json(&http, &one, sneaky).await.status(), 200);
    assert_eq!(count_prefixed(&fake, "update:"), 1);
    assert_eq!(fake.customers()[0].emails.len(), 2);

    let put = http
        .put(&one)
        .bearer_auth(API_TOKEN)
        .json(&json!({}))
        .send();
    assert_eq!(put.await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(count_prefixed(&fake, "method:"), 1);
    let unknown_email = format!("{}/ZZZZZZZZZZZZZ/email_addresses", customers_url(&fake));
    let resp = post_json(
        &http,
        &unknown_email,
        json!({"emailAddress": "a@b.example"}),
    )
    .await;
    assert_eq!(resp.status(), 404);

    // Addresses have their sub-resource too, checked like on create.
    let mut address = json!({"address1": "1 Main St", "city": "Sunnyvale", "state": "CA",
        "zip": "94085", "country": "US"});
    let added = post_json(&http, &format!("{one}/addresses"), address.clone()).await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    assert!(added["id"].is_string());
    assert_eq!(added["customer"]["id"], id.as_str());
    assert_eq!(fake.requests_to(Endpoint::AddAddress).len(), 1);
    address["country"] = json!("USA");
    let resp = post_json(&http, &format!("{one}/addresses"), address).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(count_prefixed(&fake, "address:"), 1);
    assert_eq!(fake.customers()[0].addresses.len(), 1);
}

#[tokio::test]
async fn rate_limit_and_early_retry_are_enforced() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);

    let started = Instant::now();
    for _ in 0..16 {
        assert_eq!(get(&http, &url).await.status(), 200);
    }
    let limited = get(&http, &url).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "burst too slow to test"
    );
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("1"));
    assert_eq!(
        header(&limited, "x-ratelimit-tokenlimit").as_deref(),
        Some("16")
    );
    assert_eq!(count_prefixed(&fake, "rate:"), 1);

    // Ignoring retry-after is itself refused.
    assert_eq!(get(&http, &url).await.status(), 429);
    assert_eq!(count_prefixed(&fake, "early retry:"), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&http, &url).await.status(), 200);
    assert_eq!(fake.violations().len(), 2, "{:?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_five_in_flight_is_refused() {
    let fake = FakeClover::start().await;
    fake.set_latency(Duration::from_millis(300));
    let http = client();
    let url = customers_url(&fake);

    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { get(&http, &url).await })
        })
        .collect();
    let mut limited = Vec::new();
    for task in tasks {
        let resp = task.await.unwrap();
        if resp.status() == 429 {
            limited.push(resp);
        }
    }
    assert_eq!(limited.len(), 1);
    let concurrent = header(&limited[0], "x-ratelimit-tokenconcurrentlimit");
    assert_eq!(concurrent.as_deref(), Some("5"));
    assert_eq!(count_prefixed(&fake, "concurrency:"), 1);
}

#[tokio::test]
async fn faults_are_consumed_in_order_per_endpoint() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);
    let body = json!({"firstName": "Ada"});

    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::Status {
            status: 503,
            retry_after: None,
            body: "upstream down".into(),
        },
    );
    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::ProcessThenStatus { status: 500 },
    );
    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::ProcessThenDelay(Duration::from_secs(2)),
    );

    let down = post_json(&http, &url, body.clone()).await;
    assert_eq!(down.status(), 503);
    assert_eq!(down.text().await.unwrap(), "upstream down");
    assert!(fake.customers().is_empty(), "Status faults do not process");

    assert_eq!(post_json(&http, &url, body.clone()).await.status(), 500);
    assert_eq!(fake.customers().len(), 1, "created despite the 500");

    let slow = http
        .post(&url)
        .bearer_auth(API_TOKEN)
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert_eq!(fake.customers().len(), 2, "created before the delay");

    assert_eq!(post_json(&http, &url, body.clone()).await.status(), 200);
    let statuses: Vec<u16> = fake
        .requests_to(Endpoint::CreateCustomer)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 500, 200, 200]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // A gateway that answers at once while the work behind it goes on.
    fake.push_fault(
        Endpoint::CreateCustomer,
        Fault::StatusThenProcess {
            status: 504,
            after: Duration::from_millis(300),
        },
    );
    let before = fake.customers().len();
    assert_eq!(post_json(&http, &url, body.clone()).await.status(), 504);
    assert_eq!(fake.customers().len(), before, "not yet");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fake.customers().len(), before + 1, "carried out after");

    // An injected 429 also binds the client to its retry-after.
    fake.push_fault(
        Endpoint::SearchCustomers,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            body: "{}".into(),
        },
    );
    let limited = get(&http, &url).await;
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&http, &url).await.status(), 429);
    assert_eq!(count_prefixed(&fake, "early retry:"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&http, &url).await.status(), 200);
}

#[tokio::test]
async fn unknown_routes_are_404_and_reported() {
    let fake = FakeClover::start().await;
    let http = client();
    let resp = get(
        &http,
        &format!("{}/v3/merchants/{MERCHANT_ID}/items", fake.base_url()),
    )
    .await;
    assert_eq!(resp.status(), 404);
    let trailing = get(&http, &format!("{}/", customers_url(&fake))).await;
    assert_eq!(trailing.status(), 404);
    assert_eq!(count_prefixed(&fake, "route:"), 2);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.endpoint == Endpoint::Other)
    );
}

#[tokio::test]
async fn permissions_are_per_token_and_refused_like_a_bad_token() {
    let fake = FakeClover::start().await;
    let http = client();
    let merchant = merchant_url(&fake);
    let customers = customers_url(&fake);

    // By default a token has what docs/connecting-to-clover.md asks for: Customers read/write.
    let refused = get(&http, &merchant).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    assert_eq!(get(&http, &customers).await.status(), 200);
    let created = post_json(&http, &customers, json!({"firstName": "Ada"})).await;
    assert_eq!(created.status(), 200);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{customers}/{id}");

    // A second, read-only token: it reads, and every write is a 401.
    fake.add_api_token("read-only", &[CUSTOMERS_R]);
    assert_eq!(get_as(&http, &customers, "read-only").await.status(), 200);
    assert_eq!(get_as(&http, &one, "read-only").await.status(), 200);
    let writes = [
        (customers.clone(), json!({"firstName": "Bob"})),
        (one.clone(), json!({"lastName": "King"})),
        (
            format!("{one}/email_addresses"),
            json!({"emailAddress": "ada@example.com"}),
        ),
        (
            format!("{one}/phone_numbers"),
            json!({"phoneNumber": "5551234567"}),
        ),
        (format!("{one}/metadata"), json!({"note": "hi"})),
    ];
    for (url, body) in &writes {
        let resp = post_as(&http, url, "read-only", body.clone()).await;
        assert_eq!(resp.status(), 401, "{url}");
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"message": "401 Unauthorized"})
        );
    }
    assert_eq!(delete_as(&http, &one, "read-only").await.status(), 401);
    assert_eq!(get_as(&http, &merchant, "read-only").await.status(), 401);
    let c = &fake.customers()[0];
    assert_eq!((c.last_name.as_ref(), c.emails.len()), (None, 0));
    assert!(c.deleted_time.is_none());

    // The merchant edits the API token: effective on the next request.
    fake.set_api_token_permissions(API_TOKEN, &[MERCHANT_R, CUSTOMERS_R]);
    let opened = get(&http, &merchant).await;
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.json::<Value>().await.unwrap()["id"], MERCHANT_ID);
    assert_eq!(post_json(&http, &customers, json!({})).await.status(), 401);
    fake.set_api_token_permissions("read-only", &[CUSTOMERS_R, CUSTOMERS_W]);
    let resp = post_as(&http, &customers, "read-only", json!({"firstName": "Bob"})).await;
    assert_eq!(resp.status(), 200);

    // A replaced primary token starts with the defaults; the old one is
    // refused, and keeps its permissions should it come back.
    fake.set_accepted_token("rotated");
    assert_eq!(get(&http, &customers).await.status(), 401);
    assert_eq!(get_as(&http, &merchant, "rotated").await.status(), 401);
    assert_eq!(get_as(&http, &customers, "rotated").await.status(), 200);
    assert_eq!(get_as(&http, &customers, "read-only").await.status(), 200);
    fake.set_accepted_token(API_TOKEN);
    assert_eq!(get(&http, &merchant).await.status(), 200);

    // Missing permissions are the merchant's choice, not the client's fault.
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    assert_eq!(fake.customers().len(), 2);
}

#[tokio::test]
#[should_panic(expected = "unknown permission")]
async fn permission_names_are_checked() {
    let fake = FakeClover::start().await;
    fake.set_api_token_permissions(API_TOKEN, &["CUSTOMER_R"]);
}

#[tokio::test]
async fn eu_field_permissions_hide_contacts_and_refuse_writing_them() {
    let fake = FakeClover::start().await;
    let http = client();
    let customers = customers_url(&fake);
    let id = fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        emails: vec!["ada@example.com".into()],
        phones: vec!["5551234567".into()],
        ..Default::default()
    });
    let one = format!("{customers}/{id}");
    let expanded = "emailAddresses,phoneNumbers,metadata";
    let search = |token: &'static str| {
        http.get(&customers)
            .bearer_auth(token)
            .query(&[
                ("filter", "emailAddress=ada@example.com"),
                ("expand", expanded),
            ])
            .send()
    };

    // Outside Europe the same token sees everything.
    let found = elements(search(API_TOKEN).await.unwrap()).await;
    assert!(found[0]["emailAddresses"].is_object(), "{found:?}");

    fake.set_field_permissions(true);
    let found = elements(search(API_TOKEN).await.unwrap()).await;
    assert_eq!(found.len(), 1, "the customer is found ...");
    assert_eq!(found[0]["firstName"], "Ada");
    assert!(found[0]["metadata"].is_object());
    assert!(
        found[0].get("emailAddresses").is_none() && found[0].get("phoneNumbers").is_none(),
        "... but its contacts are silently left out: {found:?}"
    );
    let got: Value = get(&http, &format!("{one}?expand={expanded}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("emailAddresses").is_none(), "{got}");

    // Writing a contact without the field-level write permission.
    let with_email =
        json!({"firstName": "Bob", "emailAddresses": [{"emailAddress": "bob@example.com"}]});
    assert_eq!(
        post_json(&http, &customers, with_email.clone())
            .await
            .status(),
        401
    );
    let with_address = json!({"addresses": [{"address1": "1 Main St", "city": "Sunnyvale",
        "state": "CA", "zip": "94085", "country": "US"}]});
    assert_eq!(post_json(&http, &one, with_address).await.status(), 401);
    let email = json!({"emailAddress": "ada@work.example"});
    let resp = post_json(&http, &format!("{one}/email_addresses"), email.clone()).await;
    assert_eq!(resp.status(), 401);
    let phone = json!({"phoneNumber": "5550001111"});
    let resp = post_json(&http, &format!("{one}/phone_numbers"), phone.clone()).await;
    assert_eq!(resp.status(), 401);
    let address = json!({"address1": "1 Main St", "city": "Sunnyvale", "state": "CA",
        "zip": "94085", "country": "US"});
    let resp = post_json(&http, &format!("{one}/addresses"), address.clone()).await;
    assert_eq!(resp.status(), 401);
    // The name alone is fine.
    let resp = post_json(&http, &customers, json!({"firstName": "Bob"})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.customers().len(), 2);
    assert_eq!(fake.customers()[0].emails, ["ada@example.com"]);

    // A token with the email permissions sees and writes emails, not phones.
    let eu = "eu-token";
    fake.add_api_token(
        eu,
        &[
            CUSTOMERS_R,
            CUSTOMERS_W,
            CUSTOMERS_EMAIL_R,
            CUSTOMERS_EMAIL_W,
        ],
    );
    let found = elements(search(eu).await.unwrap()).await;
    assert_eq!(
        found[0]["emailAddresses"]["elements"][0]["emailAddress"],
        "ada@example.com"
    );
    assert!(found[0].get("phoneNumbers").is_none());
    assert_eq!(
        post_as(&http, &customers, eu, with_email).await.status(),
        200
    );
    let resp = post_as(&http, &format!("{one}/email_addresses"), eu, email).await;
    assert_eq!(resp.status(), 200);
    let resp = post_as(&http, &format!("{one}/phone_numbers"), eu, phone).await;
    assert_eq!(resp.status(), 401);
    fake.set_api_token_permissions(eu, &[CUSTOMERS_R, CUSTOMERS_W, CUSTOMERS_ADDRESS_W]);
    let resp = post_as(&http, &format!("{one}/addresses"), eu, address).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.customers()[0].addresses.len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn email_filter_is_exact_case_unless_switched_off() {
    let fake = FakeClover::start().await;
    let http = client();
    // Typed at the register: the case stays as typed.
    let id = fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        emails: vec!["Ada@Example.com".into()],
        ..Default::default()
    });
    let c = &fake.customers()[0];
    assert_eq!(c.emails, ["Ada@Example.com"]);
    let since = c.customer_since.expect("customerSince set when seeded");
    assert!((millis_now() - since).abs() < 60_000, "epoch ms: {since}");

    let search = |email: &str| {
        http.get(customers_url(&fake))
            .bearer_auth(API_TOKEN)
            .query(&[("filter", format!("emailAddress={email}"))])
            .send()
    };
    assert!(
        elements(search("ada@example.com").await.unwrap())
            .await
            .is_empty()
    );
    let found = elements(search("Ada@Example.com").await.unwrap()).await;
    assert_eq!(found[0]["id"], id.as_str());
    assert_eq!(found[0]["customerSince"], since);

    fake.set_email_filter_exact(false);
    for email in ["ada@example.com", "ADA@EXAMPLE.COM"] {
        let found = elements(search(email).await.unwrap()).await;
        assert_eq!(found.len(), 1, "{email}");
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn soft_deleted_customers_come_back_with_deleted_time() {
    let fake = FakeClover::start().await;
    let http = client();
    let customers = customers_url(&fake);
    let seeded = |first: &str| NewFakeCustomer {
        first_name: Some(first.into()),
        emails: vec!["ada@example.com".into()],
        ..Default::default()
    };
    let gone = fake.seed_deleted_customer(seeded("Old Ada"));
    let live = fake.seed_customer(seeded("Ada"));
    let search = || {
        http.get(&customers)
            .bearer_auth(API_TOKEN)
            .query(&[("filter", "emailAddress=ada@example.com")])
            .send()
    };

    let found = elements(search().await.unwrap()).await;
    assert_eq!(found.len(), 2, "the deleted one is still found: {found:?}");
    assert_eq!(found[0]["id"], gone.as_str());
    let deleted_time = found[0]["deletedTime"].as_i64().expect("deletedTime");
    assert!((millis_now() - deleted_time).abs() < 60_000);
    assert!(found[1].get("deletedTime").is_none());
    let one: Value = get(&http, &format!("{customers}/{gone}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["deletedTime"], deleted_time);
    assert_eq!(fake.customers()[0].deleted_time, Some(deleted_time));

    // As if the merchant deleted the other one in the dashboard.
    fake.delete_customer(&live);
    let found = elements(search().await.unwrap()).await;
    assert!(found.iter().all(|c| c["deletedTime"].is_i64()), "{found:?}");

    fake.set_soft_deletes(false);
    assert!(elements(search().await.unwrap()).await.is_empty());
    let missing = get(&http, &format!("{customers}/{gone}")).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(fake.customers().len(), 2, "kept, only hidden");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn delete_endpoint_and_writes_to_deleted_customers() {
    let fake = FakeClover::start().await;
    let http = client();
    let customers = customers_url(&fake);
    let created = post_json(&http, &customers, json!({"firstName": "Ada"})).await;
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{customers}/{id}");

    let deleted = delete_as(&http, &one, API_TOKEN).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(fake.requests_to(Endpoint::DeleteCustomer).len(), 1);
    let got: Value = get(&http, &one).await.json().await.unwrap();
    assert!(got["deletedTime"].is_i64(), "{got}");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Answered, but a correct client never writes to a deleted customer.
    let writes = [
        (one.clone(), json!({"lastName": "King"})),
        (
            format!("{one}/email_addresses"),
            json!({"emailAddress": "ada@example.com"}),
        ),
        (
            format!("{one}/phone_numbers"),
            json!({"phoneNumber": "5551234567"}),
        ),
        (format!("{one}/metadata"), json!({"note": "hi"})),
    ];
    for (url, body) in &writes {
        assert_eq!(post_json(&http, url, body.clone()).await.status(), 200);
    }
    let violations = fake.violations();
    assert_eq!(violations.len(), writes.len(), "{violations:?}");
    assert!(
        violations
            .iter()
            .all(|v| v.starts_with("update:") && v.contains("deleted customer")),
        "{violations:?}"
    );

    // Without soft deletes it is simply gone.
    fake.set_soft_deletes(false);
    assert_eq!(get(&http, &one).await.status(), 404);
    assert_eq!(delete_as(&http, &one, API_TOKEN).await.status(), 404);
    let resp = post_json(&http, &one, json!({"lastName": "Byron"})).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(fake.violations().len(), writes.len());
    let unknown = format!("{customers}/ZZZZZZZZZZZZZ");
    assert_eq!(delete_as(&http, &unknown, API_TOKEN).await.status(), 404);
}

#[tokio::test]
async fn metadata_endpoint_replaces_and_flags_a_replaced_note() {
    let fake = FakeClover::start().await;
    let http = client();
    let noted = fake.seed_customer(NewFakeCustomer {
        first_name: Some("Ada".into()),
        note: Some("Regular since 2019".into()),
        ..Default::default()
    });
    let plain = fake.seed_customer(NewFakeCustomer::default());
    let metadata = |id: &str| format!("{}/{id}/metadata", customers_url(&fake));

    // Customers without a note: set one, answered with the metadata.
    let resp = post_json(
        &http,
        &metadata(&plain),
        json!({"note": "web form", "dobMonth": 12}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"note": "web form", "dobMonth": 12})
    );
    assert_eq!(fake.requests_to(Endpoint::UpdateMetadata).len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // The whole metadata is replaced: the merchant's note is gone.
    let birthday = json!({"dobMonth": 12, "dobDay": 10});
    let resp = post_json(&http, &metadata(&noted), birthday.clone()).await;
    assert_eq!(resp.status(), 200);
    let c = &fake.customers()[0];
    assert_eq!(c.note, None);
    assert_eq!(Value::Object(c.metadata.clone()), birthday);
    assert_eq!(
        fake.violations(),
        [format!(
            "metadata: replaced an existing note of customer {noted}"
        )]
    );
    // Replacing the web form's own note is just as much a replaced note.
    let resp = post_json(
        &http,
        &metadata(&plain),
        json!({"businessName": "Analytical"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.customers()[1].note, None);
    assert_eq!(count_prefixed(&fake, "metadata: replaced"), 2);

    // The body is checked like metadata on create.
    for bad in [json!({"birthday": "1990-12-10"}), json!({"dobDay": 32})] {
        let resp = post_json(&http, &metadata(&plain), bad.clone()).await;
        assert_eq!(resp.status(), 400, "{bad}");
    }
    assert_eq!(count_prefixed(&fake, "metadata:"), 4);
    let resp = post_json(&http, &metadata("ZZZZZZZZZZZZZ"), json!({"note": "x"})).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn more_than_three_expansions_are_refused() {
    let fake = FakeClover::start().await;
    let http = client();
    let customers = customers_url(&fake);
    let body = json!({"firstName": "Ada"});

    let three = format!("{customers}?expand=emailAddresses,phoneNumbers,metadata");
    assert_eq!(post_json(&http, &three, body.clone()).await.status(), 200);
    // Naming one field twice is still three fields.
    let twice =
        format!("{customers}?expand=emailAddresses,phoneNumbers&expand=metadata,phoneNumbers");
    assert_eq!(get(&http, &twice).await.status(), 200);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let four = format!("{customers}?expand=emailAddresses,phoneNumbers,metadata,addresses");
    let refused = get(&http, &four).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.json::<Value>().await.unwrap()["message"].is_string());
    let split = format!("{customers}?expand=emailAddresses,phoneNumbers&expand=metadata,addresses");
    assert_eq!(get(&http, &split).await.status(), 400);
    assert_eq!(post_json(&http, &four, body).await.status(), 400);
    assert_eq!(
        fake.customers().len(),
        1,
        "a refused create creates nothing"
    );
    let id = &fake.customers()[0].id;
    let one = format!("{customers}/{id}?expand=emailAddresses,phoneNumbers,metadata,addresses");
    assert_eq!(get(&http, &one).await.status(), 400);
    assert_eq!(count_prefixed(&fake, "expand:"), 4);
}

#[tokio::test]
async fn allowed_filter_fields_can_leave_out_email() {
    let fake = FakeClover::start().await;
    let http = client();
    let customers = customers_url(&fake);
    fake.set_allowed_filter_fields("firstName,lastName,phoneNumber,id");

    let plain = get(&http, &customers).await;
    assert_eq!(
        header(&plain, "x-clover-allowed-filter-fields").as_deref(),
        Some("firstName,lastName,phoneNumber,id")
    );
    let by_phone = get(&http, &format!("{customers}?filter=phoneNumber=5551234567")).await;
    assert_eq!(by_phone.status(), 200);
    assert!(header(&by_phone, "x-clover-allowed-filter-fields").is_some());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let by_email = get(
        &http,
        &format!("{customers}?filter=emailAddress=a%40b.example"),
    )
    .await;
    assert_eq!(by_email.status(), 400);
    assert!(header(&by_email, "x-clover-allowed-filter-fields").is_some());
    assert_eq!(count_prefixed(&fake, "search:"), 1);
}

// ---------------------------------------------------------------- oauth --

const REDIRECT: &str = "https://shop.example/clover/callback";

/// The merchant's browser: does not follow the redirect, so the test sees it.
fn browser() -> Client {
    Client::builder()
        .user_agent("Mozilla/5.0 (selftest browser)")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser")
}

/// A fresh PKCE verifier and its S256 challenge.
fn pkce_pair() -> (String, String) {
    let verifier: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn authorize(fake: &FakeClover, params: &[(&str, &str)]) -> Response {
    browser()
        .get(format!("{}/oauth/v2/authorize", fake.web_base_url()))
        .query(params)
        .send()
        .await
        .expect("send")
}

/// The redirect's target and its decoded query parameters.
fn redirect_of(resp: &Response) -> (String, HashMap<String, String>) {
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = header(resp, "location").expect("location");
    let url = url::Url::parse(&location).expect("absolute location");
    let params = url.query_pairs().into_owned().collect();
    (location, params)
}

/// A code from the (instantly approving) authorize step.
async fn code_for(fake: &FakeClover, challenge: Option<&str>) -> String {
    let mut params = vec![
        ("client_id", APP_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
    ];
    if let Some(c) = challenge {
        params.extend([("code_challenge", c), ("code_challenge_method", "S256")]);
    }
    let (_, query) = redirect_of(&authorize(fake, &params).await);
    query["code"].clone()
}

/// POST to an OAuth endpoint on the API host; no bearer header.
async fn oauth_post(http: &Client, fake: &FakeClover, path: &str, body: Value) -> Response {
    http.post(format!("{}{path}", fake.base_url()))
        .json(&body)
        .send()
        .await
        .expect("send")
}

/// Authorize + secret exchange: a fresh token pair.
async fn secret_grant(http: &Client, fake: &FakeClover) -> Value {
    let code = code_for(fake, None).await;
    let body = json!({"client_id": APP_ID, "code": code, "client_secret": APP_SECRET});
    let resp = oauth_post(http, fake, "/oauth/v2/token", body).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn refresh(http: &Client, fake: &FakeClover, refresh_token: &Value) -> Response {
    let body = json!({"client_id": APP_ID, "refresh_token": refresh_token});
    oauth_post(http, fake, "/oauth/v2/refresh", body).await
}

async fn recover(http: &Client, fake: &FakeClover, recovery_token: &Value) -> Response {
    let body = json!({
        "client_id": APP_ID, "client_secret": APP_SECRET, "recovery_token": recovery_token,
    });
    oauth_post(http, fake, "/oauth/v2/recovery", body).await
}

async fn get_with(http: &Client, url: &str, token: &Value) -> Response {
    http.get(url)
        .bearer_auth(token.as_str().unwrap())
        .send()
        .await
        .expect("send")
}

/// The four fields, with expirations in Unix seconds and opaque tokens.
fn assert_pair(pair: &Value, access_lifetime: u64) {
    let now = unix_now();
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    assert!(access.len() >= 32 && refresh.len() >= 32, "{pair}");
    assert_ne!(access, refresh);
    let access_exp = pair["access_token_expiration"].as_u64().unwrap();
    assert!(
        access_exp + 2 >= now + access_lifetime && access_exp <= now + access_lifetime,
        "{pair}"
    );
    let refresh_exp = pair["refresh_token_expiration"].as_u64().unwrap();
    let year = 365 * 24 * 3600;
    assert!(
        refresh_exp + 2 >= now + year && refresh_exp <= now + year,
        "{pair}"
    );
}

#[tokio::test]
async fn oauth_pkce_flow_echoes_state_and_checks_the_verifier() {
    let fake = FakeClover::start().await;
    let http = client();
    let (verifier, challenge) = pkce_pair();
    let redirect = "https://shop.example/cb?from=clover";
    let resp = authorize(
        &fake,
        &[
            ("client_id", APP_ID),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("state", "s t&a=te"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (location, query) = redirect_of(&resp);
    assert!(location.starts_with(&format!("{redirect}&")), "{location}");
    assert_eq!(query["from"], "clover");
    assert_eq!(query["merchant_id"], MERCHANT_ID);
    assert_eq!(query["employee_id"], "EMP0000000001");
    assert_eq!(query["client_id"], APP_ID);
    assert_eq!(query["state"], "s t&a=te");
    let code = &query["code"];

    // A wrong verifier is refused and does not spend the code.
    let (other_verifier, _) = pkce_pair();
    let wrong = json!({"client_id": APP_ID, "code": code, "code_verifier": other_verifier});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", wrong).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(count_prefixed(&fake, "token:"), 1);
    // So is the secret in place of the verifier.
    let secret = json!({"client_id": APP_ID, "code": code, "client_secret": APP_SECRET});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", secret).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(count_prefixed(&fake, "token:"), 2);

    let good = json!({"client_id": APP_ID, "code": code, "code_verifier": verifier});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", good).await;
    assert_eq!(resp.status(), 200);
    let pair: Value = resp.json().await.unwrap();
    assert_pair(&pair, 30 * 60);
    let stats = fake.oauth_stats();
    assert_eq!(
        (stats.authorizations, stats.exchanges, stats.pkce_verified),
        (1, 1, 1)
    );

    let search = get_with(&http, &customers_url(&fake), &pair["access_token"]).await;
    assert_eq!(search.status(), 200);

    // Without echo, the state is simply not sent back.
    fake.set_echo_state(false);
    let resp = authorize(
        &fake,
        &[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("state", "abc"),
        ],
    )
    .await;
    let (_, query) = redirect_of(&resp);
    assert!(!query.contains_key("state"));
    assert!(query.contains_key("code"));

    let statuses: Vec<u16> = fake
        .requests_to(Endpoint::OAuthToken)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [400, 400, 200]);
    assert_eq!(fake.requests_to(Endpoint::OAuthAuthorize).len(), 2);
    assert_eq!(fake.violations().len(), 2, "{:?}", fake.violations());
}

#[tokio::test]
async fn oauth_authorize_refuses_what_clover_refuses() {
    let fake = FakeClover::start().await;
    let unknown = authorize(
        &fake,
        &[("client_id", "NOSUCHAPP"), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!({"details": "No App with ID NOSUCHAPP found.", "message": "Not Found"})
    );

    let (_, challenge) = pkce_pair();
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", APP_ID), ("redirect_uri", "/clover/callback")],
        vec![
            ("client_id", APP_ID),
            ("redirect_uri", "ftp://shop.example/cb"),
        ],
        vec![("client_id", APP_ID)],
        vec![
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("response_type", "token"),
        ],
        vec![
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge[..42]),
            ("code_challenge_method", "S256"),
        ],
        vec![
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
        ],
    ];
    for params in &bad {
        let resp = authorize(&fake, params).await;
        assert_eq!(resp.status(), 400, "{params:?}");
    }
    assert_eq!(count_prefixed(&fake, "authorize:"), bad.len() + 1);
    assert_eq!(fake.oauth_stats().authorizations, 0);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

#[tokio::test]
async fn oauth_secret_flow_refuses_code_reuse_and_sloppy_bodies() {
    let fake = FakeClover::start().await;
    let http = client();
    let code = code_for(&fake, None).await;
    let url = format!("{}/oauth/v2/token", fake.base_url());

    let wrong = json!({"client_id": APP_ID, "code": code, "client_secret": "guess"});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", wrong).await;
    assert_eq!(resp.status(), 401);
    let form = http
        .post(&url)
        .form(&[
            ("client_id", APP_ID),
            ("code", &code),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(count_prefixed(&fake, "content-type:"), 1);
    let extra = json!({
        "client_id": APP_ID, "code": code, "client_secret": APP_SECRET,
        "grant_type": "authorization_code",
    });
    assert_eq!(
        oauth_post(&http, &fake, "/oauth/v2/token", extra)
            .await
            .status(),
        400
    );
    assert_eq!(count_prefixed(&fake, "token:"), 1);

    let body = json!({"client_id": APP_ID, "code": code, "client_secret": APP_SECRET});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_pair(&resp.json().await.unwrap(), 30 * 60);
    assert_eq!(fake.oauth_stats().pkce_verified, 0);

    let again = oauth_post(&http, &fake, "/oauth/v2/token", body).await;
    assert_eq!(again.status(), 400);
    assert!(
        fake.violations()
            .iter()
            .any(|v| v.starts_with("token:") && v.contains("code reuse")),
        "{:?}",
        fake.violations()
    );
    assert_eq!(fake.oauth_stats().exchanges, 1);

    // v1 paths are not served; the wrong method on a v2 path is refused.
    let v1 = http
        .get(format!("{}/oauth/token", fake.base_url()))
        .query(&[("client_id", APP_ID), ("client_secret", APP_SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 404);
    assert_eq!(count_prefixed(&fake, "route:"), 1);
    let get_token = http.get(&url).send().await.unwrap();
    assert_eq!(get_token.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(count_prefixed(&fake, "method:"), 1);
}

#[tokio::test]
async fn oauth_refresh_rotates_and_counts_reuse() {
    let fake = FakeClover::start().await;
    let http = client();
    let first = secret_grant(&http, &fake).await;

    let resp = refresh(&http, &fake, &first["refresh_token"]).await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    assert_pair(&second, 30 * 60);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let reused = refresh(&http, &fake, &first["refresh_token"]).await;
    assert_eq!(reused.status(), 401);
    assert_eq!(
        reused.json::<Value>().await.unwrap(),
        json!({"message": "Invalid refresh token"})
    );
    assert_eq!(fake.oauth_stats().refresh_reuse, 1);
    assert_eq!(count_prefixed(&fake, "refresh: reuse"), 1);

    let unknown = refresh(&http, &fake, &json!("not-a-token")).await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(fake.oauth_stats().refresh_reuse, 1);

    // The secret is not part of the body: answered, but reported.
    let with_secret = json!({
        "client_id": APP_ID, "refresh_token": second["refresh_token"], "client_secret": APP_SECRET,
    });
    let resp = oauth_post(&http, &fake, "/oauth/v2/refresh", with_secret).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(count_prefixed(&fake, "refresh:"), 2);
    let stats = fake.oauth_stats();
    assert_eq!((stats.refreshes, stats.refresh_reuse), (2, 1));
    assert_eq!(fake.requests_to(Endpoint::OAuthRefresh).len(), 4);
}

#[tokio::test]
async fn oauth_recovery_after_a_lost_refresh_answer() {
    let fake = FakeClover::start().await;
    let http = client();
    let first = secret_grant(&http, &fake).await;
    let old = &first["refresh_token"];

    // Clover rotates the pair, but the answer arrives too late.
    fake.push_fault(
        Endpoint::OAuthRefresh,
        Fault::ProcessThenDelay(Duration::from_secs(2)),
    );
    let lost = http
        .post(format!("{}/oauth/v2/refresh", fake.base_url()))
        .json(&json!({"client_id": APP_ID, "refresh_token": old}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(lost.unwrap_err().is_timeout());
    assert_eq!(fake.oauth_stats().refreshes, 1);

    let wrong_secret =
        json!({"client_id": APP_ID, "client_secret": "guess", "recovery_token": old});
    let resp = oauth_post(&http, &fake, "/oauth/v2/recovery", wrong_secret).await;
    assert_eq!(resp.status(), 401);

    let resp = recover(&http, &fake, old).await;
    assert_eq!(resp.status(), 200);
    let recovered: Value = resp.json().await.unwrap();
    assert_pair(&recovered, 30 * 60);
    assert_eq!(fake.oauth_stats().recoveries, 1);

    // Only once: the pair minted by `old` is now spent as well.
    assert_eq!(recover(&http, &fake, old).await.status(), 401);
    // Recovery is not refresh: the current token does not recover itself.
    let current = &recovered["refresh_token"];
    assert_eq!(recover(&http, &fake, current).await.status(), 401);
    assert_eq!(refresh(&http, &fake, current).await.status(), 200);

    let stats = fake.oauth_stats();
    assert_eq!(
        (stats.refreshes, stats.recoveries, stats.refresh_reuse),
        (2, 1, 0)
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn oauth_revoked_refresh_tokens_are_refused() {
    let fake = FakeClover::start().await;
    let http = client();
    let first = secret_grant(&http, &fake).await;
    let resp = refresh(&http, &fake, &first["refresh_token"]).await;
    let second: Value = resp.json().await.unwrap();

    fake.revoke_refresh_tokens();
    assert_eq!(
        refresh(&http, &fake, &second["refresh_token"])
            .await
            .status(),
        401
    );
    assert_eq!(
        recover(&http, &fake, &first["refresh_token"])
            .await
            .status(),
        401
    );
    assert_eq!(fake.oauth_stats().refresh_reuse, 0);

    // A new authorization brings tokens that work again.
    let third = secret_grant(&http, &fake).await;
    assert_eq!(
        refresh(&http, &fake, &third["refresh_token"])
            .await
            .status(),
        200
    );
    let stats = fake.oauth_stats();
    assert_eq!((stats.refreshes, stats.recoveries), (2, 0));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn oauth_migrate_v2_then_exchange() {
    let fake = FakeClover::start().await;
    let http = client();
    let migrate = |body: Value| oauth_post(&http, &fake, "/oauth/token/migrate_v2", body);

    let wrong = json!({"merchant_uuid": MERCHANT_ID, "app_uuid": APP_ID, "auth_token": "nope"});
    assert_eq!(migrate(wrong).await.status(), 401);

    let (verifier, challenge) = pkce_pair();
    let resp = migrate(json!({
        "merchant_uuid": MERCHANT_ID, "app_uuid": APP_ID, "auth_token": LEGACY_TOKEN,
        "code_challenge": challenge,
    }))
    .await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let expiration = answer["expiration"].as_u64().unwrap();
    assert!(expiration > unix_now() && expiration <= unix_now() + 600);
    let code = &answer["authorization_code"];
    let body = json!({"client_id": APP_ID, "code": code, "code_verifier": verifier});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", body).await;
    assert_eq!(resp.status(), 200);
    assert_pair(&resp.json().await.unwrap(), 30 * 60);

    let resp = migrate(json!({
        "merchant_uuid": MERCHANT_ID, "app_uuid": APP_ID, "auth_token": LEGACY_TOKEN,
    }))
    .await;
    let code = &resp.json::<Value>().await.unwrap()["authorization_code"];
    let body = json!({"client_id": APP_ID, "code": code, "client_secret": APP_SECRET});
    let resp = oauth_post(&http, &fake, "/oauth/v2/token", body).await;
    assert_eq!(resp.status(), 200);

    let stats = fake.oauth_stats();
    assert_eq!(
        (
            stats.migrations,
            stats.authorizations,
            stats.exchanges,
            stats.pkce_verified
        ),
        (2, 2, 2, 1)
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    let sloppy = json!({
        "merchant_uuid": MERCHANT_ID, "app_uuid": APP_ID, "auth_token": LEGACY_TOKEN,
        "code_challenge": "too-short",
    });
    assert_eq!(migrate(sloppy).await.status(), 400);
    assert_eq!(count_prefixed(&fake, "migrate:"), 1);
}

#[tokio::test]
async fn api_accepts_access_tokens_until_they_expire() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = customers_url(&fake);

    // Limits are per token: the API token's full window leaves the access token's free.
    let pair = secret_grant(&http, &fake).await;
    for _ in 0..16 {
        assert_eq!(get(&http, &url).await.status(), 200);
    }
    assert_eq!(
        get_with(&http, &url, &pair["access_token"]).await.status(),
        200
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let foreign = format!("{}/v3/merchants/AAAAAAAAAAAAA/customers", fake.base_url());
    assert_eq!(
        get_with(&http, &foreign, &pair["access_token"])
            .await
            .status(),
        401
    );

    // Expirations are whole seconds rounded down: start early in a second so
    // a 1 s token is still valid for the first call.
    fake.set_access_lifetime(Duration::from_secs(1));
    let into_second = Duration::from_nanos(u64::from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    ));
    tokio::time::sleep(Duration::from_millis(1010) - into_second).await;
    let resp = refresh(&http, &fake, &pair["refresh_token"]).await;
    let short: Value = resp.json().await.unwrap();
    assert_pair(&short, 1);
    let access = &short["access_token"];
    assert_eq!(get_with(&http, &url, access).await.status(), 200);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = get_with(&http, &url, access).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    assert_eq!(fake.oauth_stats().expired_access_used, 1);
    // The long-lived token of the first pair still works.
    assert_eq!(
        get_with(&http, &url, &pair["access_token"]).await.status(),
        200
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn app_permissions_apply_to_access_tokens_minted_afterwards() {
    let fake = FakeClover::start().await;
    let http = client();
    let (merchant, customers) = (merchant_url(&fake), customers_url(&fake));
    let first = secret_grant(&http, &fake).await;
    let old = first["access_token"].as_str().unwrap();
    assert_eq!(get_as(&http, &merchant, old).await.status(), 401);
    assert_eq!(get_as(&http, &customers, old).await.status(), 200);

    fake.set_app_permissions(&[MERCHANT_R, CUSTOMERS_R]);
    // A token already issued keeps what it was minted with.
    assert_eq!(get_as(&http, &merchant, old).await.status(), 401);
    let resp = post_as(&http, &customers, old, json!({"firstName": "Ada"})).await;
    assert_eq!(resp.status(), 200);

    // A refreshed pair carries the new permissions.
    let resp = refresh(&http, &fake, &first["refresh_token"]).await;
    let second: Value = resp.json().await.unwrap();
    let new = second["access_token"].as_str().unwrap();
    assert_eq!(get_as(&http, &merchant, new).await.status(), 200);
    assert_eq!(get_as(&http, &customers, new).await.status(), 200);
    let resp = post_as(&http, &customers, new, json!({"firstName": "Bob"})).await;
    assert_eq!(resp.status(), 401);
    // So does a fresh authorization.
    let third = secret_grant(&http, &fake).await;
    let third = third["access_token"].as_str().unwrap();
    assert_eq!(get_as(&http, &merchant, third).await.status(), 200);
    assert_eq!(fake.customers().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn oauth_recovery_takes_recovery_token_only() {
    let fake = FakeClover::start().await;
    let http = client();
    let first = secret_grant(&http, &fake).await;
    let old = &first["refresh_token"];
    assert_eq!(refresh(&http, &fake, old).await.status(), 200);

    let bodies = [
        // The refresh body's field name.
        json!({"client_id": APP_ID, "client_secret": APP_SECRET, "refresh_token": old}),
        json!({"client_id": APP_ID, "client_secret": APP_SECRET}),
        json!({"client_id": APP_ID, "recovery_token": old}),
        json!({"client_id": APP_ID, "client_secret": APP_SECRET, "recovery_token": old,
               "refresh_token": old}),
    ];
    for body in &bodies {
        let resp = oauth_post(&http, &fake, "/oauth/v2/recovery", body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert!(resp.json::<Value>().await.unwrap()["message"].is_string());
    }
    assert_eq!(count_prefixed(&fake, "recovery:"), bodies.len());
    assert_eq!(fake.oauth_stats().recoveries, 0);

    let resp = recover(&http, &fake, old).await;
    assert_eq!(resp.status(), 200);
    assert_pair(&resp.json().await.unwrap(), 30 * 60);
    assert_eq!(fake.oauth_stats().recoveries, 1);
    let recorded = fake.requests_to(Endpoint::OAuthRecovery);
    assert_eq!(
        recorded.last().unwrap().body.as_ref().unwrap()["recovery_token"],
        *old
    );
}

#[tokio::test]
async fn oauth_refresh_answered_with_an_error_may_be_tried_once_more() {
    let fake = FakeClover::start().await;
    let http = client();
    let first = secret_grant(&http, &fake).await;
    let old = &first["refresh_token"];

    // Clover rotates the pair, then answers 500: the client cannot tell.
    fake.push_fault(
        Endpoint::OAuthRefresh,
        Fault::ProcessThenStatus { status: 500 },
    );
    assert_eq!(refresh(&http, &fake, old).await.status(), 500);
    assert_eq!(fake.oauth_stats().refreshes, 1);

    // Trying once more is how it finds out: a 401 that offers recovery.
    let told = refresh(&http, &fake, old).await;
    assert_eq!(told.status(), 401);
    assert_eq!(
        header(&told, "x-clover-recovery-available").as_deref(),
        Some("true")
    );
    assert_eq!(
        told.json::<Value>().await.unwrap(),
        json!({"message": "Invalid refresh token"})
    );
    let stats = fake.oauth_stats();
    assert_eq!(
        (stats.refresh_reuse, stats.refused_with_recovery_available),
        (0, 1)
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Once told, trying again is a reuse (still recoverable, so still the header).
    let again = refresh(&http, &fake, old).await;
    assert_eq!(again.status(), 401);
    assert_eq!(
        header(&again, "x-clover-recovery-available").as_deref(),
        Some("true")
    );
    assert_eq!(fake.oauth_stats().refresh_reuse, 1);
    assert_eq!(count_prefixed(&fake, "refresh: reuse"), 1);

    let resp = recover(&http, &fake, old).await;
    assert_eq!(resp.status(), 200);
    // Recovered: the old token no longer recovers, so no header.
    let late = refresh(&http, &fake, old).await;
    assert_eq!(late.status(), 401);
    assert!(header(&late, "x-clover-recovery-available").is_none());
    let stats = fake.oauth_stats();
    assert_eq!(
        (
            stats.refreshes,
            stats.recoveries,
            stats.refresh_reuse,
            stats.refused_with_recovery_available
        ),
        (1, 1, 2, 2)
    );
}

#[tokio::test]
async fn oauth_reuse_after_a_delivered_answer_is_a_reuse_that_offers_recovery() {
    let fake = FakeClover::start().await;
    let http = client();

    // A 200 the client received.
    let first = secret_grant(&http, &fake).await;
    let resp = refresh(&http, &fake, &first["refresh_token"]).await;
    let second: Value = resp.json().await.unwrap();
    let reused = refresh(&http, &fake, &first["refresh_token"]).await;
    assert_eq!(reused.status(), 401);
    assert_eq!(
        header(&reused, "x-clover-recovery-available").as_deref(),
        Some("true")
    );
    assert_eq!(count_prefixed(&fake, "refresh: reuse"), 1);
    // Two pairs on, the first token recovers nothing: no header.
    assert_eq!(
        refresh(&http, &fake, &second["refresh_token"])
            .await
            .status(),
        200
    );
    let stale = refresh(&http, &fake, &first["refresh_token"]).await;
    assert_eq!(stale.status(), 401);
    assert!(header(&stale, "x-clover-recovery-available").is_none());
    assert_eq!(count_prefixed(&fake, "refresh: reuse"), 2);

    // A 200 the client abandoned still went out: reusing its token is a reuse.
    let other = secret_grant(&http, &fake).await;
    fake.push_fault(
        Endpoint::OAuthRefresh,
        Fault::ProcessThenDelay(Duration::from_secs(2)),
    );
    let lost = http
        .post(format!("{}/oauth/v2/refresh", fake.base_url()))
        .json(&json!({"client_id": APP_ID, "refresh_token": other["refresh_token"]}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(lost.unwrap_err().is_timeout());
    let retried = refresh(&http, &fake, &other["refresh_token"]).await;
    assert_eq!(retried.status(), 401);
    assert_eq!(
        header(&retried, "x-clover-recovery-available").as_deref(),
        Some("true")
    );
    let stats = fake.oauth_stats();
    assert_eq!(
        (stats.refresh_reuse, stats.refused_with_recovery_available),
        (3, 2)
    );
    assert_eq!(count_prefixed(&fake, "refresh: reuse"), 3);
    assert_eq!(
        recover(&http, &fake, &other["refresh_token"])
            .await
            .status(),
        200
    );
}
