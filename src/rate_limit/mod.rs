//! Per-visitor limits: on submissions, on governor's keyed limiter, and on what one
//! address may hold at once: connections without a proxy, requests in flight behind one.
//! One of each serves every actix worker (they are built once, outside the per-worker
//! app factory). A timer prunes the addresses the submission limiter no longer needs, and
//! the counts of connections and requests forget an address as its last one ends, so
//! memory stays flat under a flood of new addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::configuration::RateLimitSettings;

mod client_address;
mod per_address;
mod per_device;

use client_address::{HEADER_WARNINGS, WarnEvery, header_address, limit_key};
pub use per_address::{
    ConnectionLimit, InFlightLimit, OVER_THE_CAP_GRACE, PlacesPerAddress, limit_per_address,
};
pub use per_device::DeviceLimiter;

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
    /// When a missing `client_ip_header` was last logged.
    header_warnings: &'static WarnEvery,
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
            header_warnings: &HEADER_WARNINGS,
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
        self.check_address(self.client_ip(request))
    }

    /// Counts one submission from a visitor at `ip` (from [`SubmissionLimiter::client_ip`]).
    pub fn check_address(&self, ip: Option<IpAddr>) -> Result<(), TooManyRequests> {
        let key = limit_key(ip);
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
    /// Fly.io, `Fly-Client-IP`), else the TCP peer. A header that is missing or holds no
    /// address leaves the peer, which behind a proxy is the proxy: every such visitor then
    /// shares one allowance, so it is logged (at most once a minute).
    pub fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        self.address(request, true)
    }

    /// [`SubmissionLimiter::client_ip`], warning about a missing header or not.
    fn address(&self, request: &HttpRequest, warn: bool) -> Option<IpAddr> {
        let peer = || request.peer_addr().map(|peer| peer.ip());
        let Some(name) = &self.client_ip_header else {
            return peer();
        };
        let value = request.headers().get(name);
        if let Some(ip) = value.and_then(header_address) {
            return Some(ip);
        }
        // The header's name is the operator's; nothing of the visitor's is logged.
        if warn && self.header_warnings.due(Instant::now()) {
            if value.is_none() {
                tracing::warn!(
                    header = %name,
                    "a request came without the configured CLIENT_IP_HEADER: it is limited \
                     by the TCP peer's address, which behind a proxy every such request shares; \
                     check that the proxy sets this header (logged at most once a minute)"
                );
            } else {
                tracing::warn!(
                    header = %name,
                    "a request's CLIENT_IP_HEADER holds no IP address: it is limited by the \
                     TCP peer's address, which behind a proxy every such request shares \
                     (logged at most once a minute)"
                );
            }
        }
        peer()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use std::sync::Arc;

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
    fn a_list_in_the_configured_header_names_its_first_address() {
        let limiter = limiter(Some("x-forwarded-for"));
        for (value, visitor) in [
            ("198.51.100.7, 10.0.0.2, 10.0.0.3", "198.51.100.7"),
            (" 2001:db8::7 ,10.0.0.2", "2001:db8::7"),
            ("198.51.100.8", "198.51.100.8"),
            ("198.51.100.9:4711, 10.0.0.2", "198.51.100.9"),
            ("[2001:db8::9]:4711", "2001:db8::9"),
        ] {
            let request = TestRequest::default()
                .peer_addr("10.0.0.1:5000".parse().unwrap())
                .insert_header(("X-Forwarded-For", value))
                .to_http_request();
            assert_eq!(
                limiter.client_ip(&request),
                Some(visitor.parse().unwrap()),
                "{value}"
            );
        }
    }

    #[test]
    fn a_forwarded_for_list_is_not_read_unless_it_is_the_configured_header() {
        for header in [None, Some("fly-client-ip")] {
            let limiter = limiter(header);
            let request = TestRequest::default()
                .peer_addr("10.0.0.1:5000".parse().unwrap())
                .insert_header(("X-Forwarded-For", "192.0.2.1, 10.0.0.2"))
                .to_http_request();
            assert_eq!(
                limiter.client_ip(&request),
                Some("10.0.0.1".parse().unwrap()),
                "{header:?}"
            );
        }
    }

    /// The log lines written while `f` runs, on this thread.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let lines = lines.clone();
                move || lines.clone()
            })
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_missing_or_unreadable_header_leaves_the_peer_and_is_logged_once_a_minute() {
        let mut limiter = limiter(Some("fly-client-ip"));
        // A clock of its own: the process's is shared with every other test.
        limiter.header_warnings = Box::leak(Box::new(WarnEvery::new(Duration::from_secs(60))));
        let without = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .to_http_request();
        let unreadable = TestRequest::default()
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .insert_header(("Fly-Client-IP", "198.51.100.300"))
            .to_http_request();

        let log = logged(|| {
            assert_eq!(
                limiter.client_ip(&without),
                Some("10.0.0.1".parse().unwrap())
            );
            assert_eq!(
                limiter.client_ip(&unreadable),
                Some("10.0.0.1".parse().unwrap())
            );
            assert!(limiter.check(&without).is_ok());
        });

        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains("WARN"), "{log}");
        assert!(
            log.contains("CLIENT_IP_HEADER") && log.contains("fly-client-ip"),
            "{log}"
        );
        assert!(
            !log.contains("10.0.0.1") && !log.contains("198.51.100"),
            "addresses were logged: {log}"
        );
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
