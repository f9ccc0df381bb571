//! What every port shares, the same whichever database holds it: a submission's id and
//! the column its optional details are kept in; and how stored states read back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::admin::SubmissionState;
use crate::delivery::DeliveryOutcome;
use crate::domain::{Birthday, NewSignup, PostalAddress};

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
