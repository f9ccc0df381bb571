//! What every port shares, the same whichever database holds it: a submission's id and
//! the column its optional details are kept in; how stored states read back; and how a
//! consent event is read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::admin::SubmissionState;
use crate::consent::{
    Actor, ConsentChannel, ConsentEvent, ConsentKind, Evidence, PersonKey, Wording, text_version,
};
use crate::delivery::DeliveryOutcome;
use crate::domain::{Birthday, NewSignup, PostalAddress, SourceTag};

/// What a signup carries beyond names, email and phone, kept as one JSON column: fields
/// only some merchants collect, read and written together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Birthday>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The email address as the visitor typed it, when that differs from the lower-cased
    /// one in the `email` column (see [`crate::domain::EmailAddress`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_as_typed: Option<String>,
    /// Consent to text messages (the ledger has its proof).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sms_consent: bool,
    /// Where the signup came from (`src`, or a kiosk), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceTag>,
}

impl SignupDetails {
    pub(crate) fn of(signup: &NewSignup, source: Option<&SourceTag>) -> Self {
        let typed = signup.email.as_typed();
        Self {
            birthday: signup.birthday,
            address: signup.address.clone(),
            note: signup.note.as_ref().map(|n| n.as_ref().to_owned()),
            email_as_typed: (typed != signup.email.as_ref()).then(|| typed.to_owned()),
            sms_consent: signup.sms_consent,
            source: source.cloned(),
        }
    }

    /// The column's value: `NULL` when there is nothing to keep.
    pub(crate) fn to_column(&self) -> Option<String> {
        (*self != Self::default())
            .then(|| serde_json::to_string(self).expect("plain data serializes"))
    }

    /// Reads the column back where no submission names it (a held signup).
    pub(crate) fn from_stored(text: Option<String>) -> Self {
        Self::from_column(text, "held")
    }

    /// Reads the column back. A value this version cannot read (written by a newer one)
    /// is set aside with a warning rather than failing the delivery of the rest.
    pub(super) fn from_column(text: Option<String>, submission: &str) -> Self {
        let Some(text) = text else {
            return Self::default();
        };
        serde_json::from_str(&text).unwrap_or_else(|error| {
            tracing::warn!(
                submission,
                %error,
                "a submission's birthday, address or note could not be read and is not sent"
            );
            Self::default()
        })
    }
}

/// A submission's id: a random UUID, safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SubmissionId(pub(super) String);

impl SubmissionId {
    pub fn random() -> Self {
        Self(crate::domain::random_uuid().to_string())
    }

    pub fn from_stored(id: String) -> Self {
        Self(id)
    }
}

impl AsRef<str> for SubmissionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(super) fn parse_state(text: &str) -> SubmissionState {
    match text {
        "delivered" => SubmissionState::Delivered,
        "failed" => SubmissionState::Failed,
        _ => SubmissionState::Pending,
    }
}

pub(super) fn parse_outcome(text: &str) -> Option<DeliveryOutcome> {
    match text {
        "created" => Some(DeliveryOutcome::Created),
        "updated" => Some(DeliveryOutcome::Updated),
        "linked" => Some(DeliveryOutcome::Linked),
        _ => None,
    }
}

/// The columns a consent event is read with, its evidence beside it (absent once erased).
pub(super) const EVENT_COLUMNS: &str = "SELECT e.id, e.occurred_at, e.person, e.kind, e.channel,
        e.actor, e.consent_text, e.text_version, e.language, e.source, e.form_id,
        e.submission_id, v.email, v.phone, v.ip_address, v.user_agent, e.needs_confirmation
    FROM consent_events e LEFT JOIN consent_evidence v ON v.event_id = e.id";

/// A consent event as [`EVENT_COLUMNS`] reads it, in that order.
pub(super) struct EventRow {
    pub id: String,
    pub occurred_at: i64,
    pub person: String,
    pub kind: String,
    pub channel: Option<String>,
    pub actor: String,
    pub text: Option<String>,
    pub version: Option<String>,
    pub language: Option<String>,
    pub source: Option<String>,
    pub form_id: Option<String>,
    pub submission_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub needs_confirmation: bool,
}

impl EventRow {
    pub fn into_event(self) -> ConsentEvent {
        let wording = self.text.map(|text| Wording {
            version: self.version.unwrap_or_else(|| text_version(&text)),
            language: self.language.unwrap_or_default(),
            text,
        });
        ConsentEvent {
            id: self.id,
            occurred_at_ms: self.occurred_at,
            person: PersonKey::from_stored(self.person),
            // The schema admits only the kinds this version knows; a kind a newer version
            // added reads as a look, which changes no one's consent.
            kind: ConsentKind::from_stored(&self.kind).unwrap_or(ConsentKind::Viewed),
            channel: self
                .channel
                .as_deref()
                .and_then(ConsentChannel::from_stored),
            actor: Actor::from_stored(&self.actor),
            wording,
            source: self.source,
            form_id: self.form_id,
            submission_id: self.submission_id,
            evidence: self.email.map(|email| Evidence {
                email,
                phone: self.phone,
                ip_address: self.ip_address,
                user_agent: self.user_agent,
            }),
            needs_confirmation: self.needs_confirmation,
        }
    }
}
