//! What the visitor reads about their input and their submission, in their language.
//! The domain names the problem; the words are chosen here.

use std::collections::BTreeMap;

use crate::domain::{FieldError, FormErrors, Input};
use crate::i18n::{Arg, Language};

/// The message for `error` about `input`: the server's and, through the page's data
/// attributes, the script's.
pub fn field_message(input: Input, error: &FieldError, language: Language) -> String {
    match error {
        FieldError::Required => {
            language.text_with("error-required", &[("input", Arg::Text(input.name()))])
        }
        FieldError::TooLong { max } => {
            let label = language.text(&input.label_id());
            language.text_with(
                "error-too-long",
                &[("label", Arg::Text(&label)), ("max", Arg::count(*max))],
            )
        }
        FieldError::ControlCharacters => {
            let label = language.text(&input.label_id());
            language.text_with("error-control-characters", &[("label", Arg::Text(&label))])
        }
        FieldError::InvisibleCharacters => {
            let label = language.text(&input.label_id());
            language.text_with(
                "error-invisible-characters",
                &[("label", Arg::Text(&label))],
            )
        }
        FieldError::InvalidEmail => language.text("error-email"),
        FieldError::InvalidPhone => language.text("error-phone"),
        FieldError::PhoneDigits { min, max } => language.text_with(
            "error-phone-digits",
            &[("min", Arg::count(*min)), ("max", Arg::count(*max))],
        ),
        FieldError::InvalidConsent => language.text("error-consent"),
        FieldError::SmsNeedsPhone => language.text("error-sms-needs-phone"),
        FieldError::BirthdayNumbers => language.text("error-birthday-numbers"),
        FieldError::BirthdayDate => language.text("error-birthday-date"),
        FieldError::BirthdayYear { min, max } => language.text_with(
            "error-birthday-year",
            &[
                ("min", Arg::Number((*min).into())),
                ("max", Arg::Number((*max).into())),
            ],
        ),
        FieldError::InvalidCountry => language.text("error-country"),
    }
}

/// The messages about one input, in the order its problems were found.
pub fn error_messages(errors: &FormErrors, input: Input, language: Language) -> Vec<String> {
    errors
        .of(input)
        .iter()
        .map(|error| field_message(input, error, language))
        .collect()
}

/// The `{"field": ["message", ...]}` map of the JSON API.
pub fn error_map(errors: &FormErrors, language: Language) -> BTreeMap<&'static str, Vec<String>> {
    errors
        .inputs()
        .map(|input| (input.name(), error_messages(errors, input, language)))
        .collect()
}

/// A message above the form that is about no one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The form sat open longer than its token lives.
    Expired,
    /// The served form already stored another signup; this one is a fresh form.
    FormUsed,
    CaptchaFailed,
    CaptchaUnavailable,
    RateLimited {
        retry_after_secs: u64,
    },
    /// The database could not store the signup just now: the visitor sends it again.
    NotSaved,
}

impl Notice {
    pub fn text(self, language: Language) -> String {
        match self {
            Notice::Expired => language.text("notice-expired"),
            Notice::FormUsed => language.text("notice-form-used"),
            Notice::CaptchaFailed => language.text("notice-captcha-failed"),
            Notice::CaptchaUnavailable => language.text("notice-captcha-unavailable"),
            Notice::NotSaved => language.text("notice-not-saved"),
            Notice::RateLimited { retry_after_secs } => language.text_with(
                "notice-rate-limited",
                &[("seconds", Arg::count(retry_after_secs))],
            ),
        }
    }
}

/// What went wrong on a visitor's way, for [`super::visitor_error_page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitorError {
    /// The body was not a form at all.
    Malformed,
    /// A post from a site that may not post here.
    Forbidden,
    /// The database did not answer: try again in a moment.
    Unavailable,
}

impl VisitorError {
    /// The catalogue ids of the page's title and message.
    pub(super) fn message_ids(self) -> (&'static str, &'static str) {
        match self {
            VisitorError::Malformed => ("error-malformed-title", "error-malformed-message"),
            VisitorError::Forbidden => ("error-forbidden-title", "error-forbidden-message"),
            VisitorError::Unavailable => ("error-unavailable-title", "error-unavailable-message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FormRules, SignupForm};

    fn form(first: &str, email: &str) -> SignupForm {
        SignupForm {
            first_name: Some(first.into()),
            last_name: Some("Lovelace".into()),
            email: Some(email.into()),
            ..SignupForm::default()
        }
    }

    #[test]
    fn the_messages_speak_the_visitors_language() {
        let errors = form("", "nope").parse(&FormRules::default()).unwrap_err();
        let spanish = Language::from_tag("es").unwrap();
        let english = error_messages(&errors, Input::Email, Language::reference());
        assert_ne!(error_messages(&errors, Input::Email, spanish), english);
        assert_eq!(english, ["Enter an email address like name@example.com."]);
    }

    #[test]
    fn a_required_field_left_blank_is_named() {
        let message = field_message(Input::Phone, &FieldError::Required, Language::reference());
        assert_eq!(message, "Enter your phone number.");
    }
}
