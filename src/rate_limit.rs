//! Per-visitor limits on submissions, on governor's keyed limiter. One limiter serves every
//! actix worker (it is built once, outside the per-worker app factory), and a timer prunes
//! the addresses it no longer needs so memory stays flat under a flood of new addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
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
