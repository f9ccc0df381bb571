//! Who may scrape `/metrics`: whoever sends `METRICS_TOKEN` as a bearer token. Without the
//! variable there is no `/metrics` at all. The figures say how busy the shop is and how
//! its Clover connection fares, which is nobody else's business.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::rate_limit::SubmissionLimiter;

/// Why a scrape is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRefusal {
    /// `METRICS_TOKEN` is not set: answered as any unknown path is.
    Disabled,
    /// No bearer token, or the wrong one.
    Unauthorized,
    /// Too many wrong tokens from this address: wait this many seconds.
    Limited(u64),
}

pub struct MetricsAccess {
    token: Option<SecretString>,
    /// Wrong tokens count here. The admin's guess limiter, so that guessing at both
    /// tokens gives an address no more tries than guessing at one.
    guesses: Arc<SubmissionLimiter>,
}

impl MetricsAccess {
    pub fn new(token: Option<SecretString>, guesses: Arc<SubmissionLimiter>) -> Self {
        Self { token, guesses }
    }

    pub fn check(&self, request: &HttpRequest) -> Result<(), MetricsRefusal> {
        let Some(token) = &self.token else {
            return Err(MetricsRefusal::Disabled);
        };
        let Some(given) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return Err(MetricsRefusal::Unauthorized);
        };
        // The limiter first: an address refused for wrong guesses is refused a right one
        // too, or it would learn at once which of its guesses was right.
        if let Some(limit) = self.guesses.refusing(request) {
            return Err(MetricsRefusal::Limited(limit.retry_after_secs));
        }
        if equal(given, token.expose_secret()) {
            return Ok(());
        }
        match self.guesses.check(request) {
            Ok(()) => Err(MetricsRefusal::Unauthorized),
            Err(limit) => Err(MetricsRefusal::Limited(limit.retry_after_secs)),
        }
    }
}

/// Compares in constant time, so response timing reveals nothing of the token.
fn equal(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use actix_web::test::TestRequest;

    use super::*;
    use crate::configuration::RateLimitSettings;

    const TOKEN: &str = "metrics-token-0123456789abcdef-0123";

    fn access(token: Option<&str>) -> MetricsAccess {
        let limits = RateLimitSettings {
            per_minute: NonZeroU32::MIN,
            burst: NonZeroU32::new(2).unwrap(),
        };
        MetricsAccess::new(
            token.map(SecretString::from),
            Arc::new(SubmissionLimiter::new(&limits, None)),
        )
    }

    fn bearer(token: &str) -> HttpRequest {
        TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .to_http_request()
    }

    #[test]
    fn without_a_token_configured_there_is_nothing_to_scrape() {
        assert_eq!(
            access(None).check(&bearer(TOKEN)),
            Err(MetricsRefusal::Disabled)
        );
    }

    #[test]
    fn only_the_right_bearer_token_is_let_in() {
        let access = access(Some(TOKEN));
        assert_eq!(access.check(&bearer(TOKEN)), Ok(()));
        let anonymous = TestRequest::default()
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .to_http_request();
        assert_eq!(access.check(&anonymous), Err(MetricsRefusal::Unauthorized));
        assert_eq!(
            access.check(&bearer(&TOKEN[1..])),
            Err(MetricsRefusal::Unauthorized)
        );
    }

    #[test]
    fn wrong_guesses_are_limited_and_then_the_right_token_is_refused_too() {
        let access = access(Some(TOKEN));
        let mut refusals = Vec::new();
        for _ in 0..3 {
            refusals.push(access.check(&bearer("a-wrong-guess")));
        }
        assert!(
            matches!(refusals.last(), Some(Err(MetricsRefusal::Limited(_)))),
            "{refusals:?}"
        );
        assert!(matches!(
            access.check(&bearer(TOKEN)),
            Err(MetricsRefusal::Limited(_))
        ));
    }
}
