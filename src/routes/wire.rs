//! The bodies of a signup post, as the form and the JSON API send them: what the visitor
//! typed, and what the page (or the client) sends along to prove where it came from.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::Deserialize;

use crate::domain::{SignupForm, SourceTag};
use crate::i18n::Language;
use crate::intake::{Channel, Submission};

/// A signup post, urlencoded from the form or JSON from the API. Unknown keys are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct SignupBody {
    #[serde(flatten)]
    pub fields: SignupForm,
    /// The hidden input that names one rendered form (see `IdempotencyKey`).
    #[serde(default)]
    pub form_id: Option<String>,
    /// The signed token of the served form (see `form_token`).
    #[serde(default)]
    pub form_token: Option<String>,
    /// The honeypot: a field people never see or reach, so only bots fill it.
    #[serde(default)]
    pub website: Option<String>,
    /// The CAPTCHA widget's answer, when Turnstile is on.
    #[serde(default, rename = "cf-turnstile-response")]
    pub captcha_response: Option<String>,
    /// Where the visitor came from: the `src` of the form's address, sent back hidden.
    #[serde(default)]
    pub src: Option<String>,
}

impl SignupBody {
    /// The submission this body makes, come in by `channel` from `request`.
    pub fn submission<'a>(
        &'a self,
        channel: Channel<'a>,
        request: &'a HttpRequest,
        client_ip: Option<IpAddr>,
        language: Language,
    ) -> Submission<'a> {
        Submission {
            fields: &self.fields,
            channel,
            honeypot: self.website.as_deref(),
            captcha_response: self.captcha_response.as_deref(),
            client_ip,
            user_agent: request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|value| value.to_str().ok()),
            language,
            source_tag: self.src.as_deref().and_then(SourceTag::slug),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_post_gives_the_visitors_fields_and_the_hidden_ones() {
        let body = "first_name=Ada&email=ada%40example.com&birthday_day=7&marketing_consent=on\
                    &form_id=abcdefgh&form_token=1.2.3&website=&cf-turnstile-response=answer\
                    &unknown=ignored";
        let body: SignupBody = serde_urlencoded::from_str(body).unwrap();
        assert_eq!(body.fields.first_name.as_deref(), Some("Ada"));
        assert_eq!(body.fields.email.as_deref(), Some("ada@example.com"));
        assert_eq!(body.fields.birthday_day.as_deref(), Some("7"));
        assert!(body.fields.marketing_consent.unwrap().is_yes());
        assert_eq!(body.form_id.as_deref(), Some("abcdefgh"));
        assert_eq!(body.form_token.as_deref(), Some("1.2.3"));
        assert_eq!(body.website.as_deref(), Some(""));
        assert_eq!(body.captcha_response.as_deref(), Some("answer"));
    }

    #[test]
    fn a_json_post_may_send_numbers_and_booleans() {
        let body = r#"{"email": "ada@example.com", "birthday_month": 12, "birthday_year": 1990,
                       "marketing_consent": true, "website": "spam", "extra": [1, 2]}"#;
        let body: SignupBody = serde_json::from_str(body).unwrap();
        assert_eq!(body.fields.birthday_month.as_deref(), Some("12"));
        assert_eq!(body.fields.birthday_year.as_deref(), Some("1990"));
        assert!(body.fields.marketing_consent.unwrap().is_yes());
        assert_eq!(body.website.as_deref(), Some("spam"));
        assert!(serde_json::from_str::<SignupBody>(r#"{"email": ["a"]}"#).is_err());
        assert!(serde_json::from_str::<SignupBody>(r#"{"form_token": 5}"#).is_err());
    }
}
