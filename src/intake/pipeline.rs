use std::net::IpAddr;
use std::sync::Arc;

use super::record::Told;
use super::screening::{BotReason, Screening, screen};
use super::store::{
    BotTally, Inserted, NewSubmission, Source, SubmissionStore, store_api_resend_apart,
};
use super::{FollowUp, Outcome};
use crate::alerts::SignupNotices;
use crate::captcha::{Captcha, CaptchaVerdict};
use crate::configuration::DoubleOptIn;
use crate::consent::{ConsentLedger, ConsentRecording, Withdrawn};
use crate::delivery::DeliveryHandle;
use crate::domain::{FormRules, IdempotencyKey, NewSignup, SignupForm, SourceTag};
use crate::events::Events;
use crate::form_token::{FormTokens, unix_now};
use crate::i18n::Language;
use crate::metrics::{IntakeMetrics, SignupOutcome, SignupSource};
use crate::rate_limit::{DeviceLimiter, FLOOD_DELAY, SubmissionLimiter, TooManyRequests};
use crate::storage::StorageError;

/// What the intake needs of the service, borrowed for one submission.
pub struct Intake<'a> {
    pub submissions: Arc<dyn SubmissionStore>,
    /// Bots turned away, counted in memory until the next flush.
    pub bots: &'a BotTally,
    pub limiter: &'a SubmissionLimiter,
    /// The counter tablets' allowance, per device.
    pub devices: &'a DeviceLimiter,
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
    /// The ledger: what is known of a person decides how their signup is taken.
    pub ledger: Arc<dyn ConsentLedger>,
    /// Who has withdrawn, in memory.
    pub withdrawn: &'a Withdrawn,
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
        /// Which form: the page, the merchant's iframe, or a counter tablet.
        door: FormDoor<'a>,
    },
    /// The JSON API, with the client's `Idempotency-Key`. Its post was counted against the
    /// limit at the door, before its body was read (see [`Intake::limit`]).
    Api { key: Option<IdempotencyKey> },
}

/// The forms served here, which differ in how they are shown and limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormDoor<'a> {
    /// The service's own page (`/`).
    Page,
    /// Inside the merchant's iframe (`/embed`): the same form, counted apart.
    Embed,
    /// A paired counter tablet (`/kiosk`), by its device id: every signup there comes from
    /// the shop's one address, so the device's own allowance counts, not the address's.
    Kiosk(&'a str),
}

impl Channel<'_> {
    fn source(&self) -> Source {
        match self {
            Channel::Form { .. } => Source::Form,
            Channel::Api { .. } => Source::Api,
        }
    }

    pub(super) fn metrics_source(&self) -> SignupSource {
        match self {
            Channel::Form { door, .. } => match door {
                FormDoor::Page => SignupSource::Form,
                FormDoor::Embed => SignupSource::Embed,
                FormDoor::Kiosk(_) => SignupSource::Kiosk,
            },
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
    /// Where the visitor came from, as the merchant named it (`src`, or the kiosk).
    pub source_tag: Option<SourceTag>,
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
            Channel::Form {
                door: FormDoor::Kiosk(device),
                ..
            } => self.devices.check(device),
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

    /// A paired tablet proved itself with its cookie, and shows no widget: a CAPTCHA there
    /// would only stop the customers.
    async fn check_captcha(&self, submission: &Submission<'_>) -> Option<Outcome> {
        if let Channel::Form {
            door: FormDoor::Kiosk(_),
            ..
        } = submission.channel
        {
            return None;
        }
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
        signup: NewSignup,
        submission: &Submission<'_>,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome, StorageError> {
        // The wording the visitor saw is what they agreed to: record it in their language.
        let consent_text = self.consent_text.map_or_else(
            || submission.language.text("consent-default"),
            str::to_owned,
        );
        let source = submission.channel.source();
        let person = self.consent.keys.of(signup.email.as_ref());
        let email = signup.email.as_ref().to_owned();
        let language = submission.language.tag();
        let known = self.known(&person).await?;
        // Under `marketing`, an address proven before needs no confirmation again.
        let opt_in = self.follow_up.for_person(known.proven);
        let consents = self.consents(&signup, submission, &consent_text, key.as_ref(), opt_in);
        let consented = signup.marketing_consent;
        let mut new = NewSubmission {
            signup,
            source,
            source_tag: submission.source_tag.clone(),
            consent_text,
            key,
            consents,
        };
        if opt_in == DoubleOptIn::All {
            return self.hold(new, person, &email, language).await;
        }
        // Under double opt-in a ticked box is consent only once confirmed: until then the
        // signup (and the customer in Clover) carries none; the ledger has the box. A
        // person who withdrew is not taken back by a form anyone could have sent.
        new.signup.marketing_consent &= opt_in == DoubleOptIn::Off && !known.withdrew;
        // Copied only when someone is told: the event webhook or the signup notices.
        let told = self.tells().then(|| Told::of(&new.signup));
        let inserted = store_api_resend_apart(new, |new| self.submissions.insert(new)).await?;
        if let Inserted::New(id) = &inserted {
            self.metrics
                .stored_from(submission.source_tag.as_ref().map(SourceTag::as_str));
            (self.follow_up)
                .after_stored(opt_in, person, &email, language, consented)
                .await;
            if let Some(told) = &told {
                self.tell(id, told, source).await;
            }
        }
        Ok(self.acknowledge(inserted, source))
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
