//! Connect attempts in progress, kept by the browser that started them: the attempt
//! (its `state`, who started it, the PKCE verifier) travels in a cookie encrypted and
//! authenticated with a key from `SECRET_KEY`, valid for ten minutes. The server keeps
//! nothing, so anyone may start as many as they like without costing it memory, and a
//! connect begun on one instance completes on any other, or after a restart.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use url::Url;

use super::api::{OAuthApi, pkce_pair, random_state};
use crate::clover::MerchantId;
use crate::storage::SecretCipher;

/// How long a merchant has to approve the app in Clover's page.
pub const CONNECT_TTL: Duration = Duration::from_secs(600);
/// Binds a sealed attempt to this use, so no other sealed value passes for one.
const PURPOSE: &str = "oauth connect attempt v1";

/// Who started the connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOrigin {
    /// The signed-in admin, from `/admin`.
    Admin,
    /// Clover's App Market, through the alternate launch path, for this merchant.
    Launch(Option<MerchantId>),
}

/// What the callback needs from the attempt it completes.
pub struct PendingConnect {
    pub origin: ConnectOrigin,
    /// The PKCE verifier, for an app without its secret.
    pub verifier: Option<SecretString>,
}

/// A connect that has begun: the cookie that carries it, and where to send the browser.
pub struct ConnectStart {
    pub cookie: String,
    pub authorize_url: Url,
}

/// Why a callback's cookie does not complete an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// Not a cookie sealed here (altered, or sealed with another key), or too old.
    NoAttempt,
    /// The `state` Clover sent back is missing or not the attempt's.
    StateMismatch,
}

/// The sealed contents of the cookie.
#[derive(Serialize, Deserialize)]
struct Attempt {
    state: String,
    /// Started by the App Market's launch (else by the admin).
    launched: bool,
    /// The merchant the launch named, if any.
    hint: Option<String>,
    verifier: Option<String>,
    /// Unix seconds.
    started: i64,
}

/// Seals and opens connect attempts.
#[derive(Clone)]
pub struct PendingConnects {
    cipher: SecretCipher,
}

impl PendingConnects {
    pub fn new(cipher: SecretCipher) -> Self {
        Self { cipher }
    }

    /// `merchant`: the merchant to authorize, when known, named on the authorize URL.
    pub fn begin(
        &self,
        api: &OAuthApi,
        origin: ConnectOrigin,
        merchant: Option<&MerchantId>,
    ) -> ConnectStart {
        let state = random_state();
        // Without the app secret, the app is low-trust and proves itself with PKCE.
        let (verifier, challenge) = match api.app().app_secret {
            Some(_) => (None, None),
            None => {
                let (verifier, challenge) = pkce_pair();
                (Some(verifier), Some(challenge))
            }
        };
        let authorize_url = api.authorize_url(&state, challenge.as_deref(), merchant);
        let attempt = Attempt {
            state,
            launched: matches!(origin, ConnectOrigin::Launch(_)),
            hint: match origin {
                ConnectOrigin::Admin => None,
                ConnectOrigin::Launch(hint) => hint.map(|m| m.to_string()),
            },
            verifier: verifier.map(|v| v.expose_secret().to_owned()),
            started: OffsetDateTime::now_utc().unix_timestamp(),
        };
        let json = serde_json::to_string(&attempt).expect("plain data serializes");
        let sealed = self.cipher.seal(PURPOSE, &SecretString::from(json));
        ConnectStart {
            cookie: URL_SAFE_NO_PAD.encode(sealed),
            authorize_url,
        }
    }

    /// The attempt `cookie` carries, if it was sealed here within its time and `state`
    /// (as Clover echoed it) is its own, compared in constant time.
    pub fn take(
        &self,
        cookie: &str,
        state: Option<&str>,
    ) -> Result<PendingConnect, ConnectRefusal> {
        let attempt = self.open(cookie).ok_or(ConnectRefusal::NoAttempt)?;
        let age = OffsetDateTime::now_utc().unix_timestamp() - attempt.started;
        if !(0..CONNECT_TTL.as_secs() as i64).contains(&age) {
            return Err(ConnectRefusal::NoAttempt);
        }
        let echoed = state.ok_or(ConnectRefusal::StateMismatch)?;
        if !bool::from(echoed.as_bytes().ct_eq(attempt.state.as_bytes())) {
            return Err(ConnectRefusal::StateMismatch);
        }
        let origin = match attempt.launched {
            false => ConnectOrigin::Admin,
            true => ConnectOrigin::Launch(attempt.hint.and_then(|m| MerchantId::parse(&m).ok())),
        };
        Ok(PendingConnect {
            origin,
            verifier: attempt.verifier.map(SecretString::from),
        })
    }

    fn open(&self, cookie: &str) -> Option<Attempt> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        let json = self.cipher.open(PURPOSE, &sealed).ok()?;
        serde_json::from_str(json.expose_secret()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretSlice;

    fn connects(key: u8) -> PendingConnects {
        PendingConnects::new(SecretCipher::from_secret_key(&SecretSlice::from(vec![
            key;
            32
        ])))
    }

    fn sealed(connects: &PendingConnects, attempt: &Attempt) -> String {
        let json = serde_json::to_string(attempt).unwrap();
        URL_SAFE_NO_PAD.encode(connects.cipher.seal(PURPOSE, &SecretString::from(json)))
    }

    fn attempt(started: i64) -> Attempt {
        Attempt {
            state: "the-state".into(),
            launched: true,
            hint: None,
            verifier: None,
            started,
        }
    }

    #[test]
    fn an_attempt_opens_with_its_state_only_and_only_here() {
        let here = connects(1);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let cookie = sealed(&here, &attempt(now));
        assert_eq!(
            here.take(&cookie, Some("another")).err(),
            Some(ConnectRefusal::StateMismatch)
        );
        assert_eq!(
            here.take(&cookie, None).err(),
            Some(ConnectRefusal::StateMismatch)
        );
        let pending = here.take(&cookie, Some("the-state")).unwrap();
        assert_eq!(pending.origin, ConnectOrigin::Launch(None));
        assert_eq!(
            connects(2).take(&cookie, Some("the-state")).err(),
            Some(ConnectRefusal::NoAttempt),
            "sealed with another SECRET_KEY"
        );
        let mut altered = cookie.into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            here.take(&altered, Some("the-state")).err(),
            Some(ConnectRefusal::NoAttempt)
        );
    }

    #[test]
    fn an_attempt_lasts_ten_minutes() {
        let here = connects(1);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let old = sealed(&here, &attempt(now - CONNECT_TTL.as_secs() as i64 - 1));
        assert_eq!(
            here.take(&old, Some("the-state")).err(),
            Some(ConnectRefusal::NoAttempt)
        );
    }
}
