//! `CloverClient`: the Clover REST API for the credential's merchant. `call.rs` sends one
//! request within the pacing limits and reads Clover's answer; `customers.rs` holds the
//! calls delivery makes (search, create, complete); `permissions.rs` keeps track of a
//! permission Clover refuses while the credential itself works; `verify.rs` checks a
//! candidate credential before it is kept.

mod call;
mod customers;
mod permissions;
mod verify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use url::Url;

use super::{Access, CloverError, Credential, MerchantId, MissingPermission, Pacer};
use crate::metrics::CloverMetrics;
use call::{DEFAULT_RATE_LIMIT_WAIT, retry_after};

pub use verify::Verification;

/// Clover's reference marks `User-Agent` as required: `<product>/<version> <comment>`.
const USER_AGENT: &str = concat!(
    "clover-signup/",
    env!("CARGO_PKG_VERSION"),
    " (web signup form)"
);
/// Contacts and the note are only returned when asked for. Clover expands at most three
/// fields a call.
const EXPAND: &str = "emailAddresses,phoneNumbers,metadata";

/// One call's place under `/v3/merchants/{mId}`: path segments and query pairs.
struct Request<'a> {
    path: &'a [&'a str],
    query: &'a [(&'a str, &'a str)],
    /// A write is refused (as `Unavailable`, sent nowhere) once this has passed. A
    /// delivery writes only while its claim lasts: a request that waited for its turn
    /// past that point could race with the instance that took the submission over.
    send_by: Option<Instant>,
}

/// The Clover REST API for the credential's merchant, paced within the token's limits.
pub struct CloverClient {
    http: reqwest::Client,
    api_base: Url,
    credential: Arc<dyn Credential>,
    pacer: Pacer,
    timeout: Duration,
    /// A permission found missing while the credential itself works; cleared by the next
    /// delivery that succeeds.
    missing_permission: Mutex<Option<MissingPermission>>,
    /// Every answer (or its absence) and how long it took, for `/metrics`.
    metrics: CloverMetrics,
}

impl CloverClient {
    pub fn new(
        api_base: Url,
        credential: Arc<dyn Credential>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Clover never redirects an API call; following one could leak the token.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            api_base,
            credential,
            pacer: Pacer::for_clover_token(),
            timeout,
            missing_permission: Mutex::new(None),
            metrics: CloverMetrics::default(),
        })
    }

    /// Records every exchange with Clover through `metrics`. Without it (`check`, tests)
    /// they are counted where no one reads them.
    pub fn with_metrics(mut self, metrics: CloverMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Takes up a credential another instance of the service stored.
    pub async fn reload_credential(&self) {
        self.credential.reload().await;
    }

    /// What is left of a pause Clover imposed on this token, if one runs.
    pub fn paused_for(&self) -> Option<Duration> {
        self.pacer.held_for()
    }

    /// Clover imposed a pause on this token through another instance: keep it here too.
    pub fn pause(&self, wait: Duration) {
        self.pacer.hold_off(wait);
    }

    /// A whole delivery succeeded: the credential works (again).
    pub fn delivery_succeeded(&self) {
        self.credential.accepted();
    }

    /// One GET with a candidate's token, paced, outside the credential in use. A `429`
    /// holds every request back for its `retry-after`, as in any other call: Clover
    /// lengthens the penalty for requests sent before it ends.
    async fn send_checked(
        &self,
        candidate: &Access,
        request: &Request<'_>,
    ) -> Result<reqwest::Response, CloverError> {
        let _permit = self.pacer.turn().await;
        let response = self
            .http
            .get(self.url(&candidate.merchant_id, request))
            .bearer_auth(candidate.token.expose_secret())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            self.pacer
                .hold_off(retry_after(response.headers()).unwrap_or(DEFAULT_RATE_LIMIT_WAIT));
        }
        Ok(response)
    }

    /// `{api base}/v3/merchants/{mId}/{segments...}`, each segment percent-encoded.
    fn url(&self, merchant_id: &MerchantId, request: &Request<'_>) -> Url {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .expect("an http(s) base URL has a path")
            .pop_if_empty()
            .extend(["v3", "merchants", merchant_id.as_ref()])
            .extend(request.path);
        url.query_pairs_mut().extend_pairs(request.query);
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// Describes a failed exchange without its URL, which may carry a visitor's email.
    fn transport_error(&self, error: &reqwest::Error) -> CloverError {
        let reason = if error.is_timeout() {
            format!("no answer from Clover within {} s", self.timeout.as_secs())
        } else if error.is_connect() {
            "could not connect to Clover".to_owned()
        } else {
            "the connection to Clover failed".to_owned()
        };
        CloverError::unavailable(reason)
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CloverError> {
    serde_json::from_slice(body).map_err(|e| CloverError::UnexpectedResponse(e.to_string()))
}
