//! Per-visitor limits: on submissions, on governor's keyed limiter, and on requests in
//! flight at once. One of each serves every actix worker (they are built once, outside
//! the per-worker app factory). A timer prunes the addresses the submission limiter no
//! longer needs, and the in-flight count forgets an address as its last request ends, so
//! memory stays flat under a flood of new addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::configuration::RateLimitSettings;

/// How often addresses whose allowance has fully refilled are forgotten.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Full answers a refused visitor gets a minute: a person who hit the limit sees the form
/// again with their input; anything that keeps sending after that is a flood.
const FULL_REFUSALS_PER_MINUTE: u32 = 3;

/// How long a flood's refusal is held back. Waiting costs no CPU, and a flooder that
/// waits for its answers sends far fewer requests: 16 connections make 16 a second
/// instead of thousands, and everyone else is served as if there were no flood.
pub const FLOOD_DELAY: Duration = Duration::from_secs(1);

/// A visitor went over the limit; they may try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRequests {
    pub retry_after_secs: u64,
    /// Refused several times in the last minute already: a flood, to be answered as
    /// cheaply as possible so that it takes little from everyone else.
    pub flooding: bool,
}

pub struct SubmissionLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Counts refusals, to tell a person who was refused once from a flood.
    refusals: DefaultKeyedRateLimiter<IpAddr>,
    /// Until when each refused address stays refused, readable without spending anything
    /// (see [`SubmissionLimiter::refusing`]).
    refused_until: Mutex<HashMap<IpAddr, Instant>>,
    client_ip_header: Option<HeaderName>,
}

impl SubmissionLimiter {
    pub fn new(settings: &RateLimitSettings, client_ip_header: Option<HeaderName>) -> Self {
        let quota = Quota::per_minute(settings.per_minute).allow_burst(settings.burst);
        let refusals = Quota::per_minute(
            std::num::NonZeroU32::new(FULL_REFUSALS_PER_MINUTE).expect("a constant above 0"),
        );
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            refusals: DefaultKeyedRateLimiter::keyed(refusals),
            refused_until: Mutex::new(HashMap::new()),
            client_ip_header,
        }
    }

    /// Whether the request's visitor is being refused right now, without counting this
    /// request. For the admin token: an address refused for wrong guesses must not learn
    /// from a right one that it is right.
    pub fn refusing(&self, request: &HttpRequest) -> Option<TooManyRequests> {
        let key = limit_key(self.client_ip(request));
        let until = *self
            .refused_until
            .lock()
            .expect("refusals lock")
            .get(&key)?;
        let wait = until.checked_duration_since(Instant::now())?;
        Some(TooManyRequests {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            flooding: false,
        })
    }

    /// Counts one submission from the request's visitor.
    pub fn check(&self, request: &HttpRequest) -> Result<(), TooManyRequests> {
        let key = limit_key(self.client_ip(request));
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.refused_until
                .lock()
                .expect("refusals lock")
                .insert(key, Instant::now() + wait);
            TooManyRequests {
                // Round up: coming back a fraction early would be refused again.
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                flooding: self.refusals.check_key(&key).is_err(),
            }
        })
    }

    /// The visitor's address: from the trusted proxy's header when one is configured (on
    /// Fly.io, `Fly-Client-IP`, which the visitor cannot forge), else the TCP peer. The
    /// leftmost `X-Forwarded-For` is never used: any client can write it.
    pub fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        let from_header = self.client_ip_header.as_ref().and_then(|name| {
            request
                .headers()
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse()
                .ok()
        });
        from_header.or_else(|| request.peer_addr().map(|peer| peer.ip()))
    }

    /// Forgets visitors whose allowance is full again.
    pub fn prune(&self) {
        let now = Instant::now();
        self.refused_until
            .lock()
            .expect("refusals lock")
            .retain(|_, until| *until > now);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.refusals.retain_recent();
        self.refusals.shrink_to_fit();
    }

    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

/// Requests in flight at once per visitor address (`MAX_CONNECTIONS_PER_ADDRESS`).
/// `MAX_CONNECTIONS` bounds the whole process, and without this one address's slow
/// requests could take every connection and lock everyone else out. Addresses are told
/// apart as the submission limiter tells them (the trusted proxy's header when one is
/// configured, IPv6 by /64): behind a proxy every peer is the proxy itself.
pub struct InFlightLimit {
    per_address: usize,
    addresses: Arc<SubmissionLimiter>,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

impl InFlightLimit {
    pub fn new(per_address: usize, addresses: Arc<SubmissionLimiter>) -> Self {
        Self {
            per_address: per_address.max(1),
            addresses,
            in_flight: Mutex::default(),
        }
    }

    /// A place for one more request from `key`, held until the slot is dropped; `None`
    /// when the address has every place it may have.
    fn enter(self: &Arc<Self>, key: IpAddr) -> Option<InFlightSlot> {
        let mut in_flight = self.counts();
        let count = in_flight.entry(key).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(InFlightSlot {
            limit: Arc::clone(self),
            key,
        })
    }

    /// Addresses with a request in flight.
    pub fn tracked_addresses(&self) -> usize {
        self.counts().len()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Plain counters, changed in one step each: a panic cannot leave them torn.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One request's place in [`InFlightLimit`], given back when dropped (also when the
/// request is dropped half-way, its client gone).
struct InFlightSlot {
    limit: Arc<InFlightLimit>,
    key: IpAddr,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut in_flight = self.limit.counts();
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// Middleware: a request from an address that has [`InFlightLimit`]'s number in flight
/// already is answered at once, `429` with `Retry-After: 1`, and its connection closed,
/// which frees the connection without reading a byte of its body.
pub async fn limit_in_flight(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(limit) = request
        .app_data::<web::Data<InFlightLimit>>()
        .map(|data| data.clone().into_inner())
    else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let key = limit_key(limit.addresses.client_ip(request.request()));
    let Some(slot) = limit.enter(key) else {
        tracing::info!("a request was refused: its address has too many in flight");
        let refusal = HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, 1))
            .content_type("text/plain; charset=utf-8")
            .force_close()
            .body("Too many requests at once from this address; try again in a second.");
        return Ok(request.into_response(refusal).map_into_right_body());
    };
    let response = next.call(request).await;
    drop(slot);
    Ok(response?.map_into_left_body())
}

/// IPv6 visitors are limited per /64: one household or phone usually holds a whole /64 and
/// could otherwise rotate through it to escape the limit.
fn limit_key(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    use actix_web::test::TestRequest;

    fn limiter(header: Option<&'static str>) -> SubmissionLimiter {
        let settings = RateLimitSettings {
            per_minute: NonZeroU32::new(6).unwrap(),
            burst: NonZeroU32::new(2).unwrap(),
        };
        SubmissionLimiter::new(&settings, header.map(HeaderName::from_static))
    }

    #[test]
    fn the_burst_passes_and_the_next_is_told_when_to_return() {
        let limiter = limiter(None);
        let request = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .to_http_request();
        assert!(limiter.check(&request).is_ok());
        assert!(limiter.check(&request).is_ok());
        let refused = limiter.check(&request).unwrap_err();
        assert!((1..=10).contains(&refused.retry_after_secs));
        assert!(!refused.flooding, "a first refusal is a person's");
    }

    #[test]
    fn a_visitor_who_keeps_sending_after_refusals_is_a_flood() {
        let limiter = limiter(None);
        let request = TestRequest::default()
            .peer_addr("203.0.113.10:5000".parse().unwrap())
            .to_http_request();
        let answers: Vec<_> = (0..2 + FULL_REFUSALS_PER_MINUTE + 1)
            .map(|_| {
                limiter
                    .check(&request)
                    .err()
                    .map(|refused| refused.flooding)
            })
            .collect();
        assert_eq!(
            answers,
            [
                None,
                None,
                Some(false),
                Some(false),
                Some(false),
                Some(true)
            ]
        );
    }

    #[test]
    fn the_configured_header_names_the_visitor() {
        let limiter = limiter(Some("fly-client-ip"));
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("Fly-Client-IP", "198.51.100.7"))
            .insert_header(("X-Forwarded-For", "192.0.2.1"))
            .to_http_request();
        assert_eq!(
            limiter.client_ip(&request),
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn each_address_has_its_places_in_flight_and_gets_them_back() {
        let limit = Arc::new(InFlightLimit::new(2, Arc::new(limiter(None))));
        let visitor: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();

        let first = limit.enter(visitor).expect("a first place");
        let second = limit.enter(visitor).expect("a second place");
        assert!(limit.enter(visitor).is_none(), "a third is refused");
        let elsewhere = limit.enter(other).expect("another address has its own");
        drop(first);
        let again = limit.enter(visitor).expect("a place given back is free");

        drop((second, again, elsewhere));
        assert_eq!(limit.tracked_addresses(), 0, "idle addresses are forgotten");
    }

    #[test]
    fn ipv6_addresses_in_one_64_share_a_key() {
        let a = limit_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = limit_key(Some("2001:db8:1:2:bbbb::2".parse().unwrap()));
        let c = limit_key(Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn pruning_forgets_visitors_once_their_allowance_has_refilled() {
        let settings = RateLimitSettings {
            per_minute: NonZeroU32::new(60_000).unwrap(), // one cell a millisecond
            burst: NonZeroU32::new(2).unwrap(),
        };
        let limiter = SubmissionLimiter::new(&settings, None);
        for last in 1..=50u8 {
            let request = TestRequest::default()
                .peer_addr(format!("203.0.113.{last}:5000").parse().unwrap())
                .to_http_request();
            limiter.check(&request).unwrap();
        }
        assert_eq!(limiter.tracked_keys(), 50);
        std::thread::sleep(std::time::Duration::from_millis(20));
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn pruning_keeps_visitors_whose_allowance_is_not_full() {
        let limiter = limiter(None);
        let request = TestRequest::default()
            .peer_addr("203.0.113.10:5000".parse().unwrap())
            .to_http_request();
        limiter.check(&request).unwrap();
        assert_eq!(limiter.tracked_keys(), 1);
        limiter.prune();
        // One of two burst cells used: not yet refilled, so still tracked.
        assert_eq!(limiter.tracked_keys(), 1);
    }
}
