mod support;

// Checks that the fake Clover is as strict as the fact sheet, so tests of the
// app that pass against it mean something.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use support::fake_clover::{API_TOKEN, Endpoint, FakeClover, Fault, MERCHANT_ID, NewFakeCustomer};

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
    http.get(url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("send")
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
    let url = merchant_url(&fake);

    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "401 Unauthorized"})
    );
    let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let other_merchant = format!("{}/v3/merchants/AAAAAAAAAAAAA", fake.base_url());
    assert_eq!(get(&http, &other_merchant).await.status(), 401);

    let ok = get(&http, &url).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let merchant: Value = ok.json().await.unwrap();
    assert_eq!(merchant["id"], MERCHANT_ID);

    fake.set_accepted_token("rotated-token");
    assert_eq!(get(&http, &url).await.status(), 401);
    let rotated = http.get(&url).bearer_auth("rotated-token").send().await;
    assert_eq!(rotated.unwrap().status(), 200);

    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401, 200, 401, 200]);
    assert_eq!(fake.requests_to(Endpoint::GetMerchant).len(), 6);
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
    let resp = search("emailAddress=ADA@Example.com").await.unwrap();
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
            .contains(&("filter".into(), "emailAddress=ADA@Example.com".into()))
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
}

#[tokio::test]
async fn rate_limit_and_early_retry_are_enforced() {
    let fake = FakeClover::start().await;
    let http = client();
    let url = merchant_url(&fake);

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
    let url = merchant_url(&fake);

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

    assert_eq!(post_json(&http, &url, body).await.status(), 200);
    let statuses: Vec<u16> = fake
        .requests_to(Endpoint::CreateCustomer)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 500, 200, 200]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // An injected 429 also binds the client to its retry-after.
    fake.push_fault(
        Endpoint::GetMerchant,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
            body: "{}".into(),
        },
    );
    let merchant = merchant_url(&fake);
    let limited = get(&http, &merchant).await;
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&http, &merchant).await.status(), 429);
    assert_eq!(count_prefixed(&fake, "early retry:"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&http, &merchant).await.status(), 200);
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
