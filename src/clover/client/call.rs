//! One call to Clover: sent within the pacing limits, its answer read. A `429` is waited
//! out (it means Clover did nothing, so repeating is safe); a `401` is offered to the
//! credential, which may renew itself once.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::time::Instant;

use super::permissions::Probe;
use super::{CloverClient, Request};
use crate::clover::wire::ErrorBody;
use crate::clover::{Access, CloverError, MissingPermission, UnauthorizedAction};

/// How many `429`s in a row one call waits out before giving the work back to the queue.
const MAX_RATE_LIMITED_WAITS: u32 = 5;
/// Without a `retry-after`, the first wait after a `429` (Clover's own advice: 1 s, 2 s, 4 s…).
pub(super) const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// The longest `retry-after` taken at its word; a larger (or absurd) value is read as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What one exchange came back with, read in full, its pacing turn given back.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Result<Vec<u8>, CloverError>,
}

/// What a call has been through so far.
#[derive(Default)]
struct Tries {
    /// The credential has renewed itself once already.
    renewed: bool,
    /// `429`s in a row.
    rate_limited: u32,
}

impl CloverClient {
    /// Sends one request within the pacing limits and returns the body of a 2xx answer,
    /// sending it again after a `429` or a renewed credential.
    pub(super) async fn call<B: Serialize>(
        &self,
        method: Method,
        request: &Request<'_>,
        body: Option<&B>,
    ) -> Result<Vec<u8>, CloverError> {
        let mut tries = Tries::default();
        loop {
            let (access, answer) = self.exchange(&method, request, body).await?;
            match answer.status {
                // Not yet proof that the credential works: a token that may read but not
                // write gets 2xx on the search and 401 on the create. The worker reports
                // a whole delivery's success instead.
                s if s.is_success() => {
                    if method != Method::GET {
                        self.granted(MissingPermission::WriteCustomers);
                    }
                    return answer.body;
                }
                StatusCode::UNAUTHORIZED => {
                    if method != Method::GET {
                        self.refused_write(&access).await?;
                    }
                    if !self.renewed_once(&access, &mut tries).await? {
                        return Err(CloverError::Unauthorized);
                    }
                }
                StatusCode::FORBIDDEN => {
                    let missing = if method == Method::GET {
                        MissingPermission::ReadEmailAddresses
                    } else {
                        MissingPermission::WriteCustomers
                    };
                    return Err(self.parked_on(missing));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    self.wait_out_rate_limit(answer.retry_after, &mut tries)?;
                }
                s if s.is_server_error() => {
                    return Err(CloverError::Unavailable {
                        reason: format!("Clover answered {s}"),
                        retry_after: answer.retry_after,
                    });
                }
                s => {
                    let message = answer
                        .body
                        .map(|b| ErrorBody::describe(&b))
                        .unwrap_or_default();
                    return Err(CloverError::Rejected {
                        status: s.as_u16(),
                        message,
                    });
                }
            }
        }
    }

    /// Sends the request once, in a pacing turn held until its answer is read, with the
    /// token current then. Returns the access it was sent with and what came back.
    async fn exchange<B: Serialize>(
        &self,
        method: &Method,
        request: &Request<'_>,
        body: Option<&B>,
    ) -> Result<(Access, Answer), CloverError> {
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
        // Timed from here, not from the turn: the wait for a turn is ours, not Clover's.
        let sent = Instant::now();
        let response = match outgoing.send().await {
            Ok(response) => response,
            Err(error) => {
                self.metrics.answered(None, sent.elapsed());
                return Err(self.transport_error(&error));
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| self.transport_error(&e));
        self.metrics.answered(Some(status.as_u16()), sent.elapsed());
        drop(permit);
        Ok((
            access,
            Answer {
                status,
                retry_after,
                body,
            },
        ))
    }

    /// A write answered `401`. Clover answers a missing permission with 401, as it does a
    /// bad token. A token that still reads customers is good, and renewing it cannot grant
    /// what the merchant did not: delivery is parked. `Ok` when the token is refused
    /// altogether.
    async fn refused_write(&self, access: &Access) -> Result<(), CloverError> {
        match self.probe_read(access).await {
            Probe::Reads => Err(self.parked_on(MissingPermission::WriteCustomers)),
            Probe::Unknown(error) => Err(error),
            Probe::Refused => Ok(()),
        }
    }

    /// Offers a refused token to the credential: whether it renewed itself, which it may
    /// do once a call. An error when it could not be renewed for now: the request is
    /// then retried later like one that met an outage, with its backoff.
    async fn renewed_once(&self, access: &Access, tries: &mut Tries) -> Result<bool, CloverError> {
        let action = self
            .credential
            .unauthorized(&access.token, tries.renewed)
            .await;
        match action {
            UnauthorizedAction::RetryOnce if !tries.renewed => {
                tries.renewed = true;
                Ok(true)
            }
            UnauthorizedAction::TryLater => Err(CloverError::unavailable(
                "Clover refused the access token, and it could not be renewed for now",
            )),
            UnauthorizedAction::RetryOnce | UnauthorizedAction::GiveUp => Ok(false),
        }
    }

    /// Holds every request of the token back for the wait a `429` asks for; gives the
    /// work back to the queue after too many in a row.
    fn wait_out_rate_limit(
        &self,
        retry_after: Option<Duration>,
        tries: &mut Tries,
    ) -> Result<(), CloverError> {
        // Clover lengthens the penalty for requests sent before retry-after ends.
        let wait = retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT * 2u32.pow(tries.rate_limited));
        self.pacer.hold_off(wait);
        tries.rate_limited += 1;
        tracing::warn!(wait_ms = wait.as_millis() as u64, "Clover rate limit (429)");
        if tries.rate_limited >= MAX_RATE_LIMITED_WAITS {
            return Err(CloverError::Unavailable {
                reason: "Clover kept answering 429 Too Many Requests".to_owned(),
                retry_after: Some(wait),
            });
        }
        Ok(())
    }
}

/// `retry-after` in whole seconds, as Clover sends it.
pub(super) fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds = value.parse::<u64>().ok().or_else(|| {
        // Tolerate fractional seconds; round up so we never come back early.
        let seconds: f64 = value.parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| seconds.ceil().min(1e12) as u64)
    })?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
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
