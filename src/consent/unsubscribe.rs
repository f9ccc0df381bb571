//! Signed unsubscribe links. A link (its token: the channel, the person's key and a
//! MAC, all in URL-safe characters that need no encoding in a path) names a person (by their [`PersonKey`], never their
//! address, so that it puts nothing personal in a URL or a server's log) and the channel
//! to withdraw, with an HMAC over both keyed from `SECRET_KEY`: nobody can make one for
//! someone else. Links do not expire: a person may want out years after the email came
//! (US law asks that they work for 30 days at least).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::SecretSlice;
use sha2::Sha256;

use super::{ConsentChannel, PersonKey, derived_key};

#[derive(Clone)]
pub struct UnsubscribeLinks {
    keyed: Hmac<Sha256>,
    /// `PUBLIC_URL`, without its trailing slash.
    base: String,
}

impl UnsubscribeLinks {
    pub fn new(secret_key: Option<&SecretSlice<u8>>, public_url: &url::Url) -> Self {
        Self {
            keyed: derived_key(secret_key, b"clover-signup unsubscribe links v1"),
            base: public_url.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// The token that withdraws `person`'s consent on `channel`.
    pub fn token(&self, person: &PersonKey, channel: ConsentChannel) -> String {
        let signed = format!("{}.{}", channel.as_str(), person.as_ref());
        let mac = self.mac(&signed);
        format!("{signed}.{mac}")
    }

    /// The page a person opens from an email to see their consent and withdraw it.
    pub fn preferences_url(&self, person: &PersonKey, channel: ConsentChannel) -> String {
        format!("{}/preferences/{}", self.base, self.token(person, channel))
    }

    /// The address a mail client posts the one-click withdrawal to (RFC 8058), named in
    /// an email's `List-Unsubscribe` header.
    pub fn one_click_url(&self, person: &PersonKey, channel: ConsentChannel) -> String {
        format!("{}/unsubscribe/{}", self.base, self.token(person, channel))
    }

    /// Who and what a token names, if this service signed it.
    pub fn verify(&self, token: &str) -> Option<(PersonKey, ConsentChannel)> {
        let (signed, mac) = token.rsplit_once('.')?;
        let (channel, person) = signed.split_once('.')?;
        let channel = ConsentChannel::from_stored(channel)?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = self.keyed.clone();
        check.update(signed.as_bytes());
        check.verify_slice(&given).ok()?;
        Some((PersonKey::from_stored(person.to_owned()), channel))
    }

    fn mac(&self, signed: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(signed.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::PersonKeys;

    fn links(key: u8) -> UnsubscribeLinks {
        let url = url::Url::parse("https://signup.example.com/").unwrap();
        UnsubscribeLinks::new(Some(&SecretSlice::from(vec![key; 32])), &url)
    }

    #[test]
    fn a_link_names_its_person_and_channel_and_nothing_else_verifies() {
        let person = PersonKeys::new(None).of("ana@example.com");
        let token = links(1).token(&person, ConsentChannel::Sms);
        assert_eq!(
            links(1).verify(&token),
            Some((person.clone(), ConsentChannel::Sms))
        );
        assert_eq!(links(2).verify(&token), None, "another key");
        let other = token.replacen("sms.", "email.", 1);
        assert_eq!(links(1).verify(&other), None, "another channel");
        assert_eq!(links(1).verify("email.abc"), None);
        assert!(!token.contains("ana"));
        let page = links(1).preferences_url(&person, ConsentChannel::Email);
        assert!(page.starts_with("https://signup.example.com/preferences/email."));
        let one_click = links(1).one_click_url(&person, ConsentChannel::Email);
        assert!(one_click.starts_with("https://signup.example.com/unsubscribe/email."));
    }
}
