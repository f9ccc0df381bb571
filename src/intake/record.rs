//! What storing a signup records beside it, and whom it tells: the consents given with
//! it, for the ledger; what the ledger already knows of the person; a signup held for its
//! confirmation; the merchant's notice and the `signup.stored` event.

use serde_json::json;

use super::Outcome;
use super::pipeline::{Channel, Intake, Submission};
use super::store::{Inserted, NewSubmission, Source, store_api_resend_apart};
use crate::alerts::NewSignupNotice;
use crate::configuration::DoubleOptIn;
use crate::consent::{
    ConsentChannel, ConsentEvent, ConsentKind, ConsentState, Given, PersonKey, Wording,
    since_erasure, sms_wording, standing,
};
use crate::domain::{IdempotencyKey, NewSignup, SourceTag};
use crate::events::{EventKind, Person};
use crate::storage::{StorageError, SubmissionId};

/// What the ledger knows of a person, where it changes how a signup is taken.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Known {
    /// They confirmed their address since they were last erased.
    pub proven: bool,
    /// Their email consent stands withdrawn.
    pub withdrew: bool,
}

/// Whether `events` (oldest first) prove the address: a confirmation since the last
/// erasure.
fn proven(events: &[ConsentEvent]) -> bool {
    since_erasure(events)
        .iter()
        .any(|event| event.kind == ConsentKind::Confirmed)
}

impl Intake<'_> {
    /// Without double opt-in only a withdrawal matters, and the set in memory knows it;
    /// with it, the person's events are read.
    pub(super) async fn known(&self, person: &PersonKey) -> Result<Known, StorageError> {
        if self.follow_up.double_opt_in == DoubleOptIn::Off {
            return Ok(Known {
                proven: false,
                withdrew: self.withdrawn.contains(person),
            });
        }
        let history = self.ledger.history(person).await?;
        let email = standing(&history).remove(&ConsentChannel::Email);
        Ok(Known {
            proven: proven(&history),
            withdrew: email.is_some_and(|s| s.state == ConsentState::Withdrawn),
        })
    }

    /// The consents given with `signup`, for the ledger: the email box's and the text
    /// message box's, each when ticked, each with its own words.
    pub(super) fn consents(
        &self,
        signup: &NewSignup,
        submission: &Submission<'_>,
        consent_text: &str,
        key: Option<&IdempotencyKey>,
        opt_in: DoubleOptIn,
    ) -> Vec<ConsentEvent> {
        let form_id = match submission.channel {
            Channel::Form { .. } => key.map(AsRef::as_ref),
            Channel::Api { .. } => None,
        };
        let language = submission.language;
        let given = |channel, text: &str, needs_confirmation| {
            self.consent.given(Given {
                email: signup.email.as_ref(),
                phone: signup.phone.as_ref().map(AsRef::as_ref),
                channel,
                wording: Wording::new(text, language.tag()),
                source: SourceTag::ledger_source(
                    submission.source_tag.as_ref(),
                    submission.channel.metrics_source().as_str(),
                ),
                form_id,
                ip_address: submission.client_ip,
                user_agent: submission.user_agent,
                needs_confirmation,
            })
        };
        let mut consents = Vec::new();
        if signup.marketing_consent {
            let needs_confirmation = opt_in != DoubleOptIn::Off;
            consents.push(given(
                ConsentChannel::Email,
                consent_text,
                needs_confirmation,
            ));
        }
        if signup.sms_consent {
            let words = sms_wording(self.sms_consent_text, language, self.merchant_name);
            // A link in an email proves the address, not the phone: the text box waits
            // only where the whole signup does.
            consents.push(given(
                ConsentChannel::Sms,
                &words,
                opt_in == DoubleOptIn::All,
            ));
        }
        consents
    }

    /// `DOUBLE_OPT_IN=all`: the signup waits for its visitor to confirm the address,
    /// neither counted nor delivered; they are thanked all the same, and told to look
    /// for the email, whose link confirms this signup. A resend is held once and mailed
    /// once; other details under a key already held are answered as when stored at once
    /// (a fresh form, or, for the API, held on its own).
    pub(super) async fn hold(
        &self,
        held: NewSubmission,
        person: PersonKey,
        email: &str,
        language: &str,
    ) -> Result<Outcome, StorageError> {
        let inserted =
            store_api_resend_apart(held, |held| self.submissions.hold(held, &person)).await?;
        match inserted {
            Inserted::New(id) => {
                tracing::info!(held = %id, "a signup waits for its address to be confirmed");
                (self.follow_up).held(person, email, language, &id).await;
                Ok(Outcome::Stored(id))
            }
            Inserted::AlreadyStored(id) => Ok(Outcome::Stored(id)),
            Inserted::KeyTaken(id) => {
                tracing::info!(held = %id, "a used form was sent with another signup; a fresh form was offered");
                Ok(Outcome::FormUsed)
            }
        }
    }

    /// Tells the merchant of a new signup: a notice, and the `signup.stored` event.
    pub(super) async fn tell(&self, id: &SubmissionId, told: &Told, source: Source) {
        if let Some(notices) = self.notices {
            notices.tell(&told.notice(source.as_str()));
        }
        let more = json!({ "source": source.as_str(), "marketing_consent": told.consent });
        (self.events)
            .signup(EventKind::SignupStored, id, Some(&told.person), more)
            .await;
    }

    /// Whether anyone is told of new signups: the event webhook or the notices.
    pub(super) fn tells(&self) -> bool {
        self.events.is_on() || self.notices.is_some()
    }
}

/// What the `signup.stored` event tells of a signup, taken before it is stored.
pub(super) struct Told {
    person: Person,
    consent: bool,
}

impl Told {
    fn notice<'a>(&'a self, source: &'a str) -> NewSignupNotice<'a> {
        NewSignupNotice {
            first_name: self.person.first_name.as_deref(),
            last_name: self.person.last_name.as_deref(),
            email: &self.person.email,
            source,
            marketing_consent: self.consent,
        }
    }

    pub(super) fn of(signup: &NewSignup) -> Self {
        let text =
            |name: &Option<crate::domain::PersonName>| name.as_ref().map(|n| n.as_ref().to_owned());
        Self {
            person: Person {
                first_name: text(&signup.first_name),
                last_name: text(&signup.last_name),
                email: signup.email.as_ref().to_owned(),
                phone: signup.phone.as_ref().map(|p| p.as_ref().to_owned()),
            },
            consent: signup.marketing_consent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Actor, PersonKeys};

    fn event(kind: ConsentKind) -> ConsentEvent {
        ConsentEvent::now(
            PersonKeys::new(None).of("a@example.com"),
            kind,
            Actor::Visitor,
        )
    }

    #[test]
    fn an_address_is_proven_by_a_confirmation_since_the_last_erasure() {
        assert!(!proven(&[event(ConsentKind::Given)]));
        assert!(proven(&[
            event(ConsentKind::Given),
            event(ConsentKind::Confirmed)
        ]));
        let erased = [event(ConsentKind::Confirmed), event(ConsentKind::Erased)];
        assert!(!proven(&erased));
    }
}
