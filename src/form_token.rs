//! Signed form tokens: every served form carries one, so a submission proves it came from
//! a form this service served, when, and (with `FORM_MIN_FILL_SECONDS`) that a person had
//! time to fill it in. The token is `issued.nonce.mac`: issue time in Unix seconds, 128
//! random bits, and an HMAC-SHA256 over both with a key derived from `SECRET_KEY`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// How long a served form stays valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// What a submitted token says about its submitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVerdict {
    Valid,
    /// Signed by us but older than [`TOKEN_LIFETIME`]: a person who left the tab open.
    Expired,
    /// Sent back sooner than a person can fill the form.
    TooFast,
    /// Missing, malformed, signed with another key, or from the future: not our form.
    Forged,
}

pub struct FormTokens {
    /// HMAC keyed once: cloning the keyed state skips the key's two block compressions
    /// on every form served and every form checked.
    keyed: Hmac<Sha256>,
    min_fill: Duration,
}

impl FormTokens {
    /// Without `SECRET_KEY` (demo mode) a random key is used: forms served before a restart
    /// then read as forged, which demo mode can live with.
    pub fn new(secret_key: Option<&SecretSlice<u8>>, min_fill: Duration) -> Self {
        let base = match secret_key {
            Some(key) => key.expose_secret().to_vec(),
            None => {
                let mut random = vec![0u8; 32];
                rand::rng().fill_bytes(&mut random);
                random
            }
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&base).expect("HMAC takes any key");
        mac.update(b"clover-signup form tokens v1");
        let key = mac.finalize().into_bytes();
        Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key"),
            min_fill,
        }
    }

    pub fn issue(&self, now_secs: i64) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let mut token = String::with_capacity(80);
        token.push_str(&now_secs.to_string());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(nonce, &mut token);
        let mut mac = self.keyed.clone();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        token
    }

    /// A token for a form whose contents the visitor has already filled in (shown again
    /// after its token expired): as if served `FORM_MIN_FILL_SECONDS` ago.
    pub fn issue_filled(&self, now_secs: i64) -> String {
        self.issue(now_secs - self.min_fill.as_secs() as i64)
    }

    pub fn verify(&self, token: Option<&str>, now_secs: i64) -> TokenVerdict {
        let Some((issued, nonce, mac)) = token.and_then(split) else {
            return TokenVerdict::Forged;
        };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return TokenVerdict::Forged;
        };
        let mut expected = self.keyed.clone();
        expected.update(format!("{issued}.{nonce}").as_bytes());
        // Constant-time comparison inside verify_slice.
        if expected.verify_slice(&mac).is_err() {
            return TokenVerdict::Forged;
        }
        let age = now_secs - issued;
        if age < 0 {
            TokenVerdict::Forged
        } else if age > TOKEN_LIFETIME.as_secs() as i64 {
            TokenVerdict::Expired
        } else if age < self.min_fill.as_secs() as i64 {
            TokenVerdict::TooFast
        } else {
            TokenVerdict::Valid
        }
    }
}

fn split(token: &str) -> Option<(i64, &str, &str)> {
    if token.len() > 200 {
        return None;
    }
    let mut parts = token.splitn(3, '.');
    let issued = parts.next()?.parse().ok()?;
    Some((issued, parts.next()?, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> FormTokens {
        FormTokens::new(Some(&vec![9u8; 32].into()), Duration::from_secs(2))
    }

    #[test]
    fn a_token_is_valid_from_the_minimum_fill_time_until_it_expires() {
        let tokens = tokens();
        let token = tokens.issue(1_000);
        assert_eq!(tokens.verify(Some(&token), 1_001), TokenVerdict::TooFast);
        assert_eq!(tokens.verify(Some(&token), 1_002), TokenVerdict::Valid);
        assert_eq!(
            tokens.verify(Some(&token), 1_000 + 7_200),
            TokenVerdict::Valid
        );
        assert_eq!(
            tokens.verify(Some(&token), 1_000 + 7_201),
            TokenVerdict::Expired
        );
    }

    #[test]
    fn altered_missing_or_foreign_tokens_are_forged() {
        let tokens = tokens();
        let token = tokens.issue(1_000);
        let older = token.replacen("1000", "900", 1);
        let foreign = FormTokens::new(Some(&vec![8u8; 32].into()), Duration::ZERO).issue(1_000);
        for bad in [
            Some(older.as_str()),
            Some(foreign.as_str()),
            Some("garbage"),
            Some(""),
            None,
        ] {
            assert_eq!(tokens.verify(bad, 1_010), TokenVerdict::Forged, "{bad:?}");
        }
    }

    #[test]
    fn a_token_from_the_future_is_forged() {
        let tokens = tokens();
        let token = tokens.issue(2_000);
        assert_eq!(tokens.verify(Some(&token), 1_000), TokenVerdict::Forged);
    }
}
