//! What the stores keep and hand back, the same whichever database holds it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::{Birthday, IdempotencyKey, NewSignup, PostalAddress};

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
}

impl SignupDetails {
    pub(crate) fn of(signup: &NewSignup) -> Self {
        let typed = signup.email.as_typed();
        Self {
            birthday: signup.birthday,
            address: signup.address.clone(),
            note: signup.note.as_ref().map(|n| n.as_ref().to_owned()),
            email_as_typed: (typed != signup.email.as_ref()).then(|| typed.to_owned()),
        }
    }

    /// The column's value: `NULL` when there is nothing to keep.
    pub(crate) fn to_column(&self) -> Option<String> {
        (*self != Self::default())
            .then(|| serde_json::to_string(self).expect("plain data serializes"))
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

/// What storing a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored and queued now.
    New(SubmissionId),
    /// The same submission (same idempotency key) was stored before: nothing was added.
    AlreadyStored(SubmissionId),
    /// The key names an earlier submission with other content: nothing was added. A
    /// served form admits one signup, so the form offers a fresh one instead; the JSON
    /// API stores the request on its own.
    KeyTaken(SubmissionId),
}

impl Inserted {
    /// The submission stored under the key: this one, or the earlier one it names.
    pub fn id(&self) -> &SubmissionId {
        match self {
            Inserted::New(id) | Inserted::AlreadyStored(id) | Inserted::KeyTaken(id) => id,
        }
    }
}

/// Where a submission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Form,
    Api,
}

impl Source {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::Api => "api",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    Pending,
    Delivered,
    Failed,
}

impl fmt::Display for SubmissionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmissionState::Pending => "pending",
            SubmissionState::Delivered => "delivered",
            SubmissionState::Failed => "failed",
        })
    }
}

/// What delivering a submission did in Clover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A new customer was created.
    Created,
    /// An existing customer gained the email, phone or names they lacked.
    Updated,
    /// An existing customer was left as it was and the submission linked to it.
    Linked,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Linked => "linked",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// One line of the admin page. Holds the stored email: mask it before showing it.
#[derive(Debug, Clone)]
pub struct SubmissionSummary {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub email: String,
    pub state: SubmissionState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub clover_customer_id: Option<String>,
    pub outcome: Option<DeliveryOutcome>,
}

/// A valid signup on its way to the database.
pub struct NewSubmission {
    pub signup: NewSignup,
    pub source: Source,
    pub consent_text: String,
    pub key: Option<IdempotencyKey>,
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

/// A submission claimed for delivery, with everything needed to deliver it.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Lower-cased: the key deliveries of one person are kept in order by.
    pub email: String,
    pub phone: Option<String>,
    /// Birthday, address and note, when the form asked for them.
    pub details: SignupDetails,
    pub marketing_consent: bool,
    pub consent_text: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl QueuedDelivery {
    /// The email address as the visitor typed it: what Clover is searched with first, and
    /// what a new customer is given.
    pub fn email_as_typed(&self) -> &str {
        self.details
            .email_as_typed
            .as_deref()
            .unwrap_or(&self.email)
    }
}
