use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use super::wire::{
    CreateCustomerRequest, CustomerList, CustomerResponse, ErrorBody, MerchantResponse, NoteBody,
    PhoneNumberBody, UpdateNamesRequest,
};
use super::{
    Access, AuthSnapshot, AuthState, CloverError, Credential, CustomerDraft, ExistingCustomer,
    MerchantId, MissingPermission, Pacer, UnauthorizedAction,
};

/// Clover's reference marks `User-Agent` as required: `<product>/<version> <comment>`.
const USER_AGENT: &str = concat!(
    "clover-signup/",
    env!("CARGO_PKG_VERSION"),
    " (web signup form)"
);
/// Contacts and the note are only returned when asked for. Clover expands at most three
/// fields a call.
const EXPAND: &str = "emailAddresses,phoneNumbers,metadata";
/// Clover lists the fields a collection can be filtered on in this header.
const ALLOWED_FILTER_FIELDS: &str = "x-clover-allowed-filter-fields";
/// How many `429`s in a row one call waits out before giving the work back to the queue.
const MAX_RATE_LIMITED_WAITS: u32 = 5;
/// Without a `retry-after`, the first wait after a `429` (Clover's own advice: 1 s, 2 s, 4 s…).
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// The longest `retry-after` taken at its word; a larger (or absurd) value is read as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What checking a credential found, beyond "it can search customers".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// The merchant's name, when the token may read it (Merchant read, which delivery
    /// does not need): shown as a courtesy only.
    pub merchant_name: Option<String>,
    /// Whether the customer returned came with its email addresses; `None` when the
    /// merchant has no customer yet to tell by.
    pub email_addresses_readable: Option<bool>,
    /// The fields Clover says customers can be filtered on, when it says.
    pub filter_fields: Option<Vec<String>>,
}

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
        })
    }

    /// Takes up a credential another instance of the service stored.
    pub async fn reload_credential(&self) {
        self.credential.reload().await;
    }

    /// `instances` of the service share this token: keep to one share of its limits.
    pub fn share_budget(&self, instances: usize) {
        self.pacer.share_among(instances);
    }

    /// The credential's state, or the missing permission delivery is parked on.
    pub fn auth(&self) -> AuthSnapshot {
        let snapshot = self.credential.snapshot();
        let missing = *self.missing_permission.lock().expect("permission lock");
        match missing {
            Some(missing) if snapshot.state == AuthState::Ok => AuthSnapshot {
                state: AuthState::Failing,
                reason: Some(missing.explanation().to_owned()),
                missing_permission: Some(missing),
                ..snapshot
            },
            _ => snapshot,
        }
    }

    /// Checks a candidate credential before it is kept, with what delivery itself does: a
    /// customers search with the worker's expansions, which needs Customers read and shows
    /// whether email addresses can be read. Writing cannot be checked without writing. The
    /// merchant's name is read as a courtesy, when the token may.
    pub async fn verify(&self, candidate: &Access) -> Result<Verification, CloverError> {
        let search = Request {
            path: &["customers"],
            query: &[("limit", "1"), ("expand", EXPAND)],
            send_by: None,
        };
        let response = self.send_checked(candidate, &search).await?;
        let filter_fields = response
            .headers()
            .get(ALLOWED_FILTER_FIELDS)
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(',')
                    .map(|field| field.trim().to_owned())
                    .filter(|field| !field.is_empty())
                    .collect()
            });
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let list = match status {
            s if s.is_success() => parse::<CustomerList>(&body)?,
            StatusCode::UNAUTHORIZED => return Err(CloverError::Unauthorized),
            StatusCode::FORBIDDEN => {
                return Err(CloverError::MissingPermission(
                    MissingPermission::ReadEmailAddresses,
                ));
            }
            s => return Err(refusal(s, &body)),
        };
        let email_addresses_readable = list.elements.first().map(CustomerResponse::emails_returned);
        if email_addresses_readable == Some(false) {
            return Err(CloverError::MissingPermission(
                MissingPermission::ReadEmailAddresses,
            ));
        }
        let merchant = Request {
            path: &[],
            query: &[],
            send_by: None,
        };
        let merchant_name = match self.send_checked(candidate, &merchant).await {
            Ok(response) if response.status().is_success() => response
                .bytes()
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<MerchantResponse>(&body).ok())
                .and_then(|merchant| merchant.name)
                .filter(|name| !name.trim().is_empty()),
            _ => None,
        };
        Ok(Verification {
            merchant_name,
            email_addresses_readable,
            filter_fields,
        })
    }

    /// One GET with a candidate's token, paced, outside the credential in use.
    async fn send_checked(
        &self,
        candidate: &Access,
        request: &Request<'_>,
    ) -> Result<reqwest::Response, CloverError> {
        let _permit = self.pacer.turn().await;
        self.http
            .get(self.url(&candidate.merchant_id, request))
            .bearer_auth(candidate.token.expose_secret())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))
    }

    /// A whole delivery succeeded: the credential works (again).
    pub fn delivery_succeeded(&self) {
        self.credential.accepted();
    }

    /// Clover showed that `granted` is no longer missing: delivery resumes if it was
    /// parked on it. Only proof counts (a write that went through, a search that came
    /// back with email addresses), not a delivery that happened to need neither.
    fn granted(&self, granted: MissingPermission) {
        let mut missing = self.missing_permission.lock().expect("permission lock");
        if *missing == Some(granted) {
            *missing = None;
            tracing::info!(
                permission = granted.code(),
                "Clover grants the missing permission now; delivery resumes"
            );
        }
    }

    /// Customers with this email address, the merchant's deleted ones left out. Clover does
    /// not say whether its filter ignores case, and customers typed in at the register
    /// keep the case they were typed with: the address is searched as the visitor typed
    /// it, then, if that finds nobody and it differs, lower-cased.
    pub async fn find_by_email(
        &self,
        email_as_typed: &str,
    ) -> Result<Vec<ExistingCustomer>, CloverError> {
        let found = self.search_email(email_as_typed).await?;
        let lower = email_as_typed.to_lowercase();
        if !found.is_empty() || lower == email_as_typed {
            return Ok(found);
        }
        self.search_email(&lower).await
    }

    async fn search_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        let filter = format!("emailAddress={email}");
        let request = Request {
            path: &["customers"],
            query: &[("filter", &filter), ("expand", EXPAND), ("limit", "100")],
            send_by: None,
        };
        let body = self.call::<()>(Method::GET, &request, None).await?;
        let list: CustomerList = parse(&body)?;
        let living: Vec<CustomerResponse> = list
            .elements
            .into_iter()
            .filter(|customer| !customer.is_deleted())
            .collect();
        // Everyone a filter on email returns has an email address: one that comes back
        // without any cannot be compared, and taking it for a stranger would make a
        // duplicate of every signup.
        if living.iter().any(|c| !c.emails_returned()) {
            return Err(self.parked_on(MissingPermission::ReadEmailAddresses));
        }
        if !living.is_empty() {
            self.granted(MissingPermission::ReadEmailAddresses);
        }
        // Whether the filter is exact is not documented either: compare here too.
        Ok(living
            .into_iter()
            .map(ExistingCustomer::from)
            .filter(|customer| {
                customer
                    .emails
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(email))
            })
            .collect())
    }

    /// Delivery is parked on a missing permission until a delivery succeeds again.
    fn parked_on(&self, missing: MissingPermission) -> CloverError {
        let previous = self
            .missing_permission
            .lock()
            .expect("permission lock")
            .replace(missing);
        if previous != Some(missing) {
            tracing::error!(
                permission = missing.code(),
                "delivery is parked: {}",
                missing.explanation()
            );
        }
        CloverError::MissingPermission(missing)
    }

    /// Creates a customer, if the request can leave by `send_by` (see [`Request`]).
    pub async fn create(
        &self,
        draft: &CustomerDraft,
        send_by: Instant,
    ) -> Result<String, CloverError> {
        let request = Request {
            path: &["customers"],
            query: &[("expand", EXPAND)],
            send_by: Some(send_by),
        };
        let body = CreateCustomerRequest::from(draft);
        let answer = self.call(Method::POST, &request, Some(&body)).await?;
        let created: CustomerResponse = parse(&answer)?;
        Ok(created.id)
    }

    /// Writes the note of a customer that has none (see [`NoteBody`]).
    pub async fn add_note(
        &self,
        customer_id: &str,
        note: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id, "metadata"],
            query: &[],
            send_by: Some(send_by),
        };
        self.call(Method::POST, &request, Some(&NoteBody { note }))
            .await
            .map(drop)
    }

    pub async fn add_phone(
        &self,
        customer_id: &str,
        phone: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id, "phone_numbers"],
            query: &[],
            send_by: Some(send_by),
        };
        let body = PhoneNumberBody {
            phone_number: phone,
        };
        self.call(Method::POST, &request, Some(&body))
            .await
            .map(drop)
    }

    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        let request = Request {
            path: &["customers", customer_id],
            query: &[],
            send_by: Some(send_by),
        };
        let body = UpdateNamesRequest {
            first_name,
            last_name,
        };
        self.call(Method::POST, &request, Some(&body))
            .await
            .map(drop)
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

    /// Sends one request within the pacing limits and returns the body of a 2xx answer.
    /// A `429` is waited out (it means Clover did nothing, so repeating is safe); a `401`
    /// is offered to the credential, which may renew itself once.
    async fn call<B: Serialize>(
        &self,
        method: Method,
        request: &Request<'_>,
        body: Option<&B>,
    ) -> Result<Vec<u8>, CloverError> {
        let mut renewed = false;
        let mut rate_limited = 0;
        loop {
            // The credential first: a refresh (perhaps waiting on another instance's) must
            // not hold a turn, or the requests queued behind it would leave in a burst.
            // Asked again after the turn, which may have been long (a 429's wait), for
            // the token current now.
            self.credential.access().await?;
            let permit = self.pacer.turn().await;
            let access = self.credential.access().await?;
            if request
                .send_by
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return Err(CloverError::unavailable(
                    "the delivery's claim was running out before the request could be sent",
                ));
            }
            let url = self.url(&access.merchant_id, request);
            let mut outgoing = self
                .http
                .request(method.clone(), url)
                .bearer_auth(access.token.expose_secret())
                .header(header::ACCEPT, "application/json");
            if let Some(body) = body {
                outgoing = outgoing.json(body);
            }
            let response = outgoing
                .send()
                .await
                .map_err(|e| self.transport_error(&e))?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let bytes = response.bytes().await.map_err(|e| self.transport_error(&e));
            drop(permit);

            match status {
                // Not yet proof that the credential works: a token that may read but not
                // write gets 2xx on the search and 401 on the create. The worker reports
                // a whole delivery's success instead.
                s if s.is_success() => {
                    if method != Method::GET {
                        self.granted(MissingPermission::WriteCustomers);
                    }
                    return bytes.map(|b| b.to_vec());
                }
                StatusCode::UNAUTHORIZED if method != Method::GET => {
                    // Clover answers a missing permission with 401, as it does a bad token.
                    // A token that still reads customers is good, and renewing it cannot
                    // grant what the merchant did not.
                    match self.probe_read(&access).await {
                        Probe::Reads => {
                            return Err(self.parked_on(MissingPermission::WriteCustomers));
                        }
                        Probe::Unknown(error) => return Err(error),
                        Probe::Refused => {}
                    }
                    let action = self.credential.unauthorized(&access.token, renewed).await;
                    if action == UnauthorizedAction::RetryOnce && !renewed {
                        renewed = true;
                        continue;
                    }
                    return Err(CloverError::Unauthorized);
                }
                StatusCode::FORBIDDEN => {
                    let missing = if method == Method::GET {
                        MissingPermission::ReadEmailAddresses
                    } else {
                        MissingPermission::WriteCustomers
                    };
                    return Err(self.parked_on(missing));
                }
                StatusCode::UNAUTHORIZED => {
                    let action = self.credential.unauthorized(&access.token, renewed).await;
                    if action == UnauthorizedAction::RetryOnce && !renewed {
                        renewed = true;
                        continue;
                    }
                    return Err(CloverError::Unauthorized);
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    // Clover lengthens the penalty for requests sent before retry-after ends.
                    let wait =
                        retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT * 2u32.pow(rate_limited));
                    self.pacer.hold_off(wait);
                    rate_limited += 1;
                    tracing::warn!(wait_ms = wait.as_millis() as u64, "Clover rate limit (429)");
                    if rate_limited >= MAX_RATE_LIMITED_WAITS {
                        return Err(CloverError::Unavailable {
                            reason: "Clover kept answering 429 Too Many Requests".to_owned(),
                            retry_after: Some(wait),
                        });
                    }
                }
                s if s.is_server_error() => {
                    return Err(CloverError::Unavailable {
                        reason: format!("Clover answered {s}"),
                        retry_after,
                    });
                }
                s => {
                    let message = bytes.map(|b| ErrorBody::describe(&b)).unwrap_or_default();
                    return Err(CloverError::Rejected {
                        status: s.as_u16(),
                        message,
                    });
                }
            }
        }
    }

    /// Whether `access` can still search customers: tells a write refused for want of a
    /// permission from a token refused altogether.
    async fn probe_read(&self, access: &Access) -> Probe {
        let probe = Request {
            path: &["customers"],
            query: &[("limit", "1")],
            send_by: None,
        };
        match self.send_checked(access, &probe).await {
            Ok(response) if response.status().is_success() => Probe::Reads,
            Ok(response) if response.status() == StatusCode::UNAUTHORIZED => Probe::Refused,
            Ok(response) => Probe::Unknown(CloverError::Unavailable {
                reason: format!(
                    "Clover answered {} when asked whether the token still reads customers",
                    response.status()
                ),
                retry_after: retry_after(response.headers()),
            }),
            Err(error) => Probe::Unknown(error),
        }
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

/// What asking Clover for one customer told about a token refused a write.
enum Probe {
    /// It reads: the write was refused for want of a permission.
    Reads,
    /// Refused too: the token itself is not accepted.
    Refused,
    /// No answer to go by (rate limited, unavailable): try the whole delivery later.
    Unknown(CloverError),
}

/// A refused check: what Clover said, without the request.
fn refusal(status: StatusCode, body: &[u8]) -> CloverError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return CloverError::unavailable(format!("Clover answered {status}"));
    }
    CloverError::Rejected {
        status: status.as_u16(),
        message: ErrorBody::describe(body),
    }
}

/// `retry-after` in whole seconds, as Clover sends it.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds = value.parse::<u64>().ok().or_else(|| {
        // Tolerate fractional seconds; round up so we never come back early.
        let seconds: f64 = value.parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| seconds.ceil().min(1e12) as u64)
    })?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CloverError> {
    serde_json::from_slice(body).map_err(|e| CloverError::UnexpectedResponse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_rounded_up() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(header::RETRY_AFTER, "1.2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, "1e300".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
    }
}
