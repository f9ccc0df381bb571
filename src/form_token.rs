//! Signed form tokens: every served form carries one, so a submission proves it came from
//! a form this service served, when, and (with `FORM_MIN_FILL_SECONDS`) that a person had
//! time to fill it in. The token is `issued.mac`: issue time in Unix seconds and an
//! HMAC-SHA256, with a key derived from `SECRET_KEY`, over that time and the form's id
//! (its hidden `form_id`). Binding the id makes one served form one signup: the id is the
//! stored submission's idempotency key, and a token is worth nothing with any other id.

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
    /// Also a token of the earlier kind, which bound no form id, from a page served
    /// before an upgrade: its visitor is asked to send the form again, as from a tab
    /// left open, rather than thanked for a signup that was not kept.
    Expired,
    /// Sent back sooner than a person can fill the form.
    TooFast,
    /// Missing, malformed, signed with another key, from the future, or sent with
    /// another form id than the one it was served with: not our form.
    Forged,
}

pub struct FormTokens {
    /// HMAC keyed once: cloning the keyed state skips the key's two block compressions
    /// on every form served and every form checked.
    keyed: Hmac<Sha256>,
    min_fill: Duration,
}

/// Sets the MAC of these tokens apart from that of the earlier kind (`issued.nonce`,
/// which starts with a digit), so that neither can pass for the other.
const BOUND_TO_FORM_ID: &[u8] = b"form v2\0";

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

    /// The token of a form served at `now_secs` with the id `form_id`.
    pub fn issue(&self, now_secs: i64, form_id: &str) -> String {
        let issued = now_secs.to_string();
        let mac = self.mac(&issued, form_id).finalize().into_bytes();
        let mut token = String::with_capacity(64);
        token.push_str(&issued);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac, &mut token);
        token
    }

    /// A token for a form whose contents the visitor has already filled in (shown again
    /// after its token expired, or with a fresh id after its first was used): as if
    /// served `FORM_MIN_FILL_SECONDS` ago.
    pub fn issue_filled(&self, now_secs: i64, form_id: &str) -> String {
        self.issue(now_secs - self.min_fill.as_secs() as i64, form_id)
    }

    /// Checks `token` as sent back with `form_id`.
    pub fn verify(
        &self,
        token: Option<&str>,
        form_id: Option<&str>,
        now_secs: i64,
    ) -> TokenVerdict {
        let Some(token) = token.filter(|t| t.len() <= 200) else {
            return TokenVerdict::Forged;
        };
        let mut parts = token.split('.');
        let (Some(issued), Some(second), third, None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return TokenVerdict::Forged;
        };
        let Ok(issued_secs) = issued.parse::<i64>() else {
            return TokenVerdict::Forged;
        };
        let mac = match third {
            Some(mac) => return self.verify_earlier_kind(issued, second, mac),
            None => second,
        };
        let (Some(form_id), Ok(mac)) = (form_id, URL_SAFE_NO_PAD.decode(mac)) else {
            return TokenVerdict::Forged;
        };
        // Constant-time comparison inside verify_slice.
        if self.mac(issued, form_id).verify_slice(&mac).is_err() {
            return TokenVerdict::Forged;
        }
        let age = now_secs - issued_secs;
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

    /// The MAC state over a token's issue time and its form's id, ready to finalize.
    fn mac(&self, issued: &str, form_id: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(BOUND_TO_FORM_ID);
        mac.update(issued.as_bytes());
        mac.update(b"\0");
        mac.update(form_id.as_bytes());
        mac
    }

    /// A token of the kind served before form ids were bound (`issued.nonce.mac`, the MAC
    /// over `issued.nonce`): [`TokenVerdict::Expired`] when genuine, so a visitor whose
    /// page was open across the upgrade gets the form back with their input and a bound
    /// token; nothing is stored from it. It gives no more than `GET /` does (a fresh
    /// form), for a post that counts against the rate limit. This can go once no page
    /// served before the upgrade can still be open, two hours after its deploy.
    fn verify_earlier_kind(&self, issued: &str, nonce: &str, mac: &str) -> TokenVerdict {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return TokenVerdict::Forged;
        };
        let mut expected = self.keyed.clone();
        expected.update(format!("{issued}.{nonce}").as_bytes());
        // Constant-time comparison inside verify_slice.
        match expected.verify_slice(&mac) {
            Ok(()) => TokenVerdict::Expired,
            Err(_) => TokenVerdict::Forged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b7e1c52-9a0f-4c3e-8d6e-2f4a1b9c7d31";

    fn tokens() -> FormTokens {
        FormTokens::new(Some(&vec![9u8; 32].into()), Duration::from_secs(2))
    }

    #[test]
    fn a_token_is_valid_from_the_minimum_fill_time_until_it_expires() {
        let tokens = tokens();
        let token = tokens.issue(1_000, ID);
        let verify = |now| tokens.verify(Some(&token), Some(ID), now);
        assert_eq!(verify(1_001), TokenVerdict::TooFast);
        assert_eq!(verify(1_002), TokenVerdict::Valid);
        assert_eq!(verify(1_000 + 7_200), TokenVerdict::Valid);
        assert_eq!(verify(1_000 + 7_201), TokenVerdict::Expired);
    }

    #[test]
    fn altered_missing_or_foreign_tokens_are_forged() {
        let tokens = tokens();
        let token = tokens.issue(1_000, ID);
        let older = token.replacen("1000", "900", 1);
        let foreign = FormTokens::new(Some(&vec![8u8; 32].into()), Duration::ZERO).issue(1_000, ID);
        let extended = format!("{token}.x");
        for bad in [
            Some(older.as_str()),
            Some(foreign.as_str()),
            Some(extended.as_str()),
            Some("garbage"),
            Some(""),
            None,
        ] {
            assert_eq!(
                tokens.verify(bad, Some(ID), 1_010),
                TokenVerdict::Forged,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_token_is_worth_nothing_with_another_form_id_or_none() {
        let tokens = tokens();
        let token = tokens.issue(1_000, ID);
        for other in [Some("another-form-id-0001"), Some(""), None] {
            assert_eq!(
                tokens.verify(Some(&token), other, 1_010),
                TokenVerdict::Forged,
                "{other:?}"
            );
        }
    }

    #[test]
    fn a_token_from_the_future_is_forged() {
        let tokens = tokens();
        let token = tokens.issue(2_000, ID);
        assert_eq!(
            tokens.verify(Some(&token), Some(ID), 1_000),
            TokenVerdict::Forged
        );
    }

    #[test]
    fn a_genuine_token_of_the_earlier_kind_asks_for_the_form_again() {
        let tokens = tokens();
        // `issued.nonce.mac`, the MAC over `issued.nonce` alone, as served before.
        let mut mac = tokens.keyed.clone();
        mac.update(b"1000.bm9uY2Vub25jZW5vbmNl");
        let earlier = format!(
            "1000.bm9uY2Vub25jZW5vbmNl.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        let tampered = earlier.replacen("1000", "1001", 1);

        assert_eq!(
            tokens.verify(Some(&earlier), None, 1_010),
            TokenVerdict::Expired
        );
        assert_eq!(
            tokens.verify(Some(&tampered), Some(ID), 1_010),
            TokenVerdict::Forged
        );
    }
}
