//! A strict fake of Clover's v3 REST API (merchant + customers), served on loopback.
//!
//! No machine here reaches Clover, so the fake is the only place where the
//! client meets Clover's rules. It follows the fact sheet
//! (`/work/shared/research/clover-api.md`, §1–§3) and is deliberately at least
//! as strict as it: every breach is answered the way Clover would answer and
//! is also written to [`FakeClover::violations`], so a test can simply assert
//! that the list is empty.
//!
//! Violation strings start with a stable prefix so tests can match on it:
//! `user-agent:`, `rate:`, `concurrency:`, `early retry:`, `content-type:`,
//! `create:`, `update:`, `search:`, `email:`, `phone:`, `expand:`, `method:`,
//! `route:`. A 401 is not a violation (a revoked token is a legitimate event).

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rand::Rng;
use serde_json::{Map, Value, json};

pub const MERCHANT_ID: &str = "TC4DGCJW1K4EW";
pub const API_TOKEN: &str = "fake-merchant-api-token-3f1c";

/// Per-token limits from §3.2.
const RATE_LIMIT: usize = 16;
const CONCURRENCY_LIMIT: usize = 5;
/// Clover echoes the filterable fields of the collection in this header (§2.3).
const ALLOWED_FILTER_FIELDS: &str = "customerSince,firstName,lastName,emailAddress,phoneNumber,marketingAllowed,fullName,id,deletedTime";
/// The subset of those fields the fake can actually evaluate.
const SUPPORTED_FILTER_FIELDS: &[&str] =
    &["emailAddress", "phoneNumber", "firstName", "lastName", "id"];
const CUSTOMER_KEYS: &[&str] = &[
    "firstName",
    "lastName",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "metadata",
    "customerSince",
    "marketingAllowed",
];
/// Nested collections are capped at 100 items (§2.3, S19).
const MAX_NESTED: usize = 100;
/// `customerSince` is epoch milliseconds; anything below this is seconds sent by mistake.
const MIN_EPOCH_MILLIS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SearchCustomers,
    CreateCustomer,
    GetCustomer,
    UpdateCustomer,
    AddEmailAddress,
    AddPhoneNumber,
    GetMerchant,
    Other,
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this and do NOT process the request.
    Status {
        status: u16,
        retry_after: Option<u64>,
        body: String,
    },
    /// Process the request, then answer this status (an "unknown outcome").
    ProcessThenStatus { status: u16 },
    /// Process the request, then wait this long before answering normally.
    ProcessThenDelay(Duration),
}

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string, still percent-encoded.
    pub query: String,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    /// `None` for an empty body; a body that is not JSON is kept as a JSON string.
    pub body: Option<Value>,
    pub at: Instant,
    pub status: u16,
    pub endpoint: Endpoint,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// Decoded like a server decodes a query string (`+` becomes a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct FakeCustomer {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub note: Option<String>,
    pub customer_since: Option<i64>,
    pub marketing_allowed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct NewFakeCustomer {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub note: Option<String>,
}

/// Handle to a running fake; dropping it stops the server.
pub struct FakeClover {
    base_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeClover {
    pub async fn start() -> FakeClover {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State::new(base_url.clone())));
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeClover {
            base_url,
            state,
            handle,
        }
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    pub fn set_accepted_token(&self, token: &str) {
        self.lock().accepted_token = token.to_owned();
    }

    pub fn customers(&self) -> Vec<FakeCustomer> {
        self.lock().customers.iter().map(Stored::public).collect()
    }

    pub fn seed_customer(&self, c: NewFakeCustomer) -> String {
        let mut st = self.lock();
        let mut stored = Stored {
            id: st.new_customer_id(),
            ..Stored::default()
        };
        stored.first_name = c.first_name;
        stored.last_name = c.last_name;
        stored.emails = c.emails.into_iter().map(|e| (random_id(), e)).collect();
        stored.phones = c.phones.into_iter().map(|p| (random_id(), p)).collect();
        if let Some(note) = c.note {
            stored.metadata.insert("note".into(), Value::String(note));
        }
        let id = stored.id.clone();
        st.customers.push(stored);
        id
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn requests_to(&self, kind: Endpoint) -> Vec<RecordedRequest> {
        let st = self.lock();
        st.requests
            .iter()
            .filter(|r| r.endpoint == kind)
            .cloned()
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn push_fault(&self, kind: Endpoint, fault: Fault) {
        self.lock().faults.entry(kind).or_default().push_back(fault);
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for FakeClover {
    fn drop(&mut self) {
        // The stop command is sent immediately; awaiting completion is optional.
        drop(self.handle.stop(false));
    }
}

/// A panicking test must not turn every later call into a poison panic.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------- state --

#[derive(Default)]
struct State {
    base_url: String,
    accepted_token: String,
    latency: Duration,
    customers: Vec<Stored>,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    limits: HashMap<String, TokenLimits>,
}

#[derive(Default)]
struct TokenLimits {
    arrivals: VecDeque<Instant>,
    in_flight: usize,
    /// Set when a 429 with `retry-after` is sent; earlier requests are early retries.
    blocked_until: Option<Instant>,
}

/// A customer as the fake stores it; contacts carry their own ids.
#[derive(Default)]
struct Stored {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    emails: Vec<(String, String)>,
    phones: Vec<(String, String)>,
    addresses: Vec<Map<String, Value>>,
    metadata: Map<String, Value>,
    customer_since: Option<i64>,
}

impl Stored {
    fn public(&self) -> FakeCustomer {
        FakeCustomer {
            id: self.id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            emails: self.emails.iter().map(|(_, e)| e.clone()).collect(),
            phones: self.phones.iter().map(|(_, p)| p.clone()).collect(),
            note: self
                .metadata
                .get("note")
                .and_then(Value::as_str)
                .map(str::to_owned),
            customer_since: self.customer_since,
            // Clover ignores marketingAllowed from third-party apps (§2.2).
            marketing_allowed: false,
        }
    }

    /// Customer JSON; nested collections only when expanded, in the wrapped form.
    fn to_json(&self, expand: &Expand) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("merchant".into(), json!({ "id": MERCHANT_ID }));
        if let Some(f) = &self.first_name {
            o.insert("firstName".into(), json!(f));
        }
        if let Some(l) = &self.last_name {
            o.insert("lastName".into(), json!(l));
        }
        o.insert("marketingAllowed".into(), json!(false));
        if let Some(s) = self.customer_since {
            o.insert("customerSince".into(), json!(s));
        }
        let owner = json!({ "id": self.id });
        if expand.emails {
            let items = self
                .emails
                .iter()
                .map(|(id, e)| json!({ "id": id, "emailAddress": e, "customer": owner }));
            o.insert("emailAddresses".into(), wrapped(items));
        }
        if expand.phones {
            let items = self
                .phones
                .iter()
                .map(|(id, p)| json!({ "id": id, "phoneNumber": p, "customer": owner }));
            o.insert("phoneNumbers".into(), wrapped(items));
        }
        if expand.addresses {
            let items = self.addresses.iter().cloned().map(Value::Object);
            o.insert("addresses".into(), wrapped(items));
        }
        if expand.metadata {
            o.insert("metadata".into(), Value::Object(self.metadata.clone()));
        }
        Value::Object(o)
    }
}

fn wrapped(items: impl Iterator<Item = Value>) -> Value {
    json!({ "elements": items.collect::<Vec<_>>() })
}

#[derive(Default)]
struct Expand {
    emails: bool,
    phones: bool,
    addresses: bool,
    metadata: bool,
}

impl State {
    fn new(base_url: String) -> State {
        let accepted_token = API_TOKEN.to_owned();
        State {
            base_url,
            accepted_token,
            ..State::default()
        }
    }

    fn violation(&mut self, msg: String) {
        self.violations.push(msg);
    }

    /// Records a violation under `area` and builds the matching error reply.
    fn refuse(&mut self, status: u16, area: &str, msg: String) -> Reply {
        let reply = Reply::error(status, &msg, None);
        self.violation(format!("{area}: {msg}"));
        reply
    }

    fn new_customer_id(&self) -> String {
        loop {
            let id = random_id();
            if !self.customers.iter().any(|c| c.id == id) {
                return id;
            }
        }
    }

    fn customer_index(&self, id: &str) -> Option<usize> {
        self.customers.iter().position(|c| c.id == id)
    }
}

/// Clover ids are 13 uppercase alphanumerics (§1, S11 `ID_MAX_LEN`).
fn random_id() -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    (0..13)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

// ------------------------------------------------------------- requests --

#[derive(Debug, Clone, PartialEq)]
enum Route {
    Merchant,
    Customers,
    Customer(String),
    Emails(String),
    Phones(String),
    Unknown,
}

/// Returns the merchant id in the path (if under `/v3/merchants/`) and the route.
fn parse_path(path: &str) -> (Option<String>, Route) {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["v3", "merchants", merchant, rest @ ..] = segs.as_slice() else {
        return (None, Route::Unknown);
    };
    let route = match rest {
        // A trailing or doubled slash is a different URL to Clover.
        _ if rest.contains(&"") => Route::Unknown,
        [] => Route::Merchant,
        ["customers"] => Route::Customers,
        ["customers", id] => Route::Customer(id.to_string()),
        ["customers", id, "email_addresses"] => Route::Emails(id.to_string()),
        ["customers", id, "phone_numbers"] => Route::Phones(id.to_string()),
        _ => Route::Unknown,
    };
    (Some(merchant.to_string()), route)
}

fn endpoint_of(route: &Route, method: &str) -> Endpoint {
    match (route, method) {
        (Route::Merchant, "GET") => Endpoint::GetMerchant,
        (Route::Customers, "GET") => Endpoint::SearchCustomers,
        (Route::Customers, "POST") => Endpoint::CreateCustomer,
        (Route::Customer(_), "GET") => Endpoint::GetCustomer,
        (Route::Customer(_), "POST") => Endpoint::UpdateCustomer,
        (Route::Emails(_), "POST") => Endpoint::AddEmailAddress,
        (Route::Phones(_), "POST") => Endpoint::AddPhoneNumber,
        _ => Endpoint::Other,
    }
}

/// Everything the fake needs from one HTTP request, detached from actix.
struct Incoming {
    method: String,
    path: String,
    raw_query: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: web::Bytes,
    merchant: Option<String>,
    route: Route,
    endpoint: Endpoint,
}

impl Incoming {
    fn new(req: &HttpRequest, body: web::Bytes) -> Incoming {
        let (merchant, route) = parse_path(req.path());
        let method = req.method().as_str().to_owned();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        Incoming {
            endpoint: endpoint_of(&route, &method),
            path: req.path().to_owned(),
            raw_query: req.query_string().to_owned(),
            query: url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect(),
            headers,
            body,
            merchant,
            route,
            method,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn recorded_body(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        Some(
            serde_json::from_slice(&self.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&self.body).into_owned())
            }),
        )
    }
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// -------------------------------------------------------------- replies --

struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    /// Added on top of the global latency (fault `ProcessThenDelay`).
    extra_delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            headers: Vec::new(),
            extra_delay: Duration::ZERO,
        }
    }

    fn error(status: u16, message: &str, details: Option<&str>) -> Reply {
        match details {
            Some(d) => Reply::json(status, json!({ "message": message, "details": d })),
            None => Reply::json(status, json!({ "message": message })),
        }
    }

    fn unauthorized() -> Reply {
        Reply::error(401, "401 Unauthorized", None)
    }

    fn customer_not_found() -> Reply {
        Reply::error(404, "Not Found", Some("Customer not found"))
    }

    fn too_many(limit_header: &'static str, limit: usize) -> Reply {
        Reply::error(429, "Too Many Requests", None)
            .header("retry-after", "1".into())
            .header(limit_header, limit.to_string())
    }

    fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The wait this reply imposes on the token, if it is a 429 with `retry-after`.
    fn retry_after(&self) -> Option<u64> {
        let (_, v) = self.headers.iter().find(|(k, _)| *k == "retry-after")?;
        (self.status == 429).then(|| v.parse().ok()).flatten()
    }

    fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        builder.content_type(self.content_type);
        for (name, value) in self.headers {
            builder.insert_header((name, value));
        }
        builder.body(self.body)
    }
}

// -------------------------------------------------------------- handler --

/// Decrements the token's in-flight count once the response has been produced.
/// actix keeps running a handler after its client hung up, so a request the
/// client abandoned (e.g. on timeout) still counts until its answer would have
/// gone out, just as the real server cannot know the client gave up.
struct InFlight {
    state: web::Data<Mutex<State>>,
    token: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(l) = lock(&self.state).limits.get_mut(&self.token) {
            l.in_flight -= 1;
        }
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let incoming = Incoming::new(&req, body);
    let (reply, token, latency) = {
        let mut st = lock(&state);
        let index = st.record(&incoming);
        let (reply, token) = st.decide(&incoming);
        st.requests[index].status = reply.status;
        (reply, token, st.latency)
    };
    let flight = token.map(|token| InFlight {
        state: state.clone(),
        token,
    });
    tokio::time::sleep(latency + reply.extra_delay).await;
    if let (Some(secs), Some(flight)) = (reply.retry_after(), &flight) {
        // The client learns about the wait only now, so the wait starts now.
        let until = Instant::now() + Duration::from_secs(secs);
        let mut st = lock(&state);
        let limits = st.limits.entry(flight.token.clone()).or_default();
        limits.blocked_until = limits.blocked_until.max(Some(until));
    }
    reply.into_response()
}

impl State {
    fn record(&mut self, inc: &Incoming) -> usize {
        self.requests.push(RecordedRequest {
            method: inc.method.clone(),
            path: inc.path.clone(),
            query: inc.raw_query.clone(),
            headers: inc.headers.clone(),
            body: inc.recorded_body(),
            at: Instant::now(),
            status: 0,
            endpoint: inc.endpoint,
        });
        self.requests.len() - 1
    }

    /// Auth, limits, faults, then the endpoint itself. Returns the reply and,
    /// when the request counts against a token's limits, that token.
    fn decide(&mut self, inc: &Incoming) -> (Reply, Option<String>) {
        if inc.header("user-agent").is_none() {
            self.violation(format!(
                "user-agent: missing on {} {}",
                inc.method, inc.path
            ));
        }
        let expected = format!("Bearer {}", self.accepted_token);
        let authorized = inc.header("authorization") == Some(expected.as_str());
        // Clover answers 401 for a foreign merchant too (no 403, §3.1).
        if !authorized || inc.merchant.as_deref().is_some_and(|m| m != MERCHANT_ID) {
            return (Reply::unauthorized(), None);
        }
        let token = self.accepted_token.clone();
        if let Some(reply) = self.check_limits(&token, inc) {
            return (reply, Some(token));
        }
        let reply = match self
            .faults
            .get_mut(&inc.endpoint)
            .and_then(VecDeque::pop_front)
        {
            None => self.dispatch(inc),
            Some(Fault::Status {
                status,
                retry_after,
                body,
            }) => fault_reply(status, retry_after, body),
            Some(Fault::ProcessThenStatus { status }) => {
                self.dispatch(inc);
                Reply::error(status, "Injected fault", Some("processed, then failed"))
            }
            Some(Fault::ProcessThenDelay(d)) => {
                let mut reply = self.dispatch(inc);
                reply.extra_delay = d;
                reply
            }
        };
        (reply, Some(token))
    }

    /// Counts the arrival and applies §3.2; `Some` is the 429 to send.
    fn check_limits(&mut self, token: &str, inc: &Incoming) -> Option<Reply> {
        let now = Instant::now();
        let l = self.limits.entry(token.to_owned()).or_default();
        while l
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            l.arrivals.pop_front();
        }
        l.arrivals.push_back(now);
        l.in_flight += 1;
        let (in_flight, in_window) = (l.in_flight, l.arrivals.len());
        let early_by = l.blocked_until.filter(|u| now < *u).map(|u| u - now);
        let what = format!("{} {}", inc.method, inc.path);
        if let Some(early) = early_by {
            let ms = early.as_millis();
            self.violation(format!(
                "early retry: {what} arrived {ms} ms before retry-after expired"
            ));
            Some(Reply::too_many("X-RateLimit-tokenLimit", RATE_LIMIT))
        } else if in_flight > CONCURRENCY_LIMIT {
            self.violation(format!(
                "concurrency: >{CONCURRENCY_LIMIT} in flight ({what})"
            ));
            Some(Reply::too_many(
                "X-RateLimit-tokenConcurrentLimit",
                CONCURRENCY_LIMIT,
            ))
        } else if in_window > RATE_LIMIT {
            self.violation(format!("rate: >{RATE_LIMIT} req/s ({what})"));
            Some(Reply::too_many("X-RateLimit-tokenLimit", RATE_LIMIT))
        } else {
            None
        }
    }

    fn dispatch(&mut self, inc: &Incoming) -> Reply {
        match (&inc.route, inc.method.as_str()) {
            (Route::Merchant, "GET") => {
                Reply::json(200, json!({ "id": MERCHANT_ID, "name": "Fake Merchant" }))
            }
            (Route::Customers, "GET") => self.search(inc),
            (Route::Customers, "POST") => self.create(inc),
            (Route::Customer(id), "GET") => self.get(id, inc),
            (Route::Customer(id), "POST") => self.update(id, inc),
            (Route::Customer(_), "PUT" | "PATCH") => {
                let msg = format!(
                    "{} is not allowed on a customer; Clover updates with POST",
                    inc.method
                );
                self.refuse(405, "method", msg)
            }
            (Route::Emails(id), "POST") => self.add_contact(id, inc, Contact::Email),
            (Route::Phones(id), "POST") => self.add_contact(id, inc, Contact::Phone),
            _ => self.refuse(
                404,
                "route",
                format!("no such endpoint: {} {}", inc.method, inc.path),
            ),
        }
    }
}

fn fault_reply(status: u16, retry_after: Option<u64>, body: String) -> Reply {
    let is_json = serde_json::from_str::<Value>(&body).is_ok();
    let mut reply = Reply::json(status, Value::Null);
    reply.body = body;
    reply.content_type = if is_json {
        "application/json"
    } else {
        "text/plain"
    };
    match retry_after {
        Some(secs) => reply.header("retry-after", secs.to_string()),
        None => reply,
    }
}

// ------------------------------------------------------------ endpoints --

#[derive(Clone, Copy)]
enum Contact {
    Email,
    Phone,
}

impl State {
    /// Clover echoes the filterable fields on every answer of the collection.
    fn search(&mut self, inc: &Incoming) -> Reply {
        let allowed = ALLOWED_FILTER_FIELDS.to_owned();
        self.search_page(inc)
            .header("X-Clover-Allowed-Filter-Fields", allowed)
    }

    fn search_page(&mut self, inc: &Incoming) -> Reply {
        let mut filters = Vec::new();
        for raw in inc.query_all("filter") {
            match parse_filter(raw) {
                Ok(f) => filters.push(f),
                Err(msg) => return self.refuse(400, "search", msg),
            }
        }
        let limit = match paging_param(inc, "limit", 100, 1..=1000) {
            Ok(n) => n,
            Err(msg) => return self.refuse(400, "search", msg),
        };
        let offset = match paging_param(inc, "offset", 0, 0..=usize::MAX) {
            Ok(n) => n,
            Err(msg) => return self.refuse(400, "search", msg),
        };
        let expand = self.expand(inc);
        let elements: Vec<Value> = self
            .customers
            .iter()
            .filter(|c| {
                filters
                    .iter()
                    .all(|(field, value)| filter_matches(c, field, value))
            })
            .skip(offset)
            .take(limit)
            .map(|c| c.to_json(&expand))
            .collect();
        let href = format!("{}{}", self.base_url, inc.path);
        Reply::json(200, json!({ "elements": elements, "href": href }))
    }

    fn create(&mut self, inc: &Incoming) -> Reply {
        let body = match self.json_body(inc, "create") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if let Err(msg) = validate_customer(&body) {
            return self.refuse(400, "create", msg);
        }
        let mut c = Stored {
            id: self.new_customer_id(),
            ..Stored::default()
        };
        apply_scalars(&mut c, &body);
        c.emails = new_contacts(&body, "emailAddresses", "emailAddress");
        c.phones = new_contacts(&body, "phoneNumbers", "phoneNumber");
        for item in list_items(&body, "addresses") {
            let mut address = item.as_object().cloned().unwrap_or_default();
            address.insert("id".into(), json!(random_id()));
            c.addresses.push(address);
        }
        let expand = self.expand(inc);
        let reply = Reply::json(200, c.to_json(&expand));
        self.customers.push(c);
        reply
    }

    fn get(&mut self, id: &str, inc: &Incoming) -> Reply {
        let expand = self.expand(inc);
        match self.customer_index(id) {
            Some(i) => Reply::json(200, self.customers[i].to_json(&expand)),
            None => Reply::customer_not_found(),
        }
    }

    /// "Only specified fields are overwritten" (§2.1); contacts have their own endpoints.
    fn update(&mut self, id: &str, inc: &Incoming) -> Reply {
        let body = match self.json_body(inc, "update") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if let Err(msg) = validate_customer(&body) {
            return self.refuse(400, "update", msg);
        }
        let Some(i) = self.customer_index(id) else {
            return Reply::customer_not_found();
        };
        for key in ["emailAddresses", "phoneNumbers", "addresses"] {
            if body.contains_key(key) {
                self.violation(format!(
                    "update: `{key}` in an update body is ignored; use the sub-resource endpoint"
                ));
            }
        }
        apply_scalars(&mut self.customers[i], &body);
        let expand = self.expand(inc);
        Reply::json(200, self.customers[i].to_json(&expand))
    }

    fn add_contact(&mut self, id: &str, inc: &Incoming, kind: Contact) -> Reply {
        let (area, key) = match kind {
            Contact::Email => ("email", "emailAddress"),
            Contact::Phone => ("phone", "phoneNumber"),
        };
        let body = match self.json_body(inc, area) {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        let checked = match kind {
            Contact::Email => check_email(&body),
            Contact::Phone => check_phone(&body),
        };
        if let Err(msg) = checked {
            return self.refuse(400, area, msg);
        }
        let Some(i) = self.customer_index(id) else {
            return Reply::customer_not_found();
        };
        let value = body[key].as_str().unwrap_or_default().to_owned();
        let contact_id = random_id();
        let c = &mut self.customers[i];
        match kind {
            Contact::Email => c.emails.push((contact_id.clone(), value.clone())),
            Contact::Phone => c.phones.push((contact_id.clone(), value.clone())),
        }
        Reply::json(
            200,
            json!({ "id": contact_id, key: value, "customer": { "id": id } }),
        )
    }

    /// Requires `Content-Type: application/json` and a JSON object body.
    fn json_body(&mut self, inc: &Incoming, area: &str) -> Result<Map<String, Value>, Reply> {
        let content_type = inc.header("content-type").unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            let msg = format!("{area} needs Content-Type application/json, got `{content_type}`");
            return Err(self.refuse(415, "content-type", msg));
        }
        match serde_json::from_slice::<Value>(&inc.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.refuse(400, area, "request body must be a JSON object".into())),
            Err(_) if inc.body.is_empty() => {
                Err(self.refuse(400, area, "request body cannot be null".into()))
            }
            Err(e) => Err(self.refuse(400, area, format!("malformed JSON body: {e}"))),
        }
    }

    /// `expand=a,b` (possibly repeated); unknown names are a violation and ignored.
    fn expand(&mut self, inc: &Incoming) -> Expand {
        let mut expand = Expand::default();
        let names: Vec<String> = inc
            .query_all("expand")
            .flat_map(|v| v.split(','))
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        for name in names {
            match name.as_str() {
                "emailAddresses" => expand.emails = true,
                "phoneNumbers" => expand.phones = true,
                "addresses" => expand.addresses = true,
                "metadata" => expand.metadata = true,
                _ => self.violation(format!(
                    "expand: `{name}` is not an expandable customer field"
                )),
            }
        }
        expand
    }
}

fn paging_param(
    inc: &Incoming,
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, String> {
    match inc.query_all(name).next() {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| format!("`{name}={raw}` must be an integer in {range:?}")),
    }
}

/// Parses the flat `field=value` form; Clover knows more operators and fields
/// than the fake evaluates, and using those is reported rather than guessed.
fn parse_filter(raw: &str) -> Result<(String, String), String> {
    let end = raw
        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
        .unwrap_or(raw.len());
    let (field, rest) = raw.split_at(end);
    if !ALLOWED_FILTER_FIELDS.split(',').any(|f| f == field) {
        return Err(format!(
            "invalid filter field `{field}` (filters are flat, e.g. emailAddress=...)"
        ));
    }
    if !SUPPORTED_FILTER_FIELDS.contains(&field) {
        return Err(format!(
            "filter field `{field}` is valid in Clover but not supported by the fake"
        ));
    }
    let value = rest
        .strip_prefix('=')
        .ok_or_else(|| format!("filter `{raw}`: the fake only implements `field=value`"))?;
    Ok((field.to_owned(), value.to_owned()))
}

fn filter_matches(c: &Stored, field: &str, value: &str) -> bool {
    match field {
        "emailAddress" => c
            .emails
            .iter()
            .any(|(_, e)| e.to_lowercase() == value.to_lowercase()),
        "phoneNumber" => c.phones.iter().any(|(_, p)| p == value),
        "firstName" => c.first_name.as_deref() == Some(value),
        "lastName" => c.last_name.as_deref() == Some(value),
        "id" => c.id == value,
        _ => false,
    }
}

/// Overwrites the scalar fields present in `body`; `null` clears a field.
fn apply_scalars(c: &mut Stored, body: &Map<String, Value>) {
    for (key, value) in body {
        match key.as_str() {
            "firstName" => c.first_name = value.as_str().map(str::to_owned),
            "lastName" => c.last_name = value.as_str().map(str::to_owned),
            "customerSince" => c.customer_since = value.as_i64(),
            "metadata" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    if v.is_null() {
                        c.metadata.remove(k);
                    } else {
                        c.metadata.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// `(fresh id, value)` for every item of a validated contact list.
fn new_contacts(body: &Map<String, Value>, list: &str, key: &str) -> Vec<(String, String)> {
    let value = |item: &Value| item[key].as_str().unwrap_or_default().to_owned();
    list_items(body, list)
        .map(|item| (random_id(), value(item)))
        .collect()
}

fn list_items<'a>(body: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a Value> {
    body.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

// ----------------------------------------------------------- validation --

/// Field rules of §2.2 (S11 model). `null` is accepted as "not given".
fn validate_customer(body: &Map<String, Value>) -> Result<(), String> {
    only_keys(body, CUSTOMER_KEYS, "customer")?;
    for (key, value) in body.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "firstName" | "lastName" => check_str(value, key, 64).map(drop)?,
            "emailAddresses" => check_list(value, key, check_email)?,
            "phoneNumbers" => check_list(value, key, check_phone)?,
            "addresses" => check_list(value, key, check_address)?,
            "metadata" => check_metadata(value)?,
            "customerSince" => check_millis(value)?,
            "marketingAllowed" if !value.is_boolean() => {
                return Err("`marketingAllowed` must be a boolean".into());
            }
            _ => {}
        }
    }
    Ok(())
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown field `{k}` in {what}; allowed: {}",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn check_str<'a>(value: &'a Value, name: &str, max: usize) -> Result<&'a str, String> {
    let s = value
        .as_str()
        .ok_or_else(|| format!("`{name}` must be a string"))?;
    if s.chars().count() > max {
        return Err(format!("`{name}` is longer than {max} characters"));
    }
    Ok(s)
}

fn check_list(
    value: &Value,
    name: &str,
    item: fn(&Map<String, Value>) -> Result<(), String>,
) -> Result<(), String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("`{name}` must be an array of objects"))?;
    if items.len() > MAX_NESTED {
        return Err(format!("`{name}` has more than {MAX_NESTED} items"));
    }
    for v in items {
        item(
            v.as_object()
                .ok_or_else(|| format!("`{name}` items must be objects"))?,
        )?;
    }
    Ok(())
}

fn check_email(obj: &Map<String, Value>) -> Result<(), String> {
    only_keys(obj, &["emailAddress", "primaryEmail"], "email address")?;
    let email = check_str(
        obj.get("emailAddress").unwrap_or(&Value::Null),
        "emailAddress",
        usize::MAX,
    )?;
    let plausible = match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.contains('@'),
        None => false,
    };
    if !plausible || email.chars().any(char::is_whitespace) {
        return Err(format!("`{email}` is not a valid email address"));
    }
    match obj.get("primaryEmail") {
        Some(v) if !v.is_boolean() => Err("`primaryEmail` must be a boolean".into()),
        _ => Ok(()),
    }
}

fn check_phone(obj: &Map<String, Value>) -> Result<(), String> {
    only_keys(obj, &["phoneNumber"], "phone number")?;
    let phone = check_str(
        obj.get("phoneNumber").unwrap_or(&Value::Null),
        "phoneNumber",
        usize::MAX,
    )?;
    if phone.trim().is_empty() {
        return Err("`phoneNumber` must contain a value".into());
    }
    Ok(())
}

fn check_address(obj: &Map<String, Value>) -> Result<(), String> {
    const KEYS: &[&str] = &[
        "address1", "address2", "address3", "city", "state", "zip", "country",
    ];
    only_keys(obj, KEYS, "address")?;
    for key in KEYS {
        let required = !matches!(*key, "address2" | "address3");
        let max = match *key {
            "zip" => 10,
            "country" => 2,
            _ => 127,
        };
        match obj.get(*key).filter(|v| !v.is_null()) {
            Some(v) => {
                let s = check_str(v, key, max)?;
                if required && s.trim().is_empty() {
                    return Err(format!("address `{key}` must contain a value"));
                }
            }
            None if required => return Err(format!("address `{key}` is required")),
            None => {}
        }
    }
    let country = obj["country"].as_str().unwrap_or_default();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "address `country` must be a 2-letter ISO code, got `{country}`"
        ));
    }
    Ok(())
}

fn check_metadata(value: &Value) -> Result<(), String> {
    let obj = value.as_object().ok_or("`metadata` must be an object")?;
    only_keys(
        obj,
        &["businessName", "note", "dobYear", "dobMonth", "dobDay"],
        "metadata",
    )?;
    for (key, v) in obj.iter().filter(|(_, v)| !v.is_null()) {
        let range = match key.as_str() {
            "businessName" => {
                check_str(v, key, 127)?;
                continue;
            }
            "note" => {
                check_str(v, key, 2000)?;
                continue;
            }
            "dobYear" => 1..=9999,
            "dobMonth" => 1..=12,
            _ => 1..=31,
        };
        if !v.as_i64().is_some_and(|n| range.contains(&n)) {
            return Err(format!("metadata `{key}` must be an integer in {range:?}"));
        }
    }
    Ok(())
}

fn check_millis(value: &Value) -> Result<(), String> {
    match value.as_i64() {
        Some(ms) if ms >= MIN_EPOCH_MILLIS => Ok(()),
        Some(s) => Err(format!(
            "`customerSince` {s} looks like seconds; Clover wants epoch milliseconds"
        )),
        None => Err("`customerSince` must be an integer (epoch milliseconds)".into()),
    }
}
