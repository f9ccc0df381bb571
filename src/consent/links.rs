//! Signed links for emails to visitors. A token names a person by their [`PersonKey`],
//! never their address (so that it puts nothing personal in a URL or a server's log),
//! with an HMAC keyed from `SECRET_KEY` over what it is for: nobody can make one for
//! someone else. Tokens are in URL-safe characters that need no encoding in a path.
//!
//! - An unsubscribe token (`email.<person>.<mac>`) names the channel to withdraw. It does
//!   not expire: a person may want out years after the email came (US law asks that
//!   unsubscribe links work for 30 days at least).
//! - A confirmation token (`confirm.<person>.<issued>.<signup>.<mac>`) carries when it
//!   was issued (it confirms only within `CONFIRMATION_DAYS`) and the signup waiting for
//!   it (`-` for none): a link confirms that signup, never one sent later under the same
//!   address by somebody else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::SecretSlice;
use sha2::Sha256;

use super::{ConsentChannel, PersonKey, derived_key};

/// What a confirmation link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub person: PersonKey,
    /// When its email was sent (Unix seconds).
    pub issued_secs: i64,
    /// The held signup it confirms, if any.
    pub signup: Option<String>,
}

#[derive(Clone)]
pub struct ConsentLinks {
    keyed: Hmac<Sha256>,
    /// `PUBLIC_URL`, without its trailing slash.
    base: String,
}

impl ConsentLinks {
    pub fn new(secret_key: Option<&SecretSlice<u8>>, public_url: &url::Url) -> Self {
        Self {
            keyed: derived_key(secret_key, b"clover-signup consent links v1"),
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
        self.check(signed, mac)?;
        Some((PersonKey::from_stored(person.to_owned()), channel))
    }

    /// The link in a confirmation email sent at `issued_secs` (Unix seconds), for the
    /// held signup `signup` if there is one.
    pub fn confirm_url(
        &self,
        person: &PersonKey,
        issued_secs: i64,
        signup: Option<&str>,
    ) -> String {
        let signup = signup.unwrap_or("-");
        let signed = format!("confirm.{}.{issued_secs}.{signup}", person.as_ref());
        let mac = self.mac(&signed);
        format!("{}/confirm/{signed}.{mac}", self.base)
    }

    /// What a confirmation token names, if this service signed it.
    pub fn verify_confirm(&self, token: &str) -> Option<Confirmation> {
        let (signed, mac) = token.rsplit_once('.')?;
        let mut parts = signed.strip_prefix("confirm.")?.splitn(3, '.');
        let (person, issued, signup) = (parts.next()?, parts.next()?, parts.next()?);
        let issued_secs = issued.parse().ok()?;
        self.check(signed, mac)?;
        Some(Confirmation {
            person: PersonKey::from_stored(person.to_owned()),
            issued_secs,
            signup: (signup != "-").then(|| signup.to_owned()),
        })
    }

    /// Whether `mac` is this service's over `signed`.
    fn check(&self, signed: &str, mac: &str) -> Option<()> {
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = self.keyed.clone();
        check.update(signed.as_bytes());
        check.verify_slice(&given).ok()
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

    fn links(key: u8) -> ConsentLinks {
        let url = url::Url::parse("https://signup.example.com/").unwrap();
        ConsentLinks::new(Some(&SecretSlice::from(vec![key; 32])), &url)
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

    #[test]
    fn a_confirmation_link_names_its_person_and_when_and_is_no_unsubscribe_link() {
        let person = PersonKeys::new(None).of("ana@example.com");
        let url = links(1).confirm_url(&person, 1_800_000_000, Some("held-1"));
        let token = url.rsplit('/').next().unwrap();
        let named = links(1).verify_confirm(token).unwrap();
        assert_eq!(named.person, person);
        assert_eq!(named.issued_secs, 1_800_000_000);
        assert_eq!(named.signup.as_deref(), Some("held-1"));
        let other = token.replace("held-1", "held-2");
        assert_eq!(
            links(1).verify_confirm(&other),
            None,
            "the signup is signed"
        );
        let none = links(1).confirm_url(&person, 1, None);
        let none = links(1).verify_confirm(none.rsplit('/').next().unwrap());
        assert_eq!(none.unwrap().signup, None);
        assert_eq!(links(2).verify_confirm(token), None);
        let later = token.replace("1800000000", "1900000000");
        assert_eq!(links(1).verify_confirm(&later), None, "the time is signed");
        assert_eq!(links(1).verify(token), None);
        let unsubscribe = links(1).token(&person, ConsentChannel::Email);
        assert_eq!(links(1).verify_confirm(&unsubscribe), None);
    }
}
