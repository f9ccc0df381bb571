mod support;

// Checks that the fake Clover is as strict as the fact sheet, so tests of the
// app that pass against it mean something.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::fake_clover::{
    API_TOKEN, APP_ID, APP_SECRET, Endpoint, FakeClover, Fault, LEGACY_TOKEN, MERCHANT_ID,
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

async fn recover(http: &Client, fake: &FakeClover, refresh_token: &Value) -> Response {
    let body = json!({
        "client_id": APP_ID, "client_secret": APP_SECRET, "refresh_token": refresh_token,
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

    let merchant = get_with(&http, &merchant_url(&fake), &pair["access_token"]).await;
    assert_eq!(merchant.status(), 200);

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

    let wrong_secret = json!({"client_id": APP_ID, "client_secret": "guess", "refresh_token": old});
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
    let url = merchant_url(&fake);

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
    let foreign = format!("{}/v3/merchants/AAAAAAAAAAAAA", fake.base_url());
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
