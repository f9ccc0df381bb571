//! What follows a stored signup for the visitor, and the confirmation that double opt-in
//! waits for. With double opt-in, a confirmation email; without, the merchant's welcome,
//! if on. The emails themselves are queued in the outbox and sent, or not, by `mail`,
//! which reads the person's consent first. Confirming records `confirmed` for each
//! consent that waited, and stores the signup held for it (`DOUBLE_OPT_IN=all`) as any
//! other: counted, told and delivered.

use std::net::IpAddr;

use super::pipeline::Intake;
use super::record::Told;
use super::store::{HeldSignup, Inserted};
use crate::configuration::DoubleOptIn;
use crate::consent::{
    Actor, Confirmation, ConsentChannel, ConsentEvent, ConsentKind, ConsentState, Evidence,
    PersonKey, confirmable, standing,
};
use crate::domain::{IdempotencyKey, SourceTag};
use crate::i18n::Language;
use crate::mail::{MailKind, Mailbag, VisitorMail};
use crate::storage::StorageError;

pub struct FollowUp<'a> {
    /// `DOUBLE_OPT_IN`
    pub double_opt_in: DoubleOptIn,
    /// `WELCOME_EMAIL`
    pub welcome: bool,
    pub mail: &'a Mailbag,
}

impl FollowUp<'_> {
    /// What double opt-in asks of a person's signup. Under `marketing`, nothing once
    /// they proved their address: the confirmation was of their email consent, which a
    /// new form neither adds to nor undoes. Under `all`, every signup waits for its own
    /// confirmation: knowing an address confirmed once is not owning it, and a signup
    /// sent with it by anyone would otherwise reach Clover, and give consent, unasked.
    pub fn for_person(&self, proven: bool) -> DoubleOptIn {
        match self.double_opt_in {
            DoubleOptIn::Marketing if proven => DoubleOptIn::Off,
            opt_in => opt_in,
        }
    }

    /// The email a signup newly stored under `opt_in` calls for, if any. With double
    /// opt-in the welcome waits for the confirmation: an address nobody confirmed gets at
    /// most a confirmation, whatever a bot types into the form.
    pub fn first_email(&self, opt_in: DoubleOptIn, consented: bool) -> Option<MailKind> {
        match opt_in {
            DoubleOptIn::Off => self.welcome.then_some(MailKind::Welcome),
            DoubleOptIn::Marketing => consented.then_some(MailKind::Confirmation),
            DoubleOptIn::All => Some(MailKind::Confirmation),
        }
    }

    /// Queues the email a signup newly stored calls for.
    pub async fn after_stored(
        &self,
        opt_in: DoubleOptIn,
        person: PersonKey,
        email: &str,
        language: &str,
        consented: bool,
    ) {
        if let Some(kind) = self.first_email(opt_in, consented) {
            let mail = VisitorMail::new(kind, person, email, language);
            self.mail.post(mail).await;
        }
    }

    /// Queues the confirmation of the held signup `id`.
    pub async fn held(
        &self,
        person: PersonKey,
        email: &str,
        language: &str,
        id: &crate::storage::SubmissionId,
    ) {
        let mail = VisitorMail::new(MailKind::Confirmation, person, email, language);
        self.mail.post(mail.confirming(id.as_ref())).await;
    }
}

/// What became of a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// Confirmed, now or before (or nothing waits any more): the visitor is thanked.
    Done,
    /// The person unsubscribed after the link was sent: nothing was changed.
    Withdrew,
}

/// Where a confirmation came from: its evidence.
pub struct ConfirmedFrom<'a> {
    pub ip_address: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// The page's language, which a welcome speaks.
    pub language: Language,
}

impl Intake<'_> {
    /// The signup `link` names, while it waits for its confirmation.
    pub async fn held_for(&self, link: &Confirmation) -> Result<Option<HeldSignup>, StorageError> {
        let Some(id) = &link.signup else {
            return Ok(None);
        };
        let held = self.submissions.held(&link.person).await?;
        Ok(held.into_iter().find(|h| h.id.as_ref() == id))
    }

    /// Confirms what `link` names, once: a second press, or a link to a signup already
    /// stored or erased, changes nothing and is answered the same.
    pub async fn confirm(
        &self,
        link: &Confirmation,
        from: ConfirmedFrom<'_>,
    ) -> Result<Confirmed, StorageError> {
        let history = self.ledger.history(&link.person).await?;
        let standings = standing(&history);
        let withdrew_since = standings.get(&ConsentChannel::Email).is_some_and(|s| {
            s.state == ConsentState::Withdrawn && s.since_ms > link.issued_secs * 1000
        });
        if withdrew_since {
            return Ok(Confirmed::Withdrew);
        }
        let held = self.held_for(link).await?;
        let waiting = confirmable(&history, link.signup.as_deref(), link.issued_secs);
        let email = held.as_ref().map(|h| h.content.email.clone()).or_else(|| {
            history
                .iter()
                .rev()
                .find_map(|event| event.evidence.as_ref())
                .map(|evidence| evidence.email.clone())
        });
        let (Some(email), true) = (email, held.is_some() || !waiting.is_empty()) else {
            return Ok(Confirmed::Done);
        };
        let evidence = self
            .consent
            .evidence(&email, None, from.ip_address, from.user_agent);
        self.record_confirmed(link, waiting, evidence).await?;
        if let Some(held) = held {
            self.store_confirmed(held).await?;
        }
        tracing::info!("a visitor confirmed their address");
        if self.follow_up.welcome {
            let welcome = VisitorMail::new(
                MailKind::Welcome,
                link.person.clone(),
                &email,
                from.language.tag(),
            );
            self.follow_up.mail.post(welcome).await;
        }
        Ok(Confirmed::Done)
    }

    /// One confirmation for each consent the link confirms, naming the signup it was
    /// given with; with none (a signup held without a ticked box), one that confirms the
    /// address, naming the link's signup.
    async fn record_confirmed(
        &self,
        link: &Confirmation,
        waiting: Vec<(ConsentChannel, Option<String>)>,
        evidence: Evidence,
    ) -> Result<(), StorageError> {
        let confirmations: Vec<(Option<ConsentChannel>, Option<String>)> = if waiting.is_empty() {
            vec![(None, link.signup.clone())]
        } else {
            waiting
                .into_iter()
                .map(|(channel, signup)| (Some(channel), signup))
                .collect()
        };
        for (channel, signup) in confirmations {
            let mut event =
                ConsentEvent::now(link.person.clone(), ConsentKind::Confirmed, Actor::Visitor)
                    .from_source("confirm");
            event.channel = channel;
            event.submission_id = signup;
            event.evidence = Some(evidence.clone());
            self.ledger.record(event).await?;
        }
        Ok(())
    }

    /// Stores a held signup now confirmed, as any signup: under its form's key (or its
    /// own id), so that confirming twice stores it once; then the merchant is told and the
    /// worker woken.
    async fn store_confirmed(&self, held: HeldSignup) -> Result<(), StorageError> {
        let Some(mut submission) = held.confirmed() else {
            tracing::warn!(held = %held.id, "a confirmed signup could not be read back; it is dropped");
            return self.submissions.release(&held.id).await;
        };
        if submission.key.is_none() {
            submission.key = IdempotencyKey::parse(held.id.as_ref());
        }
        let source = submission.source;
        let source_tag = submission.source_tag.clone();
        let told = self.tells().then(|| Told::of(&submission.signup));
        let inserted = self.submissions.insert(submission).await?;
        if let Inserted::New(id) = &inserted {
            self.metrics
                .stored_from(source_tag.as_ref().map(SourceTag::as_str));
            tracing::info!(submission = %id, held = %held.id, "a confirmed signup was stored and queued");
            if let Some(told) = &told {
                self.tell(id, told, source).await;
            }
            self.delivery.wake();
        }
        self.submissions.release(&held.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow_up(double_opt_in: DoubleOptIn, welcome: bool) -> FollowUp<'static> {
        static NOWHERE: std::sync::LazyLock<Mailbag> = std::sync::LazyLock::new(Mailbag::default);
        FollowUp {
            double_opt_in,
            welcome,
            mail: &NOWHERE,
        }
    }

    #[test]
    fn with_double_opt_in_the_first_email_is_always_the_confirmation() {
        let off = follow_up(DoubleOptIn::Off, true);
        assert_eq!(
            off.first_email(DoubleOptIn::Off, false),
            Some(MailKind::Welcome)
        );
        let none = follow_up(DoubleOptIn::Off, false);
        assert_eq!(none.first_email(DoubleOptIn::Off, true), None);
        let marketing = follow_up(DoubleOptIn::Marketing, true);
        let asked = marketing.for_person(false);
        assert_eq!(
            marketing.first_email(asked, true),
            Some(MailKind::Confirmation)
        );
        assert_eq!(
            marketing.first_email(asked, false),
            None,
            "nothing to confirm, no welcome yet"
        );
        let all = follow_up(DoubleOptIn::All, false);
        assert_eq!(all.for_person(false), DoubleOptIn::All);
        assert_eq!(
            all.for_person(true),
            DoubleOptIn::All,
            "an address proven before still confirms each signup"
        );
        assert_eq!(marketing.for_person(true), DoubleOptIn::Off);
    }
}
