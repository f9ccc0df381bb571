//! Per-visitor limits: on submissions, on governor's keyed limiter, and on what one
//! address may hold at once: connections without a proxy, requests in flight behind one.
//! One of each serves every actix worker (they are built once, outside the per-worker
//! app factory). A timer prunes the addresses the submission limiter no longer needs, and
//! the counts of connections and requests forget an address as its last one ends, so
//! memory stays flat under a flood of new addresses.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
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

/// Places per address, each held until it is dropped: connections open, or requests in
/// flight. An address is forgotten as its last place is given back, so memory stays flat
/// under a flood of new addresses.
pub struct PlacesPerAddress {
    per_address: usize,
    taken: Mutex<HashMap<IpAddr, usize>>,
}

impl PlacesPerAddress {
    pub fn new(per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address: per_address.max(1),
            taken: Mutex::default(),
        })
    }

    /// A place for `key`, held until dropped; `None` when the address has every place it
    /// may have.
    fn take(self: &Arc<Self>, key: IpAddr) -> Option<Place> {
        let mut taken = self.counts();
        let count = taken.entry(key).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Place {
            places: Arc::clone(self),
            key,
        })
    }

    /// Addresses holding a place.
    pub fn tracked_addresses(&self) -> usize {
        self.counts().len()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Plain counters, changed in one step each: a panic cannot leave them torn.
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One place in [`PlacesPerAddress`], given back when dropped (also when its request or
/// connection is dropped half-way, its client gone).
struct Place {
    places: Arc<PlacesPerAddress>,
    key: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut taken = self.places.counts();
        if let Some(count) = taken.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.key);
            }
        }
    }
}

/// Behind a proxy (`CLIENT_IP_HEADER` set): requests in flight at once per visitor
/// address (`MAX_CONNECTIONS_PER_ADDRESS`). Every connection comes from the proxy, so
/// connections cannot be told apart by visitor, and the proxy bounds them itself; the
/// visitor's requests can be, as the submission limiter tells them apart (by the header,
/// IPv6 by /64). Without this, one visitor's slow requests could take every one of
/// `MAX_CONNECTIONS` the proxy opens and lock everyone else out.
pub struct InFlightLimit {
    places: Arc<PlacesPerAddress>,
    addresses: Arc<SubmissionLimiter>,
}

impl InFlightLimit {
    pub fn new(per_address: usize, addresses: Arc<SubmissionLimiter>) -> Self {
        Self {
            places: PlacesPerAddress::new(per_address),
            addresses,
        }
    }

    /// Addresses with a request in flight.
    pub fn tracked_addresses(&self) -> usize {
        self.places.tracked_addresses()
    }
}

/// How long a connection over [`ConnectionLimit`]'s cap has to send its request (and be
/// told `429`) before it is closed. A request head otherwise has 5 s, and connections
/// that send nothing, opened again as they are closed, could hold every one of
/// `MAX_CONNECTIONS` for the price of a few hundred connects a second.
pub const OVER_THE_CAP_GRACE: Duration = Duration::from_secs(1);

/// Without a proxy (`CLIENT_IP_HEADER` unset): connections open at once per TCP peer
/// address (`MAX_CONNECTIONS_PER_ADDRESS`, IPv6 by /64), counted from the moment actix
/// accepts them (see [`ConnectionLimit::on_connect`]) until they close. Requests alone
/// would not do: idle keep-alive connections, or connections that send nothing, hold one
/// of `MAX_CONNECTIONS` each without a request in flight. HTTP/1.1 has one request in
/// flight per connection, so this bounds requests in flight per address too.
pub struct ConnectionLimit {
    places: Arc<PlacesPerAddress>,
}

/// In a connection's extensions: its place, given back when actix drops the extensions
/// with the connection.
struct ConnectionPlace {
    _place: Place,
}

/// In a connection's extensions: its address had every connection it may have when this
/// one was accepted. Its first request is refused. Until then it holds `shutter`, a
/// second handle on the socket, which a timer uses to close a connection that sends no
/// request; the timer holds it weakly, so the handle goes (and the timer does nothing)
/// as soon as a request comes or the connection closes.
struct OverTheCap {
    shutter: Cell<Option<Rc<std::net::TcpStream>>>,
}

impl ConnectionLimit {
    pub fn new(per_address: usize) -> Self {
        Self {
            places: PlacesPerAddress::new(per_address),
        }
    }

    /// For `HttpServer::on_connect`, once per connection accepted, before anything has
    /// been read from it: counts it against its peer's address, or marks it as over the
    /// cap, to be refused at its first request and closed after [`OVER_THE_CAP_GRACE`]
    /// if it sends none.
    pub fn on_connect(&self, connection: &dyn Any, extensions: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        match self.places.take(limit_key(Some(peer.ip()))) {
            Some(place) => {
                extensions.insert(ConnectionPlace { _place: place });
            }
            None => {
                extensions.insert(OverTheCap {
                    shutter: Cell::new(close_if_silent(stream)),
                });
            }
        }
    }

    /// Addresses with a connection open.
    pub fn tracked_addresses(&self) -> usize {
        self.places.tracked_addresses()
    }
}

/// Shuts the connection down after [`OVER_THE_CAP_GRACE`] if the handle returned (a
/// second one on the same socket) is still held then; actix then reads the end of the
/// stream and lets the connection go. On the worker's thread, where actix calls
/// `on_connect`.
#[cfg(unix)]
fn close_if_silent(stream: &actix_web::rt::net::TcpStream) -> Option<Rc<std::net::TcpStream>> {
    use std::os::fd::AsFd;
    let shutter = Rc::new(std::net::TcpStream::from(
        stream.as_fd().try_clone_to_owned().ok()?,
    ));
    let held = Rc::downgrade(&shutter);
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(OVER_THE_CAP_GRACE).await;
        if let Some(shutter) = held.upgrade() {
            let _ = shutter.shutdown(std::net::Shutdown::Both);
        }
    });
    Some(shutter)
}

/// Elsewhere such a connection has the 5 s of any request head.
#[cfg(not(unix))]
fn close_if_silent(_: &actix_web::rt::net::TcpStream) -> Option<Rc<std::net::TcpStream>> {
    None
}

/// Middleware: a request on a connection over [`ConnectionLimit`]'s cap, or from an
/// address that has [`InFlightLimit`]'s number in flight already, is answered at once,
/// `429` with `Retry-After: 1`, and its connection closed, which frees the connection
/// without reading a byte of its body.
pub async fn limit_per_address(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if let Some(over) = request.conn_data::<OverTheCap>() {
        // It sent a request: it is answered and closed now, not by the timer.
        drop(over.shutter.take());
        tracing::info!("a request was refused: its address has too many connections open");
        return Ok(request
            .into_response(too_many("Too many connections from this address"))
            .map_into_right_body());
    }
    let Some(limit) = request
        .app_data::<web::Data<InFlightLimit>>()
        .map(|data| data.clone().into_inner())
    else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    // Not `client_ip`: a request without the header (a health check sent straight to the
    // machine) is not worth a warning here; the limits on submissions warn.
    let key = limit_key(limit.addresses.address(request.request(), false));
    let Some(place) = limit.places.take(key) else {
        tracing::info!("a request was refused: its address has too many in flight");
        return Ok(request
            .into_response(too_many("Too many requests at once from this address"))
            .map_into_right_body());
    };
    let response = next.call(request).await;
    drop(place);
    Ok(response?.map_into_left_body())
}

/// `429`, try again in a second, and the connection closed.
fn too_many(what: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, 1))
        .content_type("text/plain; charset=utf-8")
        .force_close()
        .body(format!("{what}; try again in a second."))
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

/// The address in the configured header's value. A list, as in `X-Forwarded-For`, names
/// the client first, as the proxy saw it: that is the visitor only because the header is
/// the configured one, which must be a header the proxy overwrites with its own value
/// (`Fly-Client-IP` is). A proxy that appends to what the client sent would let any client
/// choose its leftmost entry, and with it the address it is limited by.
fn header_address(value: &HeaderValue) -> Option<IpAddr> {
    let first = value.to_str().ok()?.split(',').next()?.trim();
    first
        .parse()
        .ok()
        .or_else(|| first.parse::<SocketAddr>().ok().map(|at| at.ip()))
}

/// Lets a warning through at most once every `period`.
struct WarnEvery {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl WarnEvery {
    const fn new(period: Duration) -> Self {
        Self {
            period,
            last: Mutex::new(None),
        }
    }

    /// Whether to warn at `now`; if so, the next is due a period later.
    fn due(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if now.saturating_duration_since(at) < self.period => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

/// One for the process: the submission and sign-in limiters read the same header.
static HEADER_WARNINGS: WarnEvery = WarnEvery::new(Duration::from_secs(60));

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
    fn each_address_has_its_places_and_gets_them_back() {
        let places = PlacesPerAddress::new(2);
        let visitor: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();

        let first = places.take(visitor).expect("a first place");
        let second = places.take(visitor).expect("a second place");
        assert!(places.take(visitor).is_none(), "a third is refused");
        let elsewhere = places.take(other).expect("another address has its own");
        drop(first);
        let again = places.take(visitor).expect("a place given back is free");

        drop((second, again, elsewhere));
        assert_eq!(
            places.tracked_addresses(),
            0,
            "idle addresses are forgotten"
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
    fn a_warning_is_due_at_most_once_a_period() {
        let warnings = WarnEvery::new(Duration::from_secs(60));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let due: Vec<bool> = [0, 1, 59, 60, 61, 119, 125]
            .into_iter()
            .map(|secs| warnings.due(at(secs)))
            .collect();
        assert_eq!(due, [true, false, false, true, false, false, true]);
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
