use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;

use super::screening::{BotReason, Screening, screen};
use super::store::{BotTally, Inserted, NewSubmission, Source, SubmissionStore};
use super::{FollowUp, Outcome};
use crate::alerts::{NewSignupNotice, SignupNotices};
use crate::captcha::{Captcha, CaptchaVerdict};
use crate::configuration::DoubleOptIn;
use crate::consent::PersonKey;
use crate::consent::{ConsentChannel, ConsentEvent, ConsentRecording, Given, Wording, sms_wording};
use crate::delivery::DeliveryHandle;
use crate::domain::{FormRules, IdempotencyKey, NewSignup, SignupForm};
use crate::events::{EventKind, Events, Person};
use crate::form_token::{FormTokens, unix_now};
use crate::i18n::Language;
use crate::metrics::{IntakeMetrics, SignupOutcome, SignupSource};
use crate::rate_limit::{FLOOD_DELAY, SubmissionLimiter, TooManyRequests};
use crate::storage::{StorageError, SubmissionId};

/// What the intake needs of the service, borrowed for one submission.
pub struct Intake<'a> {
    pub submissions: Arc<dyn SubmissionStore>,
    /// Bots turned away, counted in memory until the next flush.
    pub bots: &'a BotTally,
    pub limiter: &'a SubmissionLimiter,
    pub form_tokens: &'a FormTokens,
    /// Present when Turnstile is configured.
    pub captcha: Option<&'a Captcha>,
    pub delivery: &'a DeliveryHandle,
    pub events: &'a Events,
    /// A message to the merchant for every new signup, when asked for.
    pub notices: Option<&'a Arc<SignupNotices>>,
    pub rules: &'a FormRules,
    /// `CONSENT_TEXT`, or `None` for the catalogue's wording in the visitor's language.
    pub consent_text: Option<&'a str>,
    /// `SMS_CONSENT_TEXT`, or `None` for the catalogue's, which names the merchant.
    pub sms_consent_text: Option<&'a str>,
    pub merchant_name: Option<&'a str>,
    /// Counts every outcome, by door, for `/metrics`.
    pub metrics: &'a IntakeMetrics,
    /// How a consent given is recorded in the ledger.
    pub consent: &'a ConsentRecording,
    /// Double opt-in and the emails that follow a signup.
    pub follow_up: FollowUp<'a>,
}

/// The door a submission came in by, with what that door proves about it.
#[derive(Debug)]
pub enum Channel<'a> {
    /// A form served here (the page or the embed), with its hidden inputs as sent back.
    Form {
        form_id: Option<&'a str>,
        form_token: Option<&'a str>,
        /// Posted from the merchant's iframe (`/embed`): the same form, counted apart.
        embedded: bool,
    },
    /// The JSON API, with the client's `Idempotency-Key`. Its post was counted against the
    /// limit at the door, before its body was read (see [`Intake::limit`]).
    Api { key: Option<IdempotencyKey> },
}

impl Channel<'_> {
    fn source(&self) -> Source {
        match self {
            Channel::Form { .. } => Source::Form,
            Channel::Api { .. } => Source::Api,
        }
    }

    fn metrics_source(&self) -> SignupSource {
        match self {
            Channel::Form {
                embedded: false, ..
            } => SignupSource::Form,
            Channel::Form { embedded: true, .. } => SignupSource::Embed,
            Channel::Api { .. } => SignupSource::Api,
        }
    }
}

/// A submission as its door read it.
#[derive(Debug)]
pub struct Submission<'a> {
    /// What the visitor typed.
    pub fields: &'a SignupForm,
    pub channel: Channel<'a>,
    /// The honeypot field (`website`), which only bots fill.
    pub honeypot: Option<&'a str>,
    /// The CAPTCHA widget's answer (`cf-turnstile-response`).
    pub captcha_response: Option<&'a str>,
    /// The visitor's address, by [`SubmissionLimiter::client_ip`].
    pub client_ip: Option<IpAddr>,
    /// The browser's `User-Agent`, kept with a consent as evidence.
    pub user_agent: Option<&'a str>,
    /// The visitor's language: the consent wording they saw is the one stored.
    pub language: Language,
}

impl Intake<'_> {
    /// Counts one post against the visitor's allowance. A flood's refusal is held back by
    /// [`FLOOD_DELAY`]: waiting costs nothing, and a flooder that waits sends far less.
    async fn limit(&self, client_ip: Option<IpAddr>) -> Result<(), TooManyRequests> {
        let checked = self.limiter.check_address(client_ip);
        if checked.is_err_and(|refused| refused.flooding) {
            tokio::time::sleep(FLOOD_DELAY).await;
        }
        checked
    }

    /// The JSON API's door: every post counts against the visitor's allowance before its
    /// body is read. A refusal here is the API signup's outcome, counted as such.
    pub async fn admit(&self, client_ip: Option<IpAddr>) -> Result<(), TooManyRequests> {
        let admitted = self.limit(client_ip).await;
        if admitted.is_err() {
            self.metrics
                .signup(SignupSource::Api, SignupOutcome::RateLimited);
        }
        admitted
    }

    /// Screens, parses, limits, asks the CAPTCHA, then stores durably: the visitor is
    /// answered only after the commit, and Clover is never called here. Every outcome is
    /// counted, by door.
    pub async fn take(&self, submission: Submission<'_>) -> Result<Outcome, StorageError> {
        let source = submission.channel.metrics_source();
        let taken = self.take_uncounted(submission).await;
        self.metrics.signup(source, counted_as(&taken));
        taken
    }

    async fn take_uncounted(&self, submission: Submission<'_>) -> Result<Outcome, StorageError> {
        let key = match screen(self.form_tokens, &submission, unix_now()) {
            Screening::Person(key) => key,
            Screening::Bot(reason) => return Ok(self.turn_away(&submission, reason).await),
            Screening::Expired(form_id) => return Ok(Outcome::Expired(form_id)),
        };
        let signup = match submission.fields.parse(self.rules) {
            Ok(signup) => signup,
            Err(errors) => return Ok(Outcome::Invalid(errors)),
        };
        // A person's mistakes, answered above, write nothing and cost nothing of the
        // limit: someone correcting a form three times is not a flood. What would be
        // stored is limited before anything else is done with it.
        if let Err(refused) = self.count(&submission).await {
            return Ok(Outcome::TooMany(refused));
        }
        if let Some(refused) = self.check_captcha(&submission).await {
            return Ok(refused);
        }
        let stored = self.store(signup, &submission, key).await;
        // The visitor must be told, not thanked; the operator must be told why.
        stored.inspect_err(|error| tracing::error!(%error, "a submission could not be stored"))
    }

    /// A form's post counts here, once it is one to store or to count; an API post
    /// counted at the door.
    async fn count(&self, submission: &Submission<'_>) -> Result<(), TooManyRequests> {
        match submission.channel {
            Channel::Form { .. } => self.limit(submission.client_ip).await,
            Channel::Api { .. } => Ok(()),
        }
    }

    /// Limited like any signup before it is counted, so a flood of bots is answered as
    /// cheaply as any other; then nothing is kept but a count, in memory until the next
    /// flush.
    async fn turn_away(&self, submission: &Submission<'_>, reason: BotReason) -> Outcome {
        if let Err(refused) = self.count(submission).await {
            return Outcome::TooMany(refused);
        }
        let source = Source::as_str(submission.channel.source());
        tracing::info!(
            reason = reason.as_str(),
            source,
            "a bot submission was turned away"
        );
        self.bots.count(reason.as_str());
        self.metrics.bot(reason.as_str());
        Outcome::Bot(reason)
    }

    async fn check_captcha(&self, submission: &Submission<'_>) -> Option<Outcome> {
        let captcha = self.captcha?;
        let ip = submission.client_ip.map(|ip| ip.to_string());
        match captcha
            .verify(submission.captcha_response, ip.as_deref())
            .await
        {
            CaptchaVerdict::Passed => None,
            CaptchaVerdict::Failed => Some(Outcome::CaptchaFailed),
            CaptchaVerdict::Unavailable => Some(Outcome::CaptchaUnavailable),
        }
    }

    async fn store(
        &self,
        mut signup: NewSignup,
        submission: &Submission<'_>,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome, StorageError> {
        // The wording the visitor saw is what they agreed to: record it in their language.
        let consent_text = self.consent_text.map_or_else(
            || submission.language.text("consent-default"),
            str::to_owned,
        );
        let source = submission.channel.source();
        let consents = self.consents(&signup, submission, &consent_text, key.as_ref());
        let consented = signup.marketing_consent;
        let person = self.consent.keys.of(signup.email.as_ref());
        let email = signup.email.as_ref().to_owned();
        let language = submission.language.tag();
        if self.follow_up.double_opt_in == DoubleOptIn::All {
            let held = NewSubmission {
                signup,
                source,
                consent_text,
                key,
                consents,
            };
            return self.hold(held, person, &email, language).await;
        }
        // Under double opt-in a ticked box is consent only once confirmed: until then the
        // signup (and the customer in Clover) carries none; the ledger has the box.
        signup.marketing_consent &= !self.follow_up.needs_confirmation();
        // Only a served form is one signup. A reused API key with other content (a
        // corrected resend, or another client's key) is stored on its own, as the API has
        // always done: keep what a second insert needs.
        let retry = (source == Source::Api && key.is_some())
            .then(|| (signup.clone(), consent_text.clone()));
        // Copied only when someone is told: the event webhook or the signup notices.
        let told = (self.events.is_on() || self.notices.is_some()).then(|| Told::of(&signup));
        let mut inserted = self
            .submissions
            .insert(NewSubmission {
                signup,
                source,
                consent_text,
                key,
                consents: consents.clone(),
            })
            .await?;
        if let (Inserted::KeyTaken(_), Some((signup, consent_text))) = (&inserted, retry) {
            inserted = self
                .submissions
                .insert(NewSubmission {
                    signup,
                    source,
                    consent_text,
                    key: None,
                    consents,
                })
                .await?;
        }
        if let Inserted::New(id) = &inserted {
            (self.follow_up)
                .after_stored(person, &email, language, consented)
                .await;
            if let Some(told) = &told {
                self.tell(id, told, source).await;
            }
        }
        Ok(self.acknowledge(inserted, source))
    }

    /// `DOUBLE_OPT_IN=all`: the signup waits for its visitor to confirm the address,
    /// neither counted nor delivered; they are thanked all the same, and told to look
    /// for the email. A resend is held once and mailed once.
    async fn hold(
        &self,
        held: NewSubmission,
        person: PersonKey,
        email: &str,
        language: &str,
    ) -> Result<Outcome, StorageError> {
        let consented = held.signup.marketing_consent;
        let inserted = self.submissions.hold(held, &person).await?;
        if let Inserted::New(id) = &inserted {
            tracing::info!(held = %id, "a signup waits for its address to be confirmed");
            (self.follow_up)
                .after_stored(person, email, language, consented)
                .await;
        }
        Ok(Outcome::Stored(inserted.id().clone()))
    }

    /// Tells the merchant of a new signup: a notice, and the `signup.stored` event.
    async fn tell(&self, id: &SubmissionId, told: &Told, source: Source) {
        if let Some(notices) = self.notices {
            notices.tell(&told.notice(source.as_str()));
        }
        let more = json!({ "source": source.as_str(), "marketing_consent": told.consent });
        (self.events)
            .signup(EventKind::SignupStored, id, Some(&told.person), more)
            .await;
    }

    /// The consents given with `signup`, for the ledger: the email box's and the text
    /// message box's, each when ticked, each with its own words.
    fn consents(
        &self,
        signup: &NewSignup,
        submission: &Submission<'_>,
        consent_text: &str,
        key: Option<&IdempotencyKey>,
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
                source: submission.channel.metrics_source().as_str(),
                form_id,
                ip_address: submission.client_ip,
                user_agent: submission.user_agent,
                needs_confirmation,
            })
        };
        let mut consents = Vec::new();
        if signup.marketing_consent {
            let needs_confirmation = self.follow_up.needs_confirmation();
            consents.push(given(
                ConsentChannel::Email,
                consent_text,
                needs_confirmation,
            ));
        }
        if signup.sms_consent {
            let words = sms_wording(self.sms_consent_text, language, self.merchant_name);
            // A link in an email proves the address, not the phone: double opt-in is the
            // email's.
            consents.push(given(ConsentChannel::Sms, &words, false));
        }
        consents
    }

    fn acknowledge(&self, inserted: Inserted, source: Source) -> Outcome {
        let source = Source::as_str(source);
        match inserted {
            Inserted::New(id) => {
                tracing::info!(submission = %id, source, "signup stored and queued");
                self.delivery.wake();
                Outcome::Stored(id)
            }
            Inserted::AlreadyStored(id) => {
                tracing::info!(submission = %id, source, "the same signup was sent again");
                Outcome::Stored(id)
            }
            Inserted::KeyTaken(id) => {
                tracing::info!(
                    submission = %id,
                    source,
                    "a used form was sent with another signup; a fresh form was offered"
                );
                Outcome::FormUsed
            }
        }
    }
}

/// What the `signup.stored` event tells of a signup, taken before it is stored.
struct Told {
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

    fn of(signup: &NewSignup) -> Self {
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

/// The outcome's label in `/metrics`.
fn counted_as(taken: &Result<Outcome, StorageError>) -> SignupOutcome {
    match taken {
        Ok(Outcome::Stored(_)) => SignupOutcome::Stored,
        Ok(Outcome::Bot(_)) => SignupOutcome::Bot,
        Ok(Outcome::Expired(_)) => SignupOutcome::Expired,
        Ok(Outcome::Invalid(_)) => SignupOutcome::Invalid,
        Ok(Outcome::TooMany(_)) => SignupOutcome::RateLimited,
        Ok(Outcome::CaptchaFailed) => SignupOutcome::CaptchaFailed,
        Ok(Outcome::CaptchaUnavailable) => SignupOutcome::CaptchaUnavailable,
        Ok(Outcome::FormUsed) => SignupOutcome::FormUsed,
        Err(_) => SignupOutcome::NotStored,
    }
}
