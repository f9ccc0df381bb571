use super::pipeline::{Channel, Submission};
use crate::domain::IdempotencyKey;
use crate::form_token::{FormTokens, TokenVerdict};

/// Why a submission was taken for a bot's; the admin page counts each reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotReason {
    /// The field people never see was filled.
    Honeypot,
    /// A form not served here: no token, a forged one, or one served with another id.
    BadToken,
    /// Sent back sooner than a person can fill the form in.
    TooFast,
}

impl BotReason {
    pub const ALL: [BotReason; 3] = [Self::Honeypot, Self::BadToken, Self::TooFast];

    /// The name the counts are kept and shown under.
    pub fn as_str(self) -> &'static str {
        match self {
            BotReason::Honeypot => "honeypot",
            BotReason::BadToken => "bad_token",
            BotReason::TooFast => "too_fast",
        }
    }
}

/// What the hidden fields say about who sent a submission.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Screening {
    /// A person, sending under this idempotency key: a served form's id, or the API
    /// client's `Idempotency-Key`.
    Person(Option<IdempotencyKey>),
    Bot(BotReason),
    /// A person who left the form open for hours: ask again, keep their input, keep the id.
    Expired(IdempotencyKey),
}

/// The honeypot for every door; the form token for a served form. The JSON API has no
/// served form, so no token: its other screens are the CAPTCHA, the limit and the
/// `Origin` check.
pub(super) fn screen(tokens: &FormTokens, submission: &Submission<'_>, now_secs: i64) -> Screening {
    if submission
        .honeypot
        .is_some_and(|value| !value.trim().is_empty())
    {
        return Screening::Bot(BotReason::Honeypot);
    }
    match &submission.channel {
        Channel::Api { key } => Screening::Person(key.clone()),
        Channel::Form {
            form_id,
            form_token,
            ..
        } => screen_form(tokens, *form_id, *form_token, now_secs),
    }
}

fn screen_form(
    tokens: &FormTokens,
    form_id: Option<&str>,
    form_token: Option<&str>,
    now_secs: i64,
) -> Screening {
    let key = form_id.and_then(IdempotencyKey::parse);
    match tokens.verify(form_token, form_id, now_secs) {
        // Every id a token is issued for is a valid key.
        TokenVerdict::Valid => match key {
            Some(key) => Screening::Person(Some(key)),
            None => Screening::Bot(BotReason::BadToken),
        },
        TokenVerdict::Expired => Screening::Expired(key.unwrap_or_else(IdempotencyKey::random)),
        TokenVerdict::TooFast => Screening::Bot(BotReason::TooFast),
        TokenVerdict::Forged => Screening::Bot(BotReason::BadToken),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::SignupForm;
    use crate::i18n::Language;
    use crate::intake::FormDoor;

    const NOW: i64 = 1_800_000_000;
    const FORM_ID: &str = "0b6f3c1e-5a4d-4f7e-9a2b-3c4d5e6f7a8b";

    fn submission<'a>(fields: &'a SignupForm, channel: Channel<'a>) -> Submission<'a> {
        Submission {
            fields,
            channel,
            honeypot: None,
            captcha_response: None,
            client_ip: None,
            user_agent: None,
            language: Language::reference(),
            source_tag: None,
        }
    }

    #[test]
    fn a_filled_honeypot_is_a_bot_at_every_door() {
        let tokens = FormTokens::new(None, Duration::ZERO);
        let fields = SignupForm::default();
        for channel in [
            Channel::Api { key: None },
            Channel::Form {
                form_id: None,
                form_token: None,
                door: FormDoor::Page,
            },
        ] {
            let mut sent = submission(&fields, channel);
            sent.honeypot = Some("http://spam.example");
            assert_eq!(
                screen(&tokens, &sent, NOW),
                Screening::Bot(BotReason::Honeypot)
            );
            sent.honeypot = Some("  ");
            assert_ne!(
                screen(&tokens, &sent, NOW),
                Screening::Bot(BotReason::Honeypot)
            );
        }
    }

    #[test]
    fn a_served_form_is_a_person_under_its_id_and_an_unserved_one_a_bot() {
        let tokens = FormTokens::new(None, Duration::from_secs(3));
        let fields = SignupForm::default();
        let token = tokens.issue(NOW - 10, FORM_ID);
        let form = |form_id, form_token| Channel::Form {
            form_id,
            form_token,
            door: FormDoor::Page,
        };
        let key = IdempotencyKey::parse(FORM_ID);
        let sent = submission(&fields, form(Some(FORM_ID), Some(&token)));
        assert_eq!(screen(&tokens, &sent, NOW), Screening::Person(key.clone()));
        let hasty = submission(&fields, form(Some(FORM_ID), Some(&token)));
        assert_eq!(
            screen(&tokens, &hasty, NOW - 9),
            Screening::Bot(BotReason::TooFast)
        );
        let other_id = submission(&fields, form(Some("another-form-id"), Some(&token)));
        assert_eq!(
            screen(&tokens, &other_id, NOW),
            Screening::Bot(BotReason::BadToken)
        );
        let expired = submission(&fields, form(Some(FORM_ID), Some(&token)));
        assert_eq!(
            screen(&tokens, &expired, NOW + 3 * 3600),
            Screening::Expired(key.unwrap())
        );
    }
}
