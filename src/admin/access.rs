//! Who may use the admin pages: `ADMIN_TOKEN` as a bearer token or a signed session
//! cookie, wrong guesses limited per address, sessions ended everywhere by a generation
//! kept in the database, and a CSRF token on every browser-sent action.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::refusal::Refusal;
use crate::rate_limit::SubmissionLimiter;

const SESSION_COOKIE: &str = "admin_session";
/// How long a sign-in lasts, enforced by the server (the cookie's own expiry is advice).
const SESSION_SECONDS: i64 = 12 * 3600;

/// Who may see `/admin`: anyone holding `ADMIN_TOKEN`, sent as a bearer token or exchanged
/// for a session cookie at `/admin/login`. Without a token the admin is switched off,
/// except in demo mode on a loopback address, where it holds only demo data, only this
/// machine can reach it, and a newcomer should see it without setting anything.
pub struct AdminAccess {
    token: Option<SecretString>,
    open: bool,
    session_key: Option<Vec<u8>>,
    secure_cookie: bool,
    /// Keys the CSRF tokens of this process's admin forms.
    csrf_key: [u8; 32],
    /// Wrong tokens, at the login form or as a bearer header, count here.
    guesses: Arc<SubmissionLimiter>,
    /// The generation sessions are signed under, kept in the database so that signing out
    /// ends every session, across restarts and instances (see [`SessionGeneration`]).
    generation: SessionGeneration,
}

/// The admin sessions' generation as this process knows it: read at start, moved on by a
/// sign-out here at once, and taken up from the database every few seconds, so a
/// sign-out on another instance ends sessions here too.
#[derive(Clone, Default)]
pub struct SessionGeneration(Arc<AtomicU64>);

impl SessionGeneration {
    pub fn new(generation: u64) -> Self {
        Self(Arc::new(AtomicU64::new(generation)))
    }

    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Never back: a reload that raced a sign-out must not revive its sessions.
    pub fn advance_to(&self, generation: u64) {
        self.0.fetch_max(generation, Ordering::SeqCst);
    }
}

enum Access {
    Granted(Via),
    /// Not signed in: the HTML page sends the visitor to the login form.
    SignIn,
    /// Too many wrong tokens from this address: wait this many seconds.
    Limited(u64),
    Disabled,
}

/// How an admin request proved itself.
enum Via {
    /// `Authorization: Bearer`: no cookie, so no cross-site forgery to fear.
    Bearer,
    /// The session cookie (its value), which a browser sends by itself.
    Session(String),
    /// Demo mode on loopback.
    Open,
}

impl AdminAccess {
    /// `open_without_token`: demo mode listening on loopback only.
    pub fn new(
        token: Option<SecretString>,
        open_without_token: bool,
        secret_key: Option<&SecretSlice<u8>>,
        secure_cookie: bool,
        guesses: Arc<SubmissionLimiter>,
        generation: SessionGeneration,
    ) -> Self {
        // Sessions are signed with SECRET_KEY and the token together, so that changing
        // either signs everyone out.
        let session_key = token.as_ref().map(|token| {
            let mut key = secret_key
                .map(|key| key.expose_secret().to_vec())
                .unwrap_or_default();
            key.extend_from_slice(token.expose_secret().as_bytes());
            key
        });
        let csrf_key = csrf_key(
            session_key
                .as_deref()
                .or(secret_key.map(|key| key.expose_secret())),
        );
        Self {
            open: open_without_token && token.is_none(),
            token,
            session_key,
            secure_cookie,
            csrf_key,
            guesses,
            generation,
        }
    }

    /// The token the admin page's forms carry: a MAC of the session, so a page on another
    /// site, which cannot read it, cannot forge an admin action.
    pub fn csrf_token(&self, request: &HttpRequest) -> String {
        let bound_to = match self.check(request) {
            Access::Granted(Via::Session(session)) => session,
            _ => "open".to_owned(),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf_key).expect("any key");
        mac.update(bound_to.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// For admin actions (POST): as [`Self::refusal`], and a browser-sent request must
    /// also carry the page's CSRF token.
    pub fn action_refusal(
        &self,
        request: &HttpRequest,
        csrf_token: Option<&str>,
    ) -> Option<Refusal> {
        match self.check(request) {
            Access::Granted(Via::Bearer) => None,
            Access::Granted(_) => {
                let expected = self.csrf_token(request);
                (!csrf_token.is_some_and(|given| equal(given, &expected)))
                    .then_some(Refusal::NoFormToken)
            }
            Access::SignIn => Some(Refusal::SignIn),
            Access::Limited(wait) => Some(Refusal::Limited(wait)),
            Access::Disabled => Some(Refusal::Disabled),
        }
    }

    /// `issued.generation.mac`: the time of sign-in, the sessions' generation then, and a
    /// MAC over both; never the token itself.
    fn session_value(&self, issued: i64, generation: u64) -> Option<String> {
        let key = self.session_key.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(b"clover-signup admin session v3:");
        mac.update(format!("{issued}.{generation}").as_bytes());
        Some(format!(
            "{issued}.{generation}.{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    fn valid_session(&self, value: &str) -> bool {
        let mut parts = value.splitn(3, '.');
        let (Some(issued), Some(generation), Some(_)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(issued), Ok(generation)) = (issued.parse::<i64>(), generation.parse::<u64>())
        else {
            return false;
        };
        if generation != self.generation.current() {
            return false;
        }
        let Some(age) = OffsetDateTime::now_utc()
            .unix_timestamp()
            .checked_sub(issued)
        else {
            return false;
        };
        (0..SESSION_SECONDS).contains(&age)
            && self
                .session_value(issued, generation)
                .is_some_and(|expected| equal(value, &expected))
    }

    /// For the HTML pages and actions: the answer for a visitor who may not proceed (the
    /// login form, or a "disabled" page), or `None` to go on.
    pub fn refusal(&self, request: &HttpRequest) -> Option<Refusal> {
        match self.check(request) {
            Access::Granted(_) => None,
            Access::SignIn => Some(Refusal::SignIn),
            Access::Limited(wait) => Some(Refusal::Limited(wait)),
            Access::Disabled => Some(Refusal::Disabled),
        }
    }

    fn check(&self, request: &HttpRequest) -> Access {
        if self.open {
            return Access::Granted(Via::Open);
        }
        let Some(token) = &self.token else {
            return Access::Disabled;
        };
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(given) = bearer {
            // The limiter first: an address refused for wrong guesses is refused a right
            // one too, or it would learn at once which of its guesses was right.
            if let Some(limit) = self.guesses.refusing(request) {
                return Access::Limited(limit.retry_after_secs);
            }
            if equal(given, token.expose_secret()) {
                return Access::Granted(Via::Bearer);
            }
            // A wrong bearer token is a guess like a wrong login.
            if let Err(limit) = self.guesses.check(request) {
                return Access::Limited(limit.retry_after_secs);
            }
        }
        if let Some(cookie) = request.cookie(SESSION_COOKIE)
            && self.valid_session(cookie.value())
        {
            return Access::Granted(Via::Session(cookie.value().to_owned()));
        }
        Access::SignIn
    }
}

/// Why a sign-in at the login form did not start a session.
#[derive(Debug, PartialEq, Eq)]
pub enum SignInRefused {
    /// `ADMIN_TOKEN` is not set.
    Disabled,
    WrongToken,
}

impl AdminAccess {
    /// Whether the admin pages are open without a token (demo mode on loopback).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Whether `ADMIN_TOKEN` is set, and so the login form in use.
    pub fn takes_sign_ins(&self) -> bool {
        self.token.is_some()
    }

    /// The session cookie for someone who gave the right token at the login form. `https`:
    /// the request came over TLS (to the proxy, behind one), so the cookie may be
    /// `Secure` even where the service itself speaks plain HTTP.
    pub fn sign_in(&self, given: &str, https: bool) -> Result<Cookie<'static>, SignInRefused> {
        let issued = OffsetDateTime::now_utc().unix_timestamp();
        let generation = self.generation.current();
        let (Some(token), Some(session)) = (&self.token, self.session_value(issued, generation))
        else {
            return Err(SignInRefused::Disabled);
        };
        if !equal(given.trim(), token.expose_secret()) {
            return Err(SignInRefused::WrongToken);
        }
        Ok(Cookie::build(SESSION_COOKIE, session)
            // The whole site: /oauth/connect is an admin action too.
            .path("/")
            .http_only(true)
            .secure(self.secure_cookie || https)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds(SESSION_SECONDS))
            .finish())
    }

    /// Every session has ended, here and elsewhere, up to `generation`.
    pub fn ended_sessions(&self, generation: u64) {
        self.generation.advance_to(generation);
    }

    /// The cookie that removes a session from the browser.
    pub fn removal_cookie() -> Cookie<'static> {
        let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/").finish();
        cookie.make_removal();
        cookie
    }
}

/// The key of the admin forms' CSRF tokens, derived from the sessions' key material (or
/// `SECRET_KEY` when the admin is open without a token), not drawn at random: behind a
/// proxy any instance may receive a form another one served, and a deploy restarts them
/// all. Without either secret (demo mode) there is one process and a random key will do.
fn csrf_key(material: Option<&[u8]>) -> [u8; 32] {
    let Some(material) = material else {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        return key;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(material).expect("HMAC takes any key");
    mac.update(b"clover-signup admin csrf v1");
    mac.finalize().into_bytes().into()
}

/// Compares in constant time, so response timing reveals nothing of the secret.
fn equal(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> AdminAccess {
        let key: SecretSlice<u8> = vec![7u8; 32].into();
        AdminAccess::new(
            Some(SecretString::from("admin-token")),
            false,
            Some(&key),
            true,
            Arc::new(SubmissionLimiter::new(
                &crate::configuration::RateLimitSettings {
                    per_minute: std::num::NonZeroU32::MIN,
                    burst: std::num::NonZeroU32::MIN,
                },
                None,
            )),
            SessionGeneration::new(3),
        )
    }

    #[test]
    fn a_fresh_session_is_valid_and_a_twelve_hour_old_one_is_not() {
        let admin = access();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let fresh = admin.session_value(now, 3).unwrap();
        let stale = admin.session_value(now - SESSION_SECONDS - 1, 3).unwrap();
        assert!(admin.valid_session(&fresh));
        assert!(!admin.valid_session(&stale));
    }

    #[test]
    fn a_session_with_a_changed_time_or_generation_is_refused() {
        let admin = access();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let session = admin.session_value(now - 100, 3).unwrap();
        let mac = session.rsplit('.').next().unwrap();
        assert!(!admin.valid_session(&format!("{now}.3.{mac}")));
        assert!(!admin.valid_session(&format!("{}.4.{mac}", now - 100)));
    }

    #[test]
    fn a_session_of_an_earlier_generation_is_over() {
        let admin = access();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let session = admin.session_value(now, 3).unwrap();
        admin.generation.advance_to(4);
        assert!(!admin.valid_session(&session));
        admin.generation.advance_to(2);
        assert_eq!(
            admin.generation.current(),
            4,
            "a generation never goes back"
        );
    }
}
