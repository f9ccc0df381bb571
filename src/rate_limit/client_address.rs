//! Who a request comes from, as the limits tell visitors apart.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;

/// IPv6 visitors are limited per /64: one household or phone usually holds a whole /64 and
/// could otherwise rotate through it to escape the limit.
pub(super) fn limit_key(ip: Option<IpAddr>) -> IpAddr {
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
pub(super) fn header_address(value: &HeaderValue) -> Option<IpAddr> {
    let first = value.to_str().ok()?.split(',').next()?.trim();
    first
        .parse()
        .ok()
        .or_else(|| first.parse::<SocketAddr>().ok().map(|at| at.ip()))
}

/// Lets a warning through at most once every `period`.
pub(super) struct WarnEvery {
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl WarnEvery {
    pub(super) const fn new(period: Duration) -> Self {
        Self {
            period,
            last: Mutex::new(None),
        }
    }

    /// Whether to warn at `now`; if so, the next is due a period later.
    pub(super) fn due(&self, now: Instant) -> bool {
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
pub(super) static HEADER_WARNINGS: WarnEvery = WarnEvery::new(Duration::from_secs(60));

#[cfg(test)]
mod tests {
    use super::*;

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
}
