//! Hostile traffic: oversized bodies, slow headers, and a thousand malformed requests.
//! Nothing may produce a 5xx, and the service must keep serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Config, spawn_app, valid_form};
use crate::support::fake_clover::{Endpoint, FakeClover};

#[tokio::test]
async fn bodies_over_32_kib_are_refused_with_413() {
    let app = spawn_app(&Config::demo()).await;
    let big = format!("first_name={}", "a".repeat(33 * 1024));

    let form = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let json = app
        .client
        .post(app.url("/api/signups"))
        .header("content-type", "application/json")
        .body(format!("{{\"first_name\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();

    assert_eq!(form.status(), 413);
    assert_eq!(json.status(), 413);
    app.stop().await;
}

#[tokio::test]
async fn the_docs_state_the_body_limit_that_is_enforced() {
    // The configuration reference (beside MAX_CONNECTIONS) and the security page both
    // state the limit.
    for (doc, text) in [
        (
            "docs/configuration.md",
            include_str!("../../docs/configuration.md"),
        ),
        ("docs/security.md", include_str!("../../docs/security.md")),
    ] {
        assert!(
            text.contains("bodies are limited to 32 KiB"),
            "{doc} does not state the limit"
        );
        assert!(!text.contains("4 KiB"), "{doc} states another limit");
    }
    let app = spawn_app(&Config::demo()).await;
    let body_of = |len: usize| format!("note={}", "a".repeat(len - "note=".len()));

    for (path, content_type) in [
        ("/", "application/x-www-form-urlencoded"),
        ("/api/signups", "application/json"),
    ] {
        let mut statuses = Vec::new();
        for len in [32 * 1024, 32 * 1024 + 1] {
            let body = if path == "/" {
                body_of(len)
            } else {
                format!("{{\"note\":\"{}\"}}", "a".repeat(len - 11))
            };
            assert_eq!(body.len(), len);
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        assert_ne!(statuses[0], 413, "{path}: 32 KiB was refused");
        assert_eq!(statuses[1], 413, "{path}: more than 32 KiB was read");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_it_is_sent() {
    let app = spawn_app(&Config::demo()).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Announce a gigabyte, send none of it: the answer must not wait for it.
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\n"
        )
        .unwrap();
        let mut buffer = [0u8; 64];
        let read = stream.read(&mut buffer).unwrap_or(0);
        String::from_utf8_lossy(&buffer[..read]).into_owned()
    })
    .await
    .unwrap();

    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = spawn_app(&Config::demo()).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let held_for = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let mut buffer = [0u8; 256];
        // The server answers 408 or just closes; either way the read ends.
        let _ = stream.read(&mut buffer);
        started.elapsed()
    })
    .await
    .unwrap();

    assert!(held_for < Duration::from_secs(10), "held for {held_for:?}");
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

/// One hostile request, written straight to the socket. Returns the status, if any came.
fn send_raw(address: &str, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream.write_all(request).ok()?;
    // Done sending: a body that promised more ends here instead of at a timeout.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut head = [0u8; 32];
    let read = stream.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..read]);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn hostile_request(n: usize) -> Vec<u8> {
    let path = [
        "/",
        "/api/signups",
        "/admin/login",
        "/oauth/callback",
        "/admin/retry",
    ][n % 5];
    let body: Vec<u8> = match n % 8 {
        0 => b"first_name=%ZZ&email=%E0%A4%A".to_vec(),
        1 => vec![0xff, 0xfe, 0x00, 0xc3, 0x28, b'=', 0x80],
        2 => b"{\"email\": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}".to_vec(),
        3 => b"email=a%0D%0ASet-Cookie:%20x=1&first_name=\r\n".to_vec(),
        4 => format!("first_name={}", "%".repeat(3000)).into_bytes(),
        5 => b"marketing_consent=maybe&marketing_consent=on&email=".to_vec(),
        6 => b"{\"first_name\": 12, \"email\": {\"a\": 1}, \"marketing_consent\": \"x\"}".to_vec(),
        _ => (0..600).map(|i| (i * 7 % 256) as u8).collect(),
    };
    let content_type = [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded; charset=latin1",
    ][n % 5];
    let mut request = format!("POST {path}?state=%ZZ&code=\u{0} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    request = request.replace('\u{0}', "%00");
    request.push_str(&format!("Content-Type: {content_type}\r\n"));
    match n % 6 {
        0 => request.push_str(&format!("X-Huge: {}\r\n", "h".repeat(40_000))),
        1 => {
            request.push_str("Origin: null\r\nCookie: admin_session=1.zz; clover_oauth_state=\r\n")
        }
        2 => request.push_str("Fly-Client-IP: not-an-ip\r\nAuthorization: Bearer \r\n"),
        3 => request.push_str("Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    let mut bytes = request.into_bytes();
    if n % 6 == 3 {
        // A chunked body that lies about its sizes.
        bytes.extend_from_slice(b"\r\nfffffff\r\nabc\r\n0\r\n\r\n");
    } else {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        bytes.extend_from_slice(&body);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_hostile_requests_cause_no_5xx_and_the_service_keeps_serving() {
    let app = spawn_app(&Config::demo()).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let statuses = tokio::task::spawn_blocking(move || {
        let mut statuses = Vec::new();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|worker| {
                    let address = address.clone();
                    scope.spawn(move || {
                        (0..125)
                            .map(|i| send_raw(&address, &hostile_request(worker * 125 + i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                statuses.extend(worker.join().unwrap());
            }
        });
        statuses
    })
    .await
    .unwrap();

    assert_eq!(statuses.len(), 1000);
    let mut histogram = std::collections::BTreeMap::new();
    for status in &statuses {
        *histogram.entry(*status).or_insert(0) += 1;
    }
    eprintln!("answers to the hostile requests: {histogram:?}");
    let server_errors: Vec<_> = statuses.iter().flatten().filter(|s| **s >= 500).collect();
    assert!(server_errors.is_empty(), "5xx answers: {server_errors:?}");
    let answered = statuses.iter().flatten().count();
    assert!(
        answered > 500,
        "only {answered} requests were answered at all"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_until_others_close() {
    let mut config = Config::demo();
    config.set("MAX_CONNECTIONS", "1");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    // Hold every worker's one connection with a request that never completes.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let holders: Vec<TcpStream> = (0..workers)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
            stream
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let while_full = probe.get(app.url("/healthz")).send().await;
    drop(holders);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = probe.get(app.url("/healthz")).send().await;

    assert!(while_full.is_err(), "served beyond the cap: {while_full:?}");
    assert_eq!(after.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_at_the_request_deadline() {
    let mut config = Config::demo();
    config.set("REQUEST_TIMEOUT_SECONDS", "2");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let (answer, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
        )
        .unwrap();
        // One byte every 200 ms: 4,000 bytes would take over 13 minutes.
        let mut buffer = [0u8; 64];
        loop {
            if stream.write_all(b"a").is_err() {
                return (String::new(), started.elapsed());
            }
            if let Ok(read) = stream.read(&mut buffer) {
                return (String::from_utf8_lossy(&buffer[..read]).into_owned(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(15) {
                return (String::new(), started.elapsed());
            }
        }
    })
    .await
    .unwrap();

    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "held for {took:?}");
    app.stop().await;
}

/// Every free-text input of the form, with a value it accepts.
const TEXT_INPUTS: [(&str, &str); 8] = [
    ("first_name", "Ada"),
    ("last_name", "Lovelace"),
    ("address1", "1 Main St"),
    ("address2", "Flat 2"),
    ("city", "Sunnyvale"),
    ("state", "CA"),
    ("zip", "94085"),
    ("note", "Vegetarian"),
];

/// Characters that staff would not see, or that turn the text around on their screens:
/// the right-to-left override, zero-width space and joiner, the byte-order mark, and the
/// line and paragraph separators.
const INVISIBLE: [char; 6] = [
    '\u{202E}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{2028}', '\u{2029}',
];

/// `value` with `c` in its middle, where trimming cannot remove it.
fn with_inside(value: &str, c: char) -> String {
    let middle = value.char_indices().nth(1).map_or(value.len(), |(i, _)| i);
    format!("{}{c}{}", &value[..middle], &value[middle..])
}

fn every_field(config: &mut Config) -> &mut Config {
    config
        .set(
            "FORM_FIELDS",
            "first_name,last_name,email,phone,birthday,address,note",
        )
        .set("RATE_LIMIT_BURST", "1000")
        .set("RATE_LIMIT_PER_MINUTE", "1000")
}

#[tokio::test]
async fn invisible_and_direction_characters_are_refused_in_every_text_field() {
    let mut config = Config::demo();
    every_field(&mut config);
    let app = spawn_app(&config).await;

    for (n, (input, value)) in TEXT_INPUTS.into_iter().enumerate() {
        // The form: the page again, with the error beside the input at fault only.
        let hostile = with_inside(value, INVISIBLE[n % INVISIBLE.len()]);
        let mut form: Vec<(&str, &str)> = TEXT_INPUTS.to_vec();
        form.retain(|(name, _)| *name != input);
        form.push((input, &hostile));
        form.extend([("email", "ada@example.com"), ("country", "US")]);
        let response = app.post_form(&form).await;
        assert_eq!(response.status(), 422, "{input}={hostile:?} was accepted");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"id="{input}-error""#)),
            "no error beside {input}"
        );
        assert_eq!(html.matches(r#"class="field-error""#).count(), 1, "{html}");
        assert!(html.contains("invisible characters"), "{html}");

        // The JSON API: the same rule, named by the input's key.
        let hostile = with_inside(value, INVISIBLE[(n + 1) % INVISIBLE.len()]);
        let mut body = json!({"email": "ada@example.com", "country": "US"});
        for (name, plain) in TEXT_INPUTS {
            body[name] = json!(if name == input {
                hostile.as_str()
            } else {
                plain
            });
        }
        let response = app.post_json(&body).await;
        assert_eq!(response.status(), 422, "{input}={hostile:?} was accepted");
        let errors = response.json::<serde_json::Value>().await.unwrap()["errors"].clone();
        let keys: Vec<_> = errors.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, [input], "{errors}");
        assert!(
            errors[input][0]
                .as_str()
                .unwrap()
                .contains("invisible characters"),
            "{errors}"
        );
    }
    assert_eq!(
        app.status().await["queue"]["pending"],
        0,
        "something was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_email_domain_that_is_not_valid_idna_is_refused() {
    let app = spawn_app(&Config::demo()).await;

    for email in [
        "ada@ex\u{200B}ample.com",
        "ada@exa\u{202E}mple.com",
        "ada@\u{FEFF}example.com",
        "a\u{200D}da@example.com",
        "ada@xn--zz.example",
    ] {
        let mut form = valid_form();
        form.retain(|(name, _)| *name != "email");
        form.push(("email", email));
        let response = app.post_form(&form).await;
        assert_eq!(response.status(), 422, "{email:?} was accepted");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains(r#"id="email-error""#)
        );

        let response = app
            .post_json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": email}))
            .await;
        assert_eq!(response.status(), 422, "{email:?} was accepted");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["errors"]["email"][0].is_string(), "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_internationalised_email_domain_is_stored_searched_and_sent_in_ascii() {
    let fake = FakeClover::start().await;
    let config = Config::token(&fake);
    let app = spawn_app(&config).await;

    let response = app
        .post_json(
            &json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@Bücher.example"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    app.wait_for_delivered(1, Duration::from_secs(10)).await;
    // The same mailbox, typed as a browser's type=email would send it: the same visitor.
    let response = app
        .post_json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@xn--bcher-kva.example"}))
        .await;
    assert_eq!(response.status(), 202);
    let status = app.wait_for_delivered(2, Duration::from_secs(10)).await;
    app.stop().await;

    let customers = fake.customers();
    assert_eq!(customers.len(), 1, "one mailbox became two customers");
    assert_eq!(customers[0].emails, ["ada@xn--bcher-kva.example"]);
    assert_eq!(status["recent"][0]["outcome"], "linked");
    assert_eq!(status["recent"][0]["email"], "a***@xn--bcher-kva.example");
    for search in fake.requests_to(Endpoint::SearchCustomers) {
        let filter = search
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "filter")
            .unwrap()
            .1;
        assert!(filter.is_ascii(), "searched with {filter:?}");
    }
    let bytes = crate::helpers::stored_bytes(&config).await;
    let stored = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(stored("ada@xn--bcher-kva.example"));
    assert!(
        !stored("bücher") && !stored("Bücher"),
        "the Unicode form was stored"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// The head of a form post from `client_ip` (through the configured `Fly-Client-IP`)
/// that announces a body of `length` bytes.
fn post_head(client_ip: &str, length: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nFly-Client-IP: {client_ip}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The whole answer on `stream` until it closes or `within` passes, lower-cased.
fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).to_lowercase()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_requests_from_one_address_leave_room_for_every_other_address() {
    let mut config = Config::demo();
    config
        .set("CLIENT_IP_HEADER", "Fly-Client-IP")
        .set("MAX_CONNECTIONS", "24")
        .set("MAX_CONNECTIONS_PER_ADDRESS", "4")
        .set("REQUEST_TIMEOUT_SECONDS", "60");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // Thirty posts from one address that send one byte of their body and then nothing:
    // more than every connection the service serves at once.
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            write!(stream, "{}a", post_head("203.0.113.66", 4000)).unwrap();
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .collect();
    // Those over the cap are answered at once; each connection is then held a moment
    // (at most a second) for the client to close it, and the next is accepted.
    let mut refused = vec![false; slow.len()];
    while refused.iter().filter(|r| **r).count() < 26 && started.elapsed() < Duration::from_secs(4)
    {
        for (stream, refused) in slow.iter().zip(refused.iter_mut()) {
            let mut head = [0u8; 12];
            if !*refused && (&*stream).read(&mut head).is_ok_and(|n| n > 0) {
                assert_eq!(&head, b"HTTP/1.1 429");
                *refused = true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        refused.iter().filter(|r| **r).count(),
        26,
        "four are in flight"
    );
    // The refused connections, which their client does not close, are let go when their
    // second runs out.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // While those four still hold their places (their bodies' grace has not run out),
    // one more from that address is refused at once, and another address is served.
    let one_more = {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut stream = TcpStream::connect(address).unwrap();
            write!(stream, "{}a", post_head("203.0.113.66", 4000)).unwrap();
            let mut first = [0u8; 1];
            stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            stream.read_exact(&mut first).unwrap();
            let answered_after = started.elapsed();
            let rest = read_answer(&mut stream, Duration::from_secs(3));
            (
                format!("{}{rest}", first[0] as char).to_lowercase(),
                answered_after,
            )
        })
    };
    let bystander = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let fields = crate::helpers::with_hidden_fields(&bystander, &app.address, &valid_form()).await;
    let signed_up = Instant::now();
    let signup = bystander
        .post(app.url("/"))
        .header("Fly-Client-IP", "198.51.100.2")
        .form(&fields)
        .send()
        .await;
    let bystander_took = signed_up.elapsed();
    let (answer, one_more_took) = one_more.await.unwrap();
    let all_took = started.elapsed();
    drop(slow);

    assert_eq!(signup.expect("another address is served").status(), 303);
    assert!(
        bystander_took < Duration::from_secs(1),
        "{bystander_took:?}"
    );
    assert!(answer.starts_with("http/1.1 429"), "{answer:?}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer:?}");
    assert!(answer.contains("connection: close\r\n"), "{answer:?}");
    assert!(
        one_more_took < Duration::from_millis(500),
        "{one_more_took:?}"
    );
    assert!(
        all_took < Duration::from_secs(5),
        "the slow ones were cut meanwhile: {all_took:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_body_slower_than_a_kibibyte_a_second_is_cut_within_seconds() {
    let mut config = Config::demo();
    config.set("REQUEST_TIMEOUT_SECONDS", "60");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let (answer, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .write_all(post_head("192.0.2.1", 4000).as_bytes())
            .unwrap();
        // One byte every 500 ms: 2 bytes a second, where a person's browser sends
        // thousands.
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buffer = [0u8; 64];
        loop {
            if stream.write_all(b"a").is_err() {
                return (String::new(), started.elapsed());
            }
            if let Ok(read) = stream.read(&mut buffer) {
                return (
                    String::from_utf8_lossy(&buffer[..read]).into_owned(),
                    started.elapsed(),
                );
            }
            if started.elapsed() > Duration::from_secs(20) {
                return (String::new(), started.elapsed());
            }
        }
    })
    .await
    .unwrap();

    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {took:?}"
    );
    assert!(took < Duration::from_secs(9), "held for {took:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_large_body_sent_at_a_steady_pace_is_not_cut() {
    let mut config = Config::demo();
    config.set("REQUEST_TIMEOUT_SECONDS", "60");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let fields = crate::helpers::with_hidden_fields(&app.client, &app.address, &valid_form()).await;
    let mut body = serde_urlencoded::to_string(&fields).unwrap();
    body.push_str("&padding=");
    body.push_str(&"a".repeat(20 * 1024 - body.len()));

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .write_all(post_head("192.0.2.2", body.len()).as_bytes())
            .unwrap();
        // 20 KiB over six seconds, longer than any grace: about 3.4 KiB a second.
        for chunk in body.as_bytes().chunks(1024) {
            stream.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        read_answer(&mut stream, Duration::from_secs(5))
    })
    .await
    .unwrap();

    assert!(answer.starts_with("http/1.1 303"), "{answer:?}");
    app.stop().await;
}

/// Writes `request` on `stream` and reads its whole answer (by its `Content-Length`),
/// leaving the connection open; lower-cased.
fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse().unwrap());
            if body.len() >= length {
                return text;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return text,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
        }
    }
}

const KEEP_ALIVE_GET: &str = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn without_a_proxy_one_address_holds_no_more_connections_than_its_cap() {
    let mut config = Config::demo();
    config.set("MAX_CONNECTIONS_PER_ADDRESS", "4");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let (fifth, fifth_took, silent_held_for, after) = tokio::task::spawn_blocking(move || {
        // Four idle keep-alive connections, each after one request: as a client that
        // sends a tiny request every few seconds on each would keep them.
        let held: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut stream = TcpStream::connect(&address).unwrap();
                let answer = exchange(&mut stream, KEEP_ALIVE_GET);
                assert!(answer.starts_with("http/1.1 200"), "{answer:?}");
                assert!(!answer.contains("connection: close"), "{answer:?}");
                stream
            })
            .collect();

        // A fifth is answered at once, and closed.
        let started = Instant::now();
        let mut fifth = TcpStream::connect(&address).unwrap();
        fifth.write_all(KEEP_ALIVE_GET.as_bytes()).unwrap();
        fifth
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut first = [0u8; 1];
        fifth.read_exact(&mut first).unwrap();
        let fifth_took = started.elapsed();
        let rest = read_answer(&mut fifth, Duration::from_secs(3));
        let fifth = format!("{}{rest}", first[0] as char).to_lowercase();

        // One that sends nothing is let go within a second or so, not after the 5 s a
        // request head has.
        let started = Instant::now();
        let mut silent = TcpStream::connect(&address).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(6)))
            .unwrap();
        let _ = silent.read(&mut [0u8; 64]);
        let silent_held_for = started.elapsed();

        // Once the four are closed, the address is served again.
        drop(held);
        let started = Instant::now();
        let after = loop {
            let mut stream = TcpStream::connect(&address).unwrap();
            let answer = exchange(&mut stream, KEEP_ALIVE_GET);
            if answer.starts_with("http/1.1 200") || started.elapsed() > Duration::from_secs(2) {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (fifth, fifth_took, silent_held_for, after)
    })
    .await
    .unwrap();

    assert!(fifth.starts_with("http/1.1 429"), "{fifth:?}");
    assert!(fifth.contains("retry-after: 1\r\n"), "{fifth:?}");
    assert!(fifth.contains("connection: close\r\n"), "{fifth:?}");
    assert!(fifth_took < Duration::from_millis(500), "{fifth_took:?}");
    assert!(
        silent_held_for < Duration::from_millis(2500),
        "a silent connection over the cap was held {silent_held_for:?}"
    );
    assert!(after.starts_with("http/1.1 200"), "{after:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_its_connections_are_not_capped_by_its_address() {
    let mut config = Config::demo();
    config
        .set("CLIENT_IP_HEADER", "Fly-Client-IP")
        .set("MAX_CONNECTIONS_PER_ADDRESS", "4");
    let app = spawn_app(&config).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    let answers = tokio::task::spawn_blocking(move || {
        // Every connection comes from the proxy's address, each for another visitor.
        let mut streams: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(&address).unwrap())
            .collect();
        let mut answers = Vec::new();
        for round in 0..2 {
            for (n, stream) in streams.iter_mut().enumerate() {
                let request = format!(
                    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nFly-Client-IP: 198.51.100.{n}\r\n\r\n"
                );
                let answer = exchange(stream, &request);
                answers.push(format!("round {round}, connection {n}: {answer}"));
            }
        }
        answers
    })
    .await
    .unwrap();

    for answer in answers {
        assert!(answer.contains(": http/1.1 200"), "{answer:?}");
    }
    app.stop().await;
}
