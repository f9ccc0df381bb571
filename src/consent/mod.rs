//! The record of consent: the merchant's only proof of who agreed to what, when, and how,
//! and of every withdrawal. Clover keeps no consent for third-party apps (its reference
//! for creating a customer says so), so this ledger is it.
//!
//! Every event is a new row, never changed (`ledger.rs`, the port; the databases refuse
//! an update or a delete of an event). A person is named by a keyed hash of their email
//! address ([`PersonKeys`]); what identifies them is kept beside each event as
//! [`Evidence`], which an erasure removes while the events stay. What a person's consent
//! is now is decided from their events, here, in Rust ([`standing`]). `recording.rs` makes
//! the events a signup or a request records, with their evidence; `links.rs` signs the
//! links in emails that let a person confirm their address or take their consent back;
//! `withdrawn.rs` keeps who has withdrawn in memory, for every signup to ask.

pub mod ledger;
mod links;
mod recording;
mod withdrawn;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};

pub use ledger::{
    ConsentLedger, ConsentState, Erased, Standing, confirmable, forget_ended, since_erasure,
    standing,
};
pub use links::{Confirmation, ConsentLinks};
pub use recording::{ConsentRecording, Given, IpRecording};
pub use withdrawn::{FOLLOW_EVERY, Withdrawn};

use crate::domain::random_uuid;
use crate::i18n::{Arg, Language};
use crate::storage::now_ms;

/// What happened to a person's consent, or what the merchant did about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentKind {
    /// The visitor ticked a consent box and the signup was stored.
    Given,
    /// The visitor proved the address theirs (double opt-in).
    Confirmed,
    /// The person, or the merchant on their behalf, took the consent back.
    Withdrawn,
    /// The person's data was erased; the events stay, without it.
    Erased,
    /// The merchant looked the person up.
    Viewed,
    /// The merchant exported everything kept about the person.
    Exported,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Confirmed => "confirmed",
            Self::Withdrawn => "withdrawn",
            Self::Erased => "erased",
            Self::Viewed => "viewed",
            Self::Exported => "exported",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        [
            Self::Given,
            Self::Confirmed,
            Self::Withdrawn,
            Self::Erased,
            Self::Viewed,
            Self::Exported,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// What a consent is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsentChannel {
    Email,
    Sms,
}

impl ConsentChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The person themselves: on the form, or through a link sent to them.
    Visitor,
    /// The merchant, on the admin pages.
    Merchant,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visitor => "visitor",
            Self::Merchant => "merchant",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "merchant" {
            Self::Merchant
        } else {
            Self::Visitor
        }
    }
}

/// A keyed hash of a person's email address: what names them in the ledger, and all
/// that is left of them after an erasure. Keyed, so that a copy of the database alone
/// cannot be searched for a known address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonKey(String);

impl PersonKey {
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
}

impl AsRef<str> for PersonKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Makes [`PersonKey`]s, with a key derived from `SECRET_KEY`.
#[derive(Clone)]
pub struct PersonKeys {
    keyed: Hmac<Sha256>,
}

impl PersonKeys {
    /// Without `SECRET_KEY` (demo mode only) the key is a fixed one: a demo's ledger must
    /// still find its people after a restart, and holds no one real.
    pub fn new(secret_key: Option<&SecretSlice<u8>>) -> Self {
        Self {
            keyed: derived_key(secret_key, b"clover-signup consent persons v1"),
        }
    }

    /// The key of the person with this email address, as the intake stores it (trimmed,
    /// lower-cased).
    pub fn of(&self, email: &str) -> PersonKey {
        let mut mac = self.keyed.clone();
        mac.update(email.trim().to_lowercase().as_bytes());
        PersonKey(hex::encode(mac.finalize().into_bytes()))
    }
}

/// An HMAC keyed for one purpose with a key derived from `SECRET_KEY`, or from a fixed
/// demo key without one.
fn derived_key(secret_key: Option<&SecretSlice<u8>>, purpose: &[u8]) -> Hmac<Sha256> {
    let base: &[u8] = secret_key.map_or(b"demo mode: no SECRET_KEY", |k| k.expose_secret());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(base).expect("HMAC takes any key");
    mac.update(purpose);
    let key = mac.finalize().into_bytes();
    <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key")
}

/// The exact words a person agreed to, the version that names them (the first 16 hex
/// digits of their SHA-256: a wording changed by one letter is another version), and the
/// language they were shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    pub text: String,
    pub version: String,
    pub language: String,
}

impl Wording {
    pub fn new(text: &str, language: &str) -> Self {
        Self {
            text: text.to_owned(),
            version: text_version(text),
            language: language.to_owned(),
        }
    }
}

/// The words of the text-message box: `SMS_CONSENT_TEXT`, or the catalogue's in
/// `language`, which names the merchant, says that how often varies and that rates may
/// apply, and how to stop. The form shows them and the ledger records them: one source.
pub fn sms_wording(own: Option<&str>, language: Language, merchant: Option<&str>) -> String {
    match (own, merchant) {
        (Some(own), _) => own.to_owned(),
        (None, Some(name)) => language.text_with(
            "sms-consent-default-merchant",
            &[("merchant", Arg::Text(name))],
        ),
        (None, None) => language.text("sms-consent-default"),
    }
}

/// The version of a consent wording: see [`Wording`].
pub fn text_version(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

/// What identifies the person an event is about, and where it came from: personal data,
/// kept beside the event until an erasure removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub email: String,
    pub phone: Option<String>,
    /// As `CONSENT_IP` says: whole, truncated, or not at all.
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// One event of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    pub id: String,
    pub occurred_at_ms: i64,
    pub person: PersonKey,
    pub kind: ConsentKind,
    /// The consent it is about; `None` for what concerns the person as a whole (an
    /// erasure, an export).
    pub channel: Option<ConsentChannel>,
    pub actor: Actor,
    /// For a consent given: the words agreed to.
    pub wording: Option<Wording>,
    /// Where it happened: `form`, `embed`, `api`, `preferences`, `one-click`, `confirm`,
    /// `admin`.
    pub source: Option<String>,
    /// The served form it came with, for a consent given on a form.
    pub form_id: Option<String>,
    /// The submission it came with, for a consent given with a signup.
    pub submission_id: Option<String>,
    /// `None` once erased, and for events that need none.
    pub evidence: Option<Evidence>,
    /// A consent given under double opt-in: it counts once the person confirms.
    pub needs_confirmation: bool,
}

impl ConsentEvent {
    /// An event happening now, with nothing but who and what.
    pub fn now(person: PersonKey, kind: ConsentKind, actor: Actor) -> Self {
        Self {
            id: random_uuid().to_string(),
            occurred_at_ms: now_ms(),
            person,
            kind,
            channel: None,
            actor,
            wording: None,
            source: None,
            form_id: None,
            submission_id: None,
            evidence: None,
            needs_confirmation: false,
        }
    }

    pub fn on(mut self, channel: ConsentChannel) -> Self {
        self.channel = Some(channel);
        self
    }

    pub fn from_source(mut self, source: &str) -> Self {
        self.source = Some(source.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_the_same_whatever_the_case_of_their_address() {
        let keys = PersonKeys::new(None);
        assert_eq!(keys.of("Ana@Example.com "), keys.of("ana@example.com"));
        assert_ne!(keys.of("ana@example.com"), keys.of("bob@example.com"));
        let other = PersonKeys::new(Some(&SecretSlice::from(vec![7u8; 32])));
        assert_ne!(other.of("ana@example.com"), keys.of("ana@example.com"));
    }

    #[test]
    fn a_wording_changed_by_one_letter_is_another_version() {
        assert_eq!(
            text_version("Yes, email me."),
            text_version("Yes, email me.")
        );
        assert_ne!(
            text_version("Yes, email me."),
            text_version("Yes, email me!")
        );
        assert_eq!(text_version("x").len(), 16);
    }
}
