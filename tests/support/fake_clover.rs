//! A strict fake of Clover's v3 REST API (merchant + customers) and of its
//! v2 OAuth endpoints, served on loopback.
//!
//! The tests never reach Clover, so the fake is the only place where the
//! client meets Clover's rules. It enforces the facts written down in
//! `docs/clover-api.md`, which gives each one's source and how sure it is;
//! the comments below cite that document by section (§). Where Clover's
//! behaviour is not published, the fake takes the reading that is hardest on
//! the client. Every breach is answered the way Clover would answer and is
//! also written to [`FakeClover::violations`], so a test can simply assert
//! that the list is empty.
//!
//! Violation strings start with a stable prefix so tests can match on it:
//! `user-agent:`, `rate:`, `concurrency:`, `early retry:`, `content-type:`,
//! `create:`, `update:`, `search:`, `email:`, `phone:`, `address:`,
//! `metadata:`, `expand:`, `method:`, `route:`, and for OAuth `authorize:`,
//! `token:`, `refresh:`, `recovery:`, `migrate:`. A 401 is not a violation (a
//! revoked token or a permission the merchant did not grant is a legitimate
//! event), with one exception: spending an already-spent refresh token the
//! client was told about is (`refresh: reuse ...`), because a correct client
//! never does it.
//!
//! Permissions (§4): every token carries a set of permission names
//! ([`MERCHANT_R`], [`CUSTOMERS_R`], [`CUSTOMERS_W`] and Europe's field-level
//! ones). A token lacking the permission of an endpoint gets the same 401 as a
//! bad token, because Clover's API "does not distinguish" the two (§4.2).
//! Tokens start with Customers read/write only, which is what
//! docs/connecting-to-clover.md tells merchants to grant: `GET /v3/merchants/{mId}` needs Merchant
//! read and is therefore refused by default.
//!
//! OAuth (§7): the one fake server plays both Clover hosts (§1). The merchant's
//! browser calls `GET /oauth/v2/authorize` on [`FakeClover::web_base_url`] and
//! the merchant approves at once; the app calls `/oauth/v2/token`,
//! `/oauth/v2/refresh`, `/oauth/v2/recovery` and `/oauth/token/migrate_v2` on
//! [`FakeClover::base_url`]. None of them needs a bearer header or counts
//! toward the per-token limits. Access tokens they issue are then accepted by
//! the `/v3` routes next to the merchant API token, each with its own limits
//! and with the app's permissions as they were when the token was minted.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const MERCHANT_ID: &str = "TC4DGCJW1K4EW";
pub const API_TOKEN: &str = "fake-merchant-api-token-3f1c";
/// The only app the fake knows (`client_id` / `app_uuid`).
pub const APP_ID: &str = "FAKEAPP0000001";
pub const APP_SECRET: &str = "fake-app-secret-9d2e";
/// A v1 (non-expiring) token of [`MERCHANT_ID`] for `/oauth/token/migrate_v2`.
pub const LEGACY_TOKEN: &str = "fake-legacy-v1-token-77aa";

// Permission names as in the `Permission` values of Clover's Android SDK
// (§4.1). The field-level ones are Europe's (§4.3); their exact spelling is
// only partly published, so these follow the integrators who use them.

/// Merchant read: `GET /v3/merchants/{mId}` (§4.1).
pub const MERCHANT_R: &str = "MERCHANT_R";
/// Customers read: search and get.
pub const CUSTOMERS_R: &str = "CUSTOMERS_R";
/// Customers write: create, update, sub-resources, metadata, delete.
pub const CUSTOMERS_W: &str = "CUSTOMERS_W";
/// Europe: see `emailAddresses` (with [`FakeClover::set_field_permissions`]).
pub const CUSTOMERS_EMAIL_R: &str = "CUSTOMERS_EMAIL_R";
/// Europe: write `emailAddresses`.
pub const CUSTOMERS_EMAIL_W: &str = "CUSTOMERS_EMAIL_W";
/// Europe: see `phoneNumbers`.
pub const CUSTOMERS_PHONE_R: &str = "CUSTOMERS_PHONE_R";
/// Europe: write `phoneNumbers`.
pub const CUSTOMERS_PHONE_W: &str = "CUSTOMERS_PHONE_W";
/// Europe: see `addresses`.
pub const CUSTOMERS_ADDRESS_R: &str = "CUSTOMERS_ADDRESS_R";
/// Europe: write `addresses`.
pub const CUSTOMERS_ADDRESS_W: &str = "CUSTOMERS_ADDRESS_W";
/// Every name the fake knows; a setter given another one panics (a typo in a test).
const KNOWN_PERMISSIONS: &[&str] = &[
    MERCHANT_R,
    CUSTOMERS_R,
    CUSTOMERS_W,
    CUSTOMERS_EMAIL_R,
    CUSTOMERS_EMAIL_W,
    CUSTOMERS_PHONE_R,
    CUSTOMERS_PHONE_W,
    CUSTOMERS_ADDRESS_R,
    CUSTOMERS_ADDRESS_W,
];
/// What a token has unless a test says otherwise: what docs/connecting-to-clover.md
/// asks the merchant to tick (Customers read + write), and nothing more.
const DEFAULT_PERMISSIONS: &[&str] = &[CUSTOMERS_R, CUSTOMERS_W];

/// The employee who approves every authorization.
const EMPLOYEE_ID: &str = "EMP0000000001";
/// Authorization codes (from authorize or migrate_v2) are valid this long;
/// Clover publishes no lifetime (§7.3).
const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Default access-token lifetime: "within minutes", about 30 as integrators report (§7.8).
const ACCESS_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Refresh tokens last about a year (§7.8).
const REFRESH_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Recovery works for two weeks after the current refresh token was made (§7.6).
const RECOVERY_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);
/// Parameters `/oauth/v2/authorize` understands. `merchant_id` skips the merchant
/// chooser (§7.1); the fake's one login sees only [`MERCHANT_ID`].
const AUTHORIZE_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "merchant_id",
];

/// Clover's per-token limits (§5.1).
const RATE_LIMIT: usize = 16;
const CONCURRENCY_LIMIT: usize = 5;
/// Clover names the filterable fields of the collection in this header (§3.1);
/// the default of [`FakeClover::set_allowed_filter_fields`].
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
/// Nested collections are capped at 100 items (§2.2, §3.4).
const MAX_NESTED: usize = 100;
/// At most three fields may be expanded per call (§3.3).
const MAX_EXPANSIONS: usize = 3;
/// `customerSince` is epoch milliseconds (§2.2); anything below this is seconds sent by mistake.
const MIN_EPOCH_MILLIS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SearchCustomers,
    CreateCustomer,
    GetCustomer,
    UpdateCustomer,
    AddEmailAddress,
    AddPhoneNumber,
    /// `POST /v3/merchants/{mId}/customers/{id}/addresses`.
    AddAddress,
    /// `POST /v3/merchants/{mId}/customers/{id}/metadata`.
    UpdateMetadata,
    /// `DELETE /v3/merchants/{mId}/customers/{id}`.
    DeleteCustomer,
    GetMerchant,
    /// `GET /oauth/v2/authorize` (the merchant's browser).
    OAuthAuthorize,
    /// `POST /oauth/v2/token`.
    OAuthToken,
    /// `POST /oauth/v2/refresh`.
    OAuthRefresh,
    /// `POST /oauth/v2/recovery`.
    OAuthRecovery,
    /// `POST /oauth/token/migrate_v2`.
    OAuthMigrate,
    Other,
}

impl Endpoint {
    /// The method a known OAuth path answers.
    fn oauth_method(self) -> &'static str {
        match self {
            Endpoint::OAuthAuthorize => "GET",
            _ => "POST",
        }
    }

    /// The permission a `/v3` endpoint needs; `None` for the rest (OAuth,
    /// unknown routes), which are answered on their own terms.
    fn permission(self) -> Option<&'static str> {
        match self {
            Endpoint::GetMerchant => Some(MERCHANT_R),
            Endpoint::SearchCustomers | Endpoint::GetCustomer => Some(CUSTOMERS_R),
            Endpoint::CreateCustomer
            | Endpoint::UpdateCustomer
            | Endpoint::AddEmailAddress
            | Endpoint::AddPhoneNumber
            | Endpoint::AddAddress
            | Endpoint::UpdateMetadata
            | Endpoint::DeleteCustomer => Some(CUSTOMERS_W),
            _ => None,
        }
    }
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
    /// On `/oauth/v2/refresh` the token is spent without the client knowing,
    /// so sending it once more is not counted as a reuse.
    ProcessThenStatus { status: u16 },
    /// Process the request, then wait this long before answering normally.
    ProcessThenDelay(Duration),
    /// Answer this status at once, and process the request only this long after: a
    /// gateway that gave up (a 504) while the work behind it carried on.
    StatusThenProcess { status: u16, after: Duration },
}

impl Fault {
    /// Clover's `401`, for a token it refuses or a permission it lacks (§4.2).
    pub fn unauthorized() -> Self {
        Fault::Status {
            status: 401,
            retry_after: None,
            body: r#"{"message":"401 Unauthorized"}"#.into(),
        }
    }
}

/// What the OAuth endpoints have done so far (see [`FakeClover::oauth_stats`]).
#[derive(Debug, Clone, Default)]
pub struct OAuthStats {
    /// Codes issued by authorize or migrate_v2.
    pub authorizations: u32,
    /// Successful `/oauth/v2/token` exchanges.
    pub exchanges: u32,
    /// Successful `/oauth/v2/refresh` calls.
    pub refreshes: u32,
    /// Refresh attempts with an already-spent refresh token the client had
    /// been told was spent (0 for a correct client). The one attempt that
    /// finds out about a refresh answered with an error is not counted.
    pub refresh_reuse: u32,
    /// Successful `/oauth/v2/recovery` calls.
    pub recoveries: u32,
    /// Successful `/oauth/token/migrate_v2` calls.
    pub migrations: u32,
    /// Token exchanges whose `code_verifier` matched the S256 challenge.
    pub pkce_verified: u32,
    /// API requests made with an expired access token (answered 401).
    pub expired_access_used: u32,
    /// Refreshes refused with 401 that carried `X-Clover-Recovery-Available: true`.
    pub refused_with_recovery_available: u32,
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
    /// As sent: `{"address1": ..., "city": ..., "country": ...}`.
    pub addresses: Vec<Map<String, Value>>,
    /// As sent, `note` included: `{"dobDay": 10, "dobMonth": 12, ...}`.
    pub metadata: Map<String, Value>,
    /// Epoch ms of the deletion; a deleted customer is kept (see
    /// [`FakeClover::set_soft_deletes`]).
    pub deleted_time: Option<i64>,
}

/// A customer as if typed at the register: values are kept exactly as given
/// (case, spaces and all), and `customerSince` is the time of seeding. To
/// seed one already deleted, use [`FakeClover::seed_deleted_customer`] (a
/// field here would break callers that list every field).
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
        Self::start_on(0).await
    }

    /// On a chosen loopback port (`0`: any free one), for running it by hand.
    pub async fn start_on(port: u16) -> FakeClover {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
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

    /// Replaces the primary merchant API token (the merchant deleted the old
    /// one and made a new one). Tokens added with [`FakeClover::add_api_token`]
    /// stay accepted. The new token has the default permissions (Customers
    /// read/write) unless [`FakeClover::set_api_token_permissions`] named it.
    pub fn set_accepted_token(&self, token: &str) {
        self.lock().accepted_token = token.to_owned();
    }

    /// One more accepted merchant API token, with exactly these permissions.
    pub fn add_api_token(&self, token: &str, permissions: &[&str]) {
        let mut st = self.lock();
        st.extra_tokens.insert(token.to_owned());
        st.api_permissions
            .insert(token.to_owned(), permission_set(permissions));
    }

    /// The permissions of a merchant API token, effective at once (the
    /// merchant ticked or unticked boxes on the token in the dashboard). A
    /// token not accepted (yet) keeps them for when it is.
    pub fn set_api_token_permissions(&self, token: &str, permissions: &[&str]) {
        self.lock()
            .api_permissions
            .insert(token.to_owned(), permission_set(permissions));
    }

    /// The OAuth app's permissions. Only access tokens minted from now on get
    /// them: tokens already issued keep theirs, because with Clover a changed
    /// app permission needs a new token (§4.4).
    pub fn set_app_permissions(&self, permissions: &[&str]) {
        self.lock().oauth.app_permissions = permission_set(permissions);
    }

    /// Europe's field-level permissions (§4.3), default off. When on,
    /// customers come back without `emailAddresses`, `phoneNumbers` or
    /// `addresses`, even when expanded, unless the token has
    /// [`CUSTOMERS_EMAIL_R`], [`CUSTOMERS_PHONE_R`] or [`CUSTOMERS_ADDRESS_R`];
    /// nothing says they were left out, which is the danger for a client that
    /// dedupes by email. Writing one of them (in a create or update body, or on
    /// its sub-resource) without the matching `_W` is answered 401.
    pub fn set_field_permissions(&self, on: bool) {
        self.lock().field_permissions = on;
    }

    /// Whether `filter=emailAddress=` matches case-sensitively (default true).
    /// Clover does not publish which (§3.2), and customers typed at the
    /// register keep their case, so the strict reading is the default: a
    /// client searching only for the lower-cased address misses `Ada@Example.com`.
    pub fn set_email_filter_exact(&self, exact: bool) {
        self.lock().email_filter_exact = exact;
    }

    /// Whether deleted customers stay visible (default true). `deletedTime`
    /// being a filter field suggests soft deletes (§2.5): a deleted customer
    /// is still returned by search and GET, with `deletedTime` set. When off,
    /// a deleted customer is gone: 404 on GET, absent from search.
    pub fn set_soft_deletes(&self, on: bool) {
        self.lock().soft_deletes = on;
    }

    /// The value of `X-Clover-Allowed-Filter-Fields` (comma-separated) and the
    /// filter fields search accepts; e.g. leave out `emailAddress` to play a
    /// Clover that cannot search by email.
    pub fn set_allowed_filter_fields(&self, fields: &str) {
        self.lock().allowed_filter_fields = fields.to_owned();
    }

    /// Deletes a customer as the merchant would in the dashboard.
    pub fn delete_customer(&self, id: &str) {
        let mut st = self.lock();
        let i = st
            .customer_index(id)
            .unwrap_or_else(|| panic!("no customer {id} to delete"));
        st.customers[i].deleted_time.get_or_insert_with(millis_now);
    }

    /// Every customer, deleted ones included (see `deleted_time`).
    pub fn customers(&self) -> Vec<FakeCustomer> {
        self.lock().customers.iter().map(Stored::public).collect()
    }

    /// A customer as if typed at the register: every value exactly as given,
    /// `customerSince` now.
    pub fn seed_customer(&self, c: NewFakeCustomer) -> String {
        self.seed(c, false)
    }

    /// Like [`FakeClover::seed_customer`], but already deleted by the
    /// merchant: `deletedTime` is the time of seeding.
    pub fn seed_deleted_customer(&self, c: NewFakeCustomer) -> String {
        self.seed(c, true)
    }

    fn seed(&self, c: NewFakeCustomer, deleted: bool) -> String {
        let mut st = self.lock();
        let now = millis_now();
        let mut stored = Stored {
            id: st.new_customer_id(),
            customer_since: Some(now),
            deleted_time: deleted.then_some(now),
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

    /// Where the merchant's browser goes: serves `GET /oauth/v2/authorize`.
    /// The same server as [`FakeClover::base_url`].
    pub fn web_base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Lifetime of access tokens issued from now on (default 30 min).
    /// Expirations are whole Unix seconds rounded down, and the fake enforces
    /// exactly what it announced: with 2 s a token expires 1–2 s after issue.
    pub fn set_access_lifetime(&self, d: Duration) {
        self.lock().oauth.access_lifetime = d;
    }

    /// Whether authorize echoes `state` back to the redirect URI (default true).
    pub fn set_echo_state(&self, echo: bool) {
        self.lock().oauth.echo_state = echo;
    }

    /// Invalidates every refresh token issued so far (refresh and recovery
    /// answer 401); tokens issued later work. Access tokens are untouched.
    pub fn revoke_refresh_tokens(&self) {
        let mut st = self.lock();
        for pair in st.oauth.grants.iter_mut().flatten() {
            pair.revoked = true;
        }
    }

    pub fn oauth_stats(&self) -> OAuthStats {
        self.lock().oauth.stats.clone()
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

/// The set of `names`; panics on a name the fake does not know.
fn permission_set(names: &[&str]) -> BTreeSet<String> {
    for name in names {
        assert!(
            KNOWN_PERMISSIONS.contains(name),
            "unknown permission `{name}`; known: {}",
            KNOWN_PERMISSIONS.join(", ")
        );
    }
    names.iter().map(|n| (*n).to_owned()).collect()
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
    /// The primary merchant API token ([`FakeClover::set_accepted_token`]).
    accepted_token: String,
    /// Further accepted merchant API tokens ([`FakeClover::add_api_token`]).
    extra_tokens: HashSet<String>,
    /// Permissions of merchant API tokens; a token not named has the defaults.
    api_permissions: HashMap<String, BTreeSet<String>>,
    field_permissions: bool,
    email_filter_exact: bool,
    soft_deletes: bool,
    allowed_filter_fields: String,
    latency: Duration,
    customers: Vec<Stored>,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    faults: HashMap<Endpoint, VecDeque<Fault>>,
    limits: HashMap<String, TokenLimits>,
    oauth: OAuthState,
}

struct OAuthState {
    access_lifetime: Duration,
    echo_state: bool,
    stats: OAuthStats,
    codes: HashMap<String, AuthCode>,
    /// Each grant (one exchanged code) is a chain of pairs; only the last
    /// pair's refresh token can be unspent.
    grants: Vec<Vec<Pair>>,
    /// Refresh token → (grant, position in its chain).
    refresh_index: HashMap<String, (usize, usize)>,
    /// Access token → its expiration and permissions.
    access: HashMap<String, AccessToken>,
    /// Permissions given to access tokens minted from now on.
    app_permissions: BTreeSet<String>,
    /// The refresh token (grant, position) the request being handled spent,
    /// so a `ProcessThenStatus` fault can mark its answer as lost.
    just_spent: Option<(usize, usize)>,
}

struct AccessToken {
    /// Unix seconds, as announced.
    expiration: u64,
    permissions: BTreeSet<String>,
}

impl Default for OAuthState {
    fn default() -> OAuthState {
        OAuthState {
            access_lifetime: ACCESS_LIFETIME,
            echo_state: true,
            stats: OAuthStats::default(),
            codes: HashMap::new(),
            grants: Vec::new(),
            refresh_index: HashMap::new(),
            access: HashMap::new(),
            app_permissions: permission_set(DEFAULT_PERMISSIONS),
            just_spent: None,
        }
    }
}

struct AuthCode {
    client_id: String,
    /// S256 challenge the code was issued with, if any.
    challenge: Option<String>,
    expires: Instant,
    used: bool,
}

struct Pair {
    refresh_expiration: u64,
    issued: Instant,
    spent: bool,
    /// Whether the client has been told its refresh token is spent: it got
    /// the answer that spent it (a 200, even one it may have abandoned while
    /// waiting), or a 401 for sending it again. False while the only answer
    /// was an error status after processing (`Fault::ProcessThenStatus`): the
    /// client cannot know Clover rotated the pair, and trying the token once
    /// more is how it finds out.
    spend_told: bool,
    revoked: bool,
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
    deleted_time: Option<i64>,
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
            addresses: self.addresses.clone(),
            metadata: self.metadata.clone(),
            deleted_time: self.deleted_time,
        }
    }

    /// Customer JSON; nested collections only when expanded, in the wrapped form (§2.3).
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
        if let Some(d) = self.deleted_time {
            o.insert("deletedTime".into(), json!(d));
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
        State {
            base_url,
            accepted_token: API_TOKEN.to_owned(),
            email_filter_exact: true,
            soft_deletes: true,
            allowed_filter_fields: ALLOWED_FILTER_FIELDS.to_owned(),
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

    /// Whether the API still shows this customer (see `soft_deletes`).
    fn visible(&self, c: &Stored) -> bool {
        c.deleted_time.is_none() || self.soft_deletes
    }

    /// The customer as the API sees it: `None` once deleted without soft deletes.
    fn visible_index(&self, id: &str) -> Option<usize> {
        self.customer_index(id)
            .filter(|&i| self.visible(&self.customers[i]))
    }

    /// Looks up the customer a write targets. A soft-deleted one is still
    /// written (Clover probably answers 200), but a correct client never
    /// touches a customer whose `deletedTime` is set (§2.5).
    fn write_target(&mut self, id: &str, inc: &Incoming) -> Option<usize> {
        let i = self.visible_index(id)?;
        if self.customers[i].deleted_time.is_some() {
            self.violation(format!(
                "update: {} {} writes to deleted customer {id}",
                inc.method, inc.path
            ));
        }
        Some(i)
    }
}

/// Clover ids are 13 uppercase alphanumerics (§1.4).
fn random_id() -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    (0..13)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// An opaque token or code: random, of varying length, never derived from
/// anything the client sent (so clients cannot come to depend on a format).
fn random_token(min_len: usize, max_len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut rng = rand::rng();
    let len = rng.random_range(min_len..=max_len);
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Time since the Unix epoch.
fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Now in epoch milliseconds, Clover's unit for `customerSince` and `deletedTime`.
fn millis_now() -> i64 {
    i64::try_from(unix_now().as_millis()).unwrap_or(i64::MAX)
}

/// Whether an expiration in whole Unix seconds has passed.
fn is_past(expiration: u64) -> bool {
    unix_now() >= Duration::from_secs(expiration)
}

// ------------------------------------------------------------- requests --

#[derive(Debug, Clone, PartialEq)]
enum Route {
    Merchant,
    Customers,
    Customer(String),
    Emails(String),
    Phones(String),
    Addresses(String),
    Metadata(String),
    /// Anything under `/oauth/`; `None` for a path Clover does not serve
    /// (v1 `/oauth/token` among them).
    OAuth(Option<Endpoint>),
    Unknown,
}

/// Returns the merchant id in the path (if under `/v3/merchants/`) and the route.
fn parse_path(path: &str) -> (Option<String>, Route) {
    if let Some(rest) = path.strip_prefix("/oauth/") {
        let known = match rest {
            "v2/authorize" => Some(Endpoint::OAuthAuthorize),
            "v2/token" => Some(Endpoint::OAuthToken),
            "v2/refresh" => Some(Endpoint::OAuthRefresh),
            "v2/recovery" => Some(Endpoint::OAuthRecovery),
            "token/migrate_v2" => Some(Endpoint::OAuthMigrate),
            _ => None,
        };
        return (None, Route::OAuth(known));
    }
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
        ["customers", id, "addresses"] => Route::Addresses(id.to_string()),
        ["customers", id, "metadata"] => Route::Metadata(id.to_string()),
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
        (Route::Customer(_), "DELETE") => Endpoint::DeleteCustomer,
        (Route::Emails(_), "POST") => Endpoint::AddEmailAddress,
        (Route::Phones(_), "POST") => Endpoint::AddPhoneNumber,
        (Route::Addresses(_), "POST") => Endpoint::AddAddress,
        (Route::Metadata(_), "POST") => Endpoint::UpdateMetadata,
        (Route::OAuth(Some(e)), m) if m == e.oauth_method() => *e,
        _ => Endpoint::Other,
    }
}

/// Everything the fake needs from one HTTP request, detached from actix.
#[derive(Clone)]
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
    /// The permissions of the bearer token, once authenticated.
    permissions: BTreeSet<String>,
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
            permissions: BTreeSet::new(),
        }
    }

    fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
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
    /// The request, carried out only after the answer (fault `StatusThenProcess`).
    later: Option<Box<Later>>,
}

/// A request the fake carries out once `after` has passed.
struct Later {
    after: Duration,
    incoming: Incoming,
    run: fn(&mut State, &Incoming) -> Reply,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            headers: Vec::new(),
            extra_delay: Duration::ZERO,
            later: None,
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

    fn invalid_refresh_token() -> Reply {
        Reply::error(401, "Invalid refresh token", None)
    }

    /// A status with no body (Clover's answer to a DELETE is not published, §2.5).
    fn empty(status: u16) -> Reply {
        let mut reply = Reply::json(status, Value::Null);
        reply.body = String::new();
        reply
    }

    fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            body: String::new(),
            content_type: "text/plain; charset=utf-8",
            headers: vec![("location", location)],
            extra_delay: Duration::ZERO,
            later: None,
        }
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
    let mut incoming = Incoming::new(&req, body);
    let (mut reply, token, latency) = {
        let mut st = lock(&state);
        let index = st.record(&incoming);
        let (reply, token) = st.decide(&mut incoming);
        st.requests[index].status = reply.status;
        (reply, token, st.latency)
    };
    if let Some(later) = reply.later.take() {
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(later.after).await;
            (later.run)(&mut lock(&state), &later.incoming);
        });
    }
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
    fn decide(&mut self, inc: &mut Incoming) -> (Reply, Option<String>) {
        // The merchant's browser always sends one; the fake does not judge it.
        if inc.header("user-agent").is_none() && inc.endpoint != Endpoint::OAuthAuthorize {
            self.violation(format!(
                "user-agent: missing on {} {}",
                inc.method, inc.path
            ));
        }
        if let Route::OAuth(known) = &inc.route {
            return (self.oauth(inc, *known), None);
        }
        let (token, permissions) = match self.authenticate(inc) {
            Ok(found) => found,
            Err(reply) => return (reply, None),
        };
        inc.permissions = permissions;
        // Clover answers 401 for a foreign merchant too (no 403, §4.2).
        if inc.merchant.as_deref().is_some_and(|m| m != MERCHANT_ID) {
            return (Reply::unauthorized(), None);
        }
        // The token is genuine, so the request counts toward its limits even
        // when the permission check below refuses it.
        if let Some(reply) = self.check_limits(&token, inc) {
            return (reply, Some(token));
        }
        // A missing permission is the same 401 as a bad token (§4.2),
        // and not a violation: the merchant decides what to grant. It comes
        // before faults, so a queued fault waits for a permitted request.
        if let Some(needed) = inc.endpoint.permission()
            && !inc.has(needed)
        {
            return (Reply::unauthorized(), Some(token));
        }
        let reply = self.with_fault(inc, State::dispatch);
        (reply, Some(token))
    }

    /// The bearer token and its permissions, if it is an accepted merchant API
    /// token or an unexpired access token; an expired access token is counted.
    fn authenticate(&mut self, inc: &Incoming) -> Result<(String, BTreeSet<String>), Reply> {
        let bearer = inc
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "));
        let Some(token) = bearer else {
            return Err(Reply::unauthorized());
        };
        if token == self.accepted_token || self.extra_tokens.contains(token) {
            let permissions = match self.api_permissions.get(token) {
                Some(set) => set.clone(),
                None => permission_set(DEFAULT_PERMISSIONS),
            };
            return Ok((token.to_owned(), permissions));
        }
        match self.oauth.access.get(token) {
            Some(a) if !is_past(a.expiration) => Ok((token.to_owned(), a.permissions.clone())),
            Some(_) => {
                self.oauth.stats.expired_access_used += 1;
                Err(Reply::unauthorized())
            }
            None => Err(Reply::unauthorized()),
        }
    }

    /// Runs the endpoint unless the next queued fault of its kind says otherwise.
    fn with_fault(&mut self, inc: &Incoming, run: fn(&mut State, &Incoming) -> Reply) -> Reply {
        match self
            .faults
            .get_mut(&inc.endpoint)
            .and_then(VecDeque::pop_front)
        {
            None => run(self, inc),
            Some(Fault::Status {
                status,
                retry_after,
                body,
            }) => fault_reply(status, retry_after, body),
            Some(Fault::ProcessThenStatus { status }) => {
                self.oauth.just_spent = None;
                run(self, inc);
                // The pair was rotated, but the client only sees an error.
                if let Some((grant, at)) = self.oauth.just_spent.take() {
                    self.oauth.grants[grant][at].spend_told = false;
                }
                Reply::error(status, "Injected fault", Some("processed, then failed"))
            }
            Some(Fault::ProcessThenDelay(d)) => {
                let mut reply = run(self, inc);
                reply.extra_delay = d;
                reply
            }
            Some(Fault::StatusThenProcess { status, after }) => {
                let mut reply =
                    Reply::error(status, "Injected fault", Some("answered, then processed"));
                reply.later = Some(Box::new(Later {
                    after,
                    incoming: inc.clone(),
                    run,
                }));
                reply
            }
        }
    }

    /// Counts the arrival and applies Clover's rate limits (§5); `Some` is the 429 to send.
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
            (Route::Customer(id), "DELETE") => self.delete(id),
            (Route::Customer(_), "PUT" | "PATCH") => {
                let msg = format!(
                    "{} is not allowed on a customer; Clover updates with POST",
                    inc.method
                );
                self.refuse(405, "method", msg)
            }
            (Route::Emails(id), "POST") => self.add_contact(id, inc, Contact::Email),
            (Route::Phones(id), "POST") => self.add_contact(id, inc, Contact::Phone),
            (Route::Addresses(id), "POST") => self.add_contact(id, inc, Contact::Address),
            (Route::Metadata(id), "POST") => self.update_metadata(id, inc),
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
    Address,
}

/// Europe's field-level permissions (§4.3): customer key, read, write.
const FIELD_PERMISSIONS: &[(&str, &str, &str)] = &[
    ("emailAddresses", CUSTOMERS_EMAIL_R, CUSTOMERS_EMAIL_W),
    ("phoneNumbers", CUSTOMERS_PHONE_R, CUSTOMERS_PHONE_W),
    ("addresses", CUSTOMERS_ADDRESS_R, CUSTOMERS_ADDRESS_W),
];

impl State {
    /// Clover echoes the filterable fields on every answer of the collection.
    fn search(&mut self, inc: &Incoming) -> Reply {
        let allowed = self.allowed_filter_fields.clone();
        self.search_page(inc)
            .header("X-Clover-Allowed-Filter-Fields", allowed)
    }

    fn search_page(&mut self, inc: &Incoming) -> Reply {
        let mut filters = Vec::new();
        for raw in inc.query_all("filter") {
            match parse_filter(raw, &self.allowed_filter_fields) {
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
        let expand = match self.expand(inc) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        let exact = self.email_filter_exact;
        let elements: Vec<Value> = self
            .customers
            .iter()
            .filter(|c| self.visible(c))
            .filter(|c| {
                filters
                    .iter()
                    .all(|(field, value)| filter_matches(c, field, value, exact))
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
        if self.lacks_field_write(inc, &body) {
            return Reply::unauthorized();
        }
        if let Err(msg) = validate_customer(&body) {
            return self.refuse(400, "create", msg);
        }
        let expand = match self.expand(inc) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
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
        let reply = Reply::json(200, c.to_json(&expand));
        self.customers.push(c);
        reply
    }

    fn get(&mut self, id: &str, inc: &Incoming) -> Reply {
        let expand = match self.expand(inc) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        match self.visible_index(id) {
            Some(i) => Reply::json(200, self.customers[i].to_json(&expand)),
            None => Reply::customer_not_found(),
        }
    }

    /// Only the fields present are overwritten; contacts have their own endpoints (§2.1, §2.2).
    fn update(&mut self, id: &str, inc: &Incoming) -> Reply {
        let body = match self.json_body(inc, "update") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if self.lacks_field_write(inc, &body) {
            return Reply::unauthorized();
        }
        if let Err(msg) = validate_customer(&body) {
            return self.refuse(400, "update", msg);
        }
        let expand = match self.expand(inc) {
            Ok(e) => e,
            Err(reply) => return reply,
        };
        let Some(i) = self.write_target(id, inc) else {
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
        Reply::json(200, self.customers[i].to_json(&expand))
    }

    /// `DELETE .../customers/{id}`: sets `deletedTime`; whether the customer
    /// stays visible is `soft_deletes`. Deleting it again is answered alike.
    fn delete(&mut self, id: &str) -> Reply {
        let Some(i) = self.visible_index(id) else {
            return Reply::customer_not_found();
        };
        self.customers[i]
            .deleted_time
            .get_or_insert_with(millis_now);
        Reply::empty(200)
    }

    /// The email / phone / address sub-resources: one new item.
    fn add_contact(&mut self, id: &str, inc: &Incoming, kind: Contact) -> Reply {
        let (area, list) = match kind {
            Contact::Email => ("email", "emailAddresses"),
            Contact::Phone => ("phone", "phoneNumbers"),
            Contact::Address => ("address", "addresses"),
        };
        let body = match self.json_body(inc, area) {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if self.field_permissions && !inc.has(field_write_permission(list)) {
            return Reply::unauthorized();
        }
        let checked = match kind {
            Contact::Email => check_email(&body),
            Contact::Phone => check_phone(&body),
            Contact::Address => check_address(&body),
        };
        if let Err(msg) = checked {
            return self.refuse(400, area, msg);
        }
        let Some(i) = self.write_target(id, inc) else {
            return Reply::customer_not_found();
        };
        let contact_id = random_id();
        let c = &mut self.customers[i];
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
        let mut answer = match kind {
            Contact::Email => {
                let value = text("emailAddress");
                c.emails.push((contact_id.clone(), value.clone()));
                json!({ "emailAddress": value })
            }
            Contact::Phone => {
                let value = text("phoneNumber");
                c.phones.push((contact_id.clone(), value.clone()));
                json!({ "phoneNumber": value })
            }
            Contact::Address => {
                let mut address = body.clone();
                address.insert("id".into(), json!(contact_id));
                c.addresses.push(address.clone());
                Value::Object(address)
            }
        };
        answer["id"] = json!(contact_id);
        answer["customer"] = json!({ "id": id });
        Reply::json(200, answer)
    }

    /// `POST .../customers/{id}/metadata` creates a note, birthday or business
    /// name; whether it merges or replaces is unpublished (§2.4), so the fake
    /// takes the worse reading: the body REPLACES the stored metadata, and
    /// wiping out a note the merchant wrote is a violation.
    fn update_metadata(&mut self, id: &str, inc: &Incoming) -> Reply {
        let body = match self.json_body(inc, "metadata") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if let Err(msg) = check_metadata(&Value::Object(body.clone())) {
            return self.refuse(400, "metadata", msg);
        }
        let Some(i) = self.write_target(id, inc) else {
            return Reply::customer_not_found();
        };
        let c = &mut self.customers[i];
        let had_note = c
            .metadata
            .get("note")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let metadata: Map<String, Value> = body.into_iter().filter(|(_, v)| !v.is_null()).collect();
        c.metadata = metadata.clone();
        if had_note {
            self.violation(format!(
                "metadata: replaced an existing note of customer {id}"
            ));
        }
        Reply::json(200, Value::Object(metadata))
    }

    /// Europe: whether the body writes a contact list the token may not write.
    fn lacks_field_write(&self, inc: &Incoming, body: &Map<String, Value>) -> bool {
        self.field_permissions
            && FIELD_PERMISSIONS.iter().any(|(key, _, write)| {
                body.get(*key).is_some_and(|v| !v.is_null()) && !inc.has(write)
            })
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

    /// `expand=a,b` (possibly repeated). More than three distinct names is
    /// refused (§3.3); an unknown name is a violation and ignored. In Europe a
    /// contact list the token may not read is left out without a word (§4.3).
    fn expand(&mut self, inc: &Incoming) -> Result<Expand, Reply> {
        let mut names: Vec<String> = Vec::new();
        for name in inc
            .query_all("expand")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        if names.len() > MAX_EXPANSIONS {
            let msg = format!(
                "at most {MAX_EXPANSIONS} fields may be expanded per call, got {}: {}",
                names.len(),
                names.join(",")
            );
            return Err(self.refuse(400, "expand", msg));
        }
        let mut expand = Expand::default();
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
        if self.field_permissions {
            expand.emails &= inc.has(CUSTOMERS_EMAIL_R);
            expand.phones &= inc.has(CUSTOMERS_PHONE_R);
            expand.addresses &= inc.has(CUSTOMERS_ADDRESS_R);
        }
        Ok(expand)
    }
}

/// The Europe write permission for a customer contact list.
fn field_write_permission(list: &str) -> &'static str {
    FIELD_PERMISSIONS
        .iter()
        .find(|(key, _, _)| *key == list)
        .map_or(CUSTOMERS_W, |(_, _, write)| write)
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

/// Parses the flat `field=value` form; a field Clover does not list in
/// `X-Clover-Allowed-Filter-Fields` is refused. Clover knows more operators
/// and fields than the fake evaluates, and using those is reported rather
/// than guessed.
fn parse_filter(raw: &str, allowed: &str) -> Result<(String, String), String> {
    let end = raw
        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
        .unwrap_or(raw.len());
    let (field, rest) = raw.split_at(end);
    if !allowed.split(',').any(|f| f.trim() == field) {
        return Err(format!(
            "invalid filter field `{field}` (filters are flat, e.g. emailAddress=...; allowed: {allowed})"
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

/// `exact_email`: whether `emailAddress` compares case-sensitively (nothing is published).
fn filter_matches(c: &Stored, field: &str, value: &str, exact_email: bool) -> bool {
    match field {
        "emailAddress" if exact_email => c.emails.iter().any(|(_, e)| e == value),
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

// ---------------------------------------------------------------- oauth --

impl State {
    /// Everything under `/oauth/`: no bearer header, no per-token limits.
    fn oauth(&mut self, inc: &Incoming, known: Option<Endpoint>) -> Reply {
        let Some(endpoint) = known else {
            let msg = format!("no such OAuth endpoint: {} {}", inc.method, inc.path);
            return self.refuse(404, "route", msg);
        };
        if inc.endpoint != endpoint {
            let msg = format!(
                "{} is not allowed on {}; use {}",
                inc.method,
                inc.path,
                endpoint.oauth_method()
            );
            return self.refuse(405, "method", msg);
        }
        let run: fn(&mut State, &Incoming) -> Reply = match endpoint {
            Endpoint::OAuthAuthorize => State::authorize,
            Endpoint::OAuthToken => State::token,
            Endpoint::OAuthRefresh => State::refresh,
            Endpoint::OAuthRecovery => State::recovery,
            _ => State::migrate,
        };
        self.with_fault(inc, run)
    }

    /// The merchant approves at once; answers the redirect with a fresh code (§7.1, §7.2).
    fn authorize(&mut self, inc: &Incoming) -> Reply {
        let mut params: HashMap<&str, &str> = HashMap::new();
        for (key, value) in &inc.query {
            if params.insert(key, value).is_some() {
                let msg = format!("parameter `{key}` given more than once");
                return self.refuse(400, "authorize", msg);
            }
        }
        let mut unknown: Vec<&str> = params
            .keys()
            .copied()
            .filter(|k| !AUTHORIZE_PARAMS.contains(k))
            .collect();
        unknown.sort_unstable();
        for key in unknown {
            self.violation(format!("authorize: unknown parameter `{key}` (ignored)"));
        }
        let Some(client_id) = params.get("client_id").copied() else {
            return self.refuse(400, "authorize", "`client_id` is required".into());
        };
        if client_id != APP_ID {
            self.violation(format!("authorize: unknown client_id `{client_id}`"));
            let details = format!("No App with ID {client_id} found.");
            return Reply::error(404, "Not Found", Some(&details));
        }
        let Some(raw_redirect) = params.get("redirect_uri").copied() else {
            return self.refuse(400, "authorize", "`redirect_uri` is required".into());
        };
        let mut location = match url::Url::parse(raw_redirect) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.fragment().is_none() =>
            {
                u
            }
            _ => {
                let msg = format!(
                    "`redirect_uri` must be an absolute http(s) URL without a fragment, got `{raw_redirect}`"
                );
                return self.refuse(400, "authorize", msg);
            }
        };
        match params.get("response_type").copied() {
            None | Some("code") => {}
            Some(other) => {
                let msg = format!("`response_type` must be `code`, got `{other}`");
                return self.refuse(400, "authorize", msg);
            }
        }
        let method = params.get("code_challenge_method").copied();
        let challenge = match params.get("code_challenge").copied() {
            None if method.is_some() => {
                let msg = "`code_challenge_method` without `code_challenge`".to_owned();
                return self.refuse(400, "authorize", msg);
            }
            None => None,
            Some(challenge) => {
                if method != Some("S256") {
                    let msg = format!(
                        "`code_challenge_method` must be `S256`, got `{}`",
                        method.unwrap_or("(none)")
                    );
                    return self.refuse(400, "authorize", msg);
                }
                if let Err(msg) = check_challenge(challenge) {
                    return self.refuse(400, "authorize", msg);
                }
                Some(challenge.to_owned())
            }
        };
        if let Some(merchant) = params.get("merchant_id").filter(|m| **m != MERCHANT_ID) {
            // The approving login has no access to that merchant: nothing is approved.
            let details = format!("No merchant {merchant} for this account.");
            return Reply::error(404, "Not Found", Some(&details));
        }
        let (code, _) = self.new_code(client_id, challenge);
        {
            let mut query = location.query_pairs_mut();
            query
                .append_pair("merchant_id", MERCHANT_ID)
                .append_pair("employee_id", EMPLOYEE_ID)
                .append_pair("client_id", APP_ID)
                .append_pair("code", &code);
            if let Some(state) = params.get("state").filter(|_| self.oauth.echo_state) {
                query.append_pair("state", state);
            }
        }
        Reply::redirect(location.into())
    }

    /// `POST /oauth/v2/token`: a code for a token pair, by secret or by PKCE (§7.3, §7.4).
    fn token(&mut self, inc: &Incoming) -> Reply {
        let mut no_refresh = false;
        for (key, value) in &inc.query {
            match (key.as_str(), value.as_str()) {
                ("no_refresh_token", "true") => no_refresh = true,
                ("no_refresh_token", "false") => {}
                _ => {
                    let msg = format!(
                        "unexpected query parameter `{key}`; the token request is a JSON body"
                    );
                    return self.refuse(400, "token", msg);
                }
            }
        }
        let body = match self.json_body(inc, "token") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        let optional = ["client_secret", "code_verifier"];
        let f = match string_fields(&body, &["client_id", "code"], &optional) {
            Ok(f) => f,
            Err(msg) => return self.refuse(400, "token", msg),
        };
        if optional.iter().all(|k| f.contains_key(*k)) {
            let msg =
                "send either `client_secret` (high trust) or `code_verifier` (PKCE), not both";
            return self.refuse(400, "token", msg.into());
        }
        if f["client_id"] != APP_ID {
            return Reply::unauthorized();
        }
        let (used, expires, bound_client, challenge) = match self.oauth.codes.get(&f["code"]) {
            Some(c) => (c.used, c.expires, c.client_id.clone(), c.challenge.clone()),
            None => return self.refuse(400, "token", "unknown authorization code".into()),
        };
        if used {
            let msg = "code reuse: this authorization code was already exchanged".to_owned();
            return self.refuse(400, "token", msg);
        }
        if expires <= Instant::now() {
            return self.refuse(400, "token", "expired authorization code".into());
        }
        if bound_client != f["client_id"] {
            return Reply::unauthorized();
        }
        let pkce = match challenge {
            Some(challenge) => {
                let Some(verifier) = f.get("code_verifier") else {
                    let msg =
                        "the code was issued with a code_challenge; `code_verifier` is required";
                    return self.refuse(400, "token", msg.into());
                };
                if let Err(msg) = check_verifier(verifier) {
                    return self.refuse(400, "token", msg);
                }
                if s256(verifier) != challenge {
                    let msg = "`code_verifier` does not match the code_challenge".to_owned();
                    return self.refuse(400, "token", msg);
                }
                true
            }
            None => {
                if f.contains_key("code_verifier") {
                    self.violation(
                        "token: `code_verifier` sent for a code issued without code_challenge"
                            .into(),
                    );
                    return Reply::unauthorized();
                }
                if f.get("client_secret").map(String::as_str) != Some(APP_SECRET) {
                    return Reply::unauthorized();
                }
                false
            }
        };
        if let Some(c) = self.oauth.codes.get_mut(&f["code"]) {
            c.used = true;
        }
        let stats = &mut self.oauth.stats;
        stats.exchanges += 1;
        stats.pkce_verified += u32::from(pkce);
        let pair = if no_refresh {
            self.mint_access().0
        } else {
            self.oauth.grants.push(Vec::new());
            self.mint_pair(self.oauth.grants.len() - 1)
        };
        Reply::json(200, pair)
    }

    /// `POST /oauth/v2/refresh`: single-use refresh token for a new pair (§7.5).
    fn refresh(&mut self, inc: &Incoming) -> Reply {
        let body = match self.oauth_body(inc, "refresh") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        let f = match string_fields(&body, &["client_id", "refresh_token"], &["client_secret"]) {
            Ok(f) => f,
            Err(msg) => return self.refuse(400, "refresh", msg),
        };
        if f.contains_key("client_secret") {
            // Clover ignores it, but the secret has no business travelling here.
            self.violation("refresh: `client_secret` is not part of the refresh body".into());
        }
        if f["client_id"] != APP_ID {
            return Reply::unauthorized();
        }
        let Some(&(grant, at)) = self.oauth.refresh_index.get(&f["refresh_token"]) else {
            return Reply::invalid_refresh_token();
        };
        let pair = &mut self.oauth.grants[grant][at];
        if pair.spent {
            // Trying the token once more is how a client learns that a refresh
            // answered with an error went through; after that 401 (or after a
            // 200 it was sent), trying again is a bug.
            let told = std::mem::replace(&mut pair.spend_told, true);
            if told {
                self.oauth.stats.refresh_reuse += 1;
                self.violation(
                    "refresh: reuse of an already-spent refresh token (lost answers need /oauth/v2/recovery)"
                        .into(),
                );
            }
            let mut reply = Reply::invalid_refresh_token();
            // Some integrators see this header when recovery would succeed (§7.5).
            if self.recoverable(grant, at) {
                self.oauth.stats.refused_with_recovery_available += 1;
                reply = reply.header("X-Clover-Recovery-Available", "true".into());
            }
            return reply;
        }
        if pair.revoked || is_past(pair.refresh_expiration) {
            return Reply::invalid_refresh_token();
        }
        self.spend(grant, at);
        self.oauth.stats.refreshes += 1;
        Reply::json(200, self.mint_pair(grant))
    }

    /// Marks a refresh token spent, its answer (so far) delivered.
    fn spend(&mut self, grant: usize, at: usize) {
        let pair = &mut self.oauth.grants[grant][at];
        pair.spent = true;
        pair.spend_told = true;
        self.oauth.just_spent = Some((grant, at));
    }

    /// Whether the refresh token at `at` would buy a new pair from
    /// `/oauth/v2/recovery`: it minted the grant's current pair, which is
    /// unspent, unrevoked and at most two weeks old (§7.6).
    fn recoverable(&self, grant: usize, at: usize) -> bool {
        let chain = &self.oauth.grants[grant];
        let current = chain.len() - 1;
        let pair = &chain[current];
        at + 1 == current
            && !pair.spent
            && !pair.revoked
            && !is_past(pair.refresh_expiration)
            && pair.issued.elapsed() <= RECOVERY_WINDOW
    }

    /// `POST /oauth/v2/recovery`: the refresh token spent to mint the current
    /// pair buys a new pair, as long as the current one is still unspent.
    /// The body is `client_id`, `client_secret` and `recovery_token` (§7.6);
    /// `refresh_token` in its place is refused.
    fn recovery(&mut self, inc: &Incoming) -> Reply {
        let body = match self.oauth_body(inc, "recovery") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        if body.contains_key("refresh_token") {
            let msg =
                "`refresh_token` is not a recovery field; send the spent token as `recovery_token`";
            return self.refuse(400, "recovery", msg.into());
        }
        let required = ["client_id", "client_secret", "recovery_token"];
        let f = match string_fields(&body, &required, &[]) {
            Ok(f) => f,
            Err(msg) => return self.refuse(400, "recovery", msg),
        };
        if f["client_id"] != APP_ID || f["client_secret"] != APP_SECRET {
            return Reply::unauthorized();
        }
        let Some(&(grant, at)) = self.oauth.refresh_index.get(&f["recovery_token"]) else {
            return Reply::invalid_refresh_token();
        };
        if !self.recoverable(grant, at) {
            return Reply::invalid_refresh_token();
        }
        let current = self.oauth.grants[grant].len() - 1;
        self.spend(grant, current);
        self.oauth.stats.recoveries += 1;
        Reply::json(200, self.mint_pair(grant))
    }

    /// `POST /oauth/token/migrate_v2`: a v1 token for a v2 authorization code (§7.7).
    fn migrate(&mut self, inc: &Incoming) -> Reply {
        let body = match self.oauth_body(inc, "migrate") {
            Ok(b) => b,
            Err(reply) => return reply,
        };
        let required = ["merchant_uuid", "app_uuid", "auth_token"];
        let f = match string_fields(&body, &required, &["code_challenge"]) {
            Ok(f) => f,
            Err(msg) => return self.refuse(400, "migrate", msg),
        };
        let challenge = f.get("code_challenge").cloned();
        if let Some(Err(msg)) = challenge.as_deref().map(check_challenge) {
            return self.refuse(400, "migrate", msg);
        }
        if f["merchant_uuid"] != MERCHANT_ID
            || f["app_uuid"] != APP_ID
            || f["auth_token"] != LEGACY_TOKEN
        {
            return Reply::unauthorized();
        }
        let (code, expiration) = self.new_code(APP_ID, challenge);
        self.oauth.stats.migrations += 1;
        Reply::json(
            200,
            json!({ "authorization_code": code, "expiration": expiration }),
        )
    }

    /// A JSON body on an endpoint that takes no query parameters.
    fn oauth_body(&mut self, inc: &Incoming, area: &str) -> Result<Map<String, Value>, Reply> {
        if let Some((key, _)) = inc.query.first() {
            let msg = format!("unexpected query parameter `{key}`; parameters go in the JSON body");
            return Err(self.refuse(400, area, msg));
        }
        self.json_body(inc, area)
    }

    /// A single-use authorization code; returns it with its expiration (Unix s).
    fn new_code(&mut self, client_id: &str, challenge: Option<String>) -> (String, u64) {
        let code = random_token(24, 40);
        let code_entry = AuthCode {
            client_id: client_id.to_owned(),
            challenge,
            expires: Instant::now() + CODE_LIFETIME,
            used: false,
        };
        self.oauth.codes.insert(code.clone(), code_entry);
        self.oauth.stats.authorizations += 1;
        (code, (unix_now() + CODE_LIFETIME).as_secs())
    }

    /// A new access token: the answer's access fields, and the token itself.
    /// It carries the app's permissions as they are now.
    fn mint_access(&mut self) -> (Value, String) {
        let token = random_token(32, 48);
        let expiration = (unix_now() + self.oauth.access_lifetime).as_secs();
        let access = AccessToken {
            expiration,
            permissions: self.oauth.app_permissions.clone(),
        };
        self.oauth.access.insert(token.clone(), access);
        let fields = json!({ "access_token": token, "access_token_expiration": expiration });
        (fields, token)
    }

    /// A new pair at the end of the grant's chain, as the 4-field answer.
    fn mint_pair(&mut self, grant: usize) -> Value {
        let (mut answer, _) = self.mint_access();
        let refresh_token = random_token(32, 48);
        let refresh_expiration = (unix_now() + REFRESH_LIFETIME).as_secs();
        let at = self.oauth.grants[grant].len();
        self.oauth
            .refresh_index
            .insert(refresh_token.clone(), (grant, at));
        self.oauth.grants[grant].push(Pair {
            refresh_expiration,
            issued: Instant::now(),
            spent: false,
            spend_told: false,
            revoked: false,
        });
        answer["refresh_token"] = json!(refresh_token);
        answer["refresh_token_expiration"] = json!(refresh_expiration);
        answer
    }
}

/// The body's fields, all strings, exactly `required` plus any of `optional`.
fn string_fields(
    body: &Map<String, Value>,
    required: &[&str],
    optional: &[&str],
) -> Result<HashMap<String, String>, String> {
    let mut fields = HashMap::new();
    for (key, value) in body {
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            let allowed = [required, optional].concat().join(", ");
            return Err(format!("unknown field `{key}`; allowed: {allowed}"));
        }
        let s = value
            .as_str()
            .ok_or_else(|| format!("`{key}` must be a string"))?;
        fields.insert(key.clone(), s.to_owned());
    }
    match required.iter().find(|k| !fields.contains_key(**k)) {
        Some(missing) => Err(format!("`{missing}` is required")),
        None => Ok(fields),
    }
}

/// base64url(SHA-256(verifier)) without padding: a 43-character S256 challenge (§7.4).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn check_challenge(challenge: &str) -> Result<(), String> {
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if challenge.len() != 43 || !challenge.chars().all(base64url) {
        return Err(format!(
            "`code_challenge` must be 43 base64url characters without padding (S256), got `{challenge}`"
        ));
    }
    Ok(())
}

/// RFC 7636: 43–128 unreserved characters.
fn check_verifier(verifier: &str) -> Result<(), String> {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(unreserved) {
        return Err("`code_verifier` must be 43-128 characters from [A-Za-z0-9-._~]".into());
    }
    Ok(())
}

// ----------------------------------------------------------- validation --

/// Field rules of Clover's create-customer reference and its Android SDK models (§2.2).
/// `null` is accepted as "not given".
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
