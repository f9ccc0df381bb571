//! Signed form tokens: every served form carries one, so a submission proves it came from
//! a form this service served, when, and (with `FORM_MIN_FILL_SECONDS`) that a person had
//! time to fill it in. The token is `issued.form_id.mac`: issue time in Unix seconds, the
//! form's id (its hidden `form_id`) and an HMAC-SHA256, with a key derived from
//! `SECRET_KEY`, over the two. Binding the id makes one served form one signup: the id is
//! the stored submission's idempotency key, and a token is worth nothing with any other
//! id. The layout is the one tokens had before they were bound (`issued.nonce.mac`, a
//! random nonce where the id now is), so instances of either version, side by side during
//! a rolling deploy, accept each other's forms.

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

/// Now, in the seconds tokens count in.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub struct FormTokens {
    /// HMAC keyed once: cloning the keyed state skips the key's two block compressions
    /// on every form served and every form checked.
    keyed: Hmac<Sha256>,
    min_fill: Duration,
}

/// The random nonce of a token served before ids were bound: 16 bytes, 22 characters of
/// base64url. Form ids are never that long (the service serves UUIDs, 36).
const EARLIER_NONCE_LEN: usize = 22;

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
        let mut token = String::with_capacity(96);
        token.push_str(&now_secs.to_string());
        token.push('.');
        token.push_str(form_id);
        let mut mac = self.keyed.clone();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
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
        let (Some(issued), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return TokenVerdict::Forged;
        };
        let (Ok(issued_secs), Ok(mac)) = (issued.parse::<i64>(), URL_SAFE_NO_PAD.decode(mac))
        else {
            return TokenVerdict::Forged;
        };
        let mut expected = self.keyed.clone();
        expected.update(issued.as_bytes());
        expected.update(b".");
        expected.update(nonce.as_bytes());
        // Constant-time comparison inside verify_slice.
        if expected.verify_slice(&mac).is_err() {
            return TokenVerdict::Forged;
        }
        if nonce.len() == EARLIER_NONCE_LEN {
            // Served before ids were bound: genuine, but it names no form. Its visitor gets
            // the form back with their input and a bound token, as from a tab left open,
            // rather than thanks for a signup that was not kept. This can go once no page
            // served before the upgrade can still be open, two hours after its deploy.
            return TokenVerdict::Expired;
        }
        if form_id != Some(nonce) {
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
        let older = token.replacen("1000", "0900", 1);
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
        for other in [
            Some("another-form-id-0001"),
            Some("1b7e1c52-9a0f-4c3e-8d6e-2f4a1b9c7d31"),
            Some(""),
            None,
        ] {
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
        mac.update(b"1000.bm9uY2Vub25jZW5vbmNlQQ");
        let earlier = format!(
            "1000.bm9uY2Vub25jZW5vbmNlQQ.{}",
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

    #[test]
    fn a_bound_token_has_the_layout_earlier_versions_verify() {
        // An instance of the earlier version checks `issued.nonce.mac` with the MAC over
        // `issued.nonce`: a bound token must pass it, with the form id as the nonce.
        let tokens = tokens();
        let token = tokens.issue(1_000, ID);
        let (signed, mac) = token.rsplit_once('.').unwrap();
        assert_eq!(signed, format!("1000.{ID}"));
        let mut expected = tokens.keyed.clone();
        expected.update(signed.as_bytes());
        assert!(
            expected
                .verify_slice(&URL_SAFE_NO_PAD.decode(mac).unwrap())
                .is_ok()
        );
    }
}
