use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use super::{EmailAddress, PersonName, PhoneNumber};

/// A field of the signup form, in the order the form shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    MarketingConsent,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::MarketingConsent,
    ];

    /// The name used by the form, the JSON API and `FORM_REQUIRED`.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::MarketingConsent => "marketing_consent",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// The label a visitor reads.
    pub fn label(self) -> &'static str {
        match self {
            Field::FirstName => "First name",
            Field::LastName => "Last name",
            Field::Email => "Email address",
            Field::Phone => "Phone number",
            Field::MarketingConsent => "Marketing consent",
        }
    }
}

/// Why a value was refused. The message is written for the visitor who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Required,
    TooLong { max: usize },
    ControlCharacters,
    InvalidEmail,
    InvalidPhone,
    PhoneDigits { min: usize, max: usize },
    InvalidConsent,
}

impl FieldError {
    pub fn message(&self, field: Field) -> String {
        let label = field.label();
        match self {
            FieldError::Required => format!("Enter your {}.", label.to_lowercase()),
            FieldError::TooLong { max } => format!("{label} must be at most {max} characters."),
            FieldError::ControlCharacters => {
                format!("{label} contains characters that cannot be saved.")
            }
            FieldError::InvalidEmail => "Enter an email address like name@example.com.".to_owned(),
            FieldError::InvalidPhone => {
                "Enter a phone number using digits, spaces, dashes or brackets, with an optional + \
                 at the start."
                    .to_owned()
            }
            FieldError::PhoneDigits { min, max } => {
                format!("A phone number has {min} to {max} digits.")
            }
            FieldError::InvalidConsent => "Tick the box, or leave it empty.".to_owned(),
        }
    }
}

/// Every problem with a submission, by field, so the form is shown once with all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors(BTreeMap<Field, Vec<String>>);

impl FormErrors {
    pub fn add(&mut self, field: Field, error: &FieldError) {
        self.0.entry(field).or_default().push(error.message(field));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn for_field(&self, field: Field) -> &[String] {
        self.0.get(&field).map(Vec::as_slice).unwrap_or_default()
    }

    /// Fields with errors, in the order the form shows them.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &[String])> {
        self.0
            .iter()
            .map(|(field, messages)| (*field, messages.as_slice()))
    }

    /// The `{"field": ["message", ...]}` map of the JSON API.
    pub fn to_map(&self) -> BTreeMap<&'static str, Vec<String>> {
        self.iter()
            .map(|(field, messages)| (field.name(), messages.to_vec()))
            .collect()
    }
}

impl fmt::Display for FormErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.keys().map(|field| field.name()).collect();
        write!(f, "invalid fields: {}", names.join(", "))
    }
}

/// Which fields a visitor must fill (`FORM_REQUIRED`). Email is always among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRules {
    pub required: BTreeSet<Field>,
}

impl Default for FormRules {
    fn default() -> Self {
        Self {
            required: [Field::FirstName, Field::LastName, Field::Email].into(),
        }
    }
}

impl FormRules {
    pub fn is_required(&self, field: Field) -> bool {
        self.required.contains(&field)
    }
}

/// The signup exactly as it arrived, from the form or as JSON. Every field may be missing;
/// unknown fields (such as the form's hidden inputs) are ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The checkbox sends `on` when ticked and nothing otherwise; the JSON API sends a boolean.
    #[serde(default)]
    pub marketing_consent: Option<ConsentAnswer>,
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
}

/// A consent answer in either of its accepted spellings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ConsentAnswer {
    Bool(bool),
    Text(String),
}

impl ConsentAnswer {
    /// Whether the answer is a clear yes (for showing the box ticked again).
    pub fn is_yes(&self) -> bool {
        matches!(self.parse(), Ok(true))
    }

    fn parse(&self) -> Result<bool, FieldError> {
        match self {
            ConsentAnswer::Bool(value) => Ok(*value),
            ConsentAnswer::Text(text) => match text.as_str() {
                "on" | "true" | "yes" | "1" => Ok(true),
                "" | "off" | "false" | "no" | "0" => Ok(false),
                _ => Err(FieldError::InvalidConsent),
            },
        }
    }
}

/// A signup that passed every rule: what is stored and sent to Clover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignup {
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    pub email: EmailAddress,
    pub phone: Option<PhoneNumber>,
    pub marketing_consent: bool,
}

impl SignupForm {
    /// Parses the whole form, gathering every field's problem.
    pub fn parse(&self, rules: &FormRules) -> Result<NewSignup, FormErrors> {
        let mut errors = FormErrors::default();
        let first_name = optional(
            &mut errors,
            rules,
            Field::FirstName,
            &self.first_name,
            PersonName::parse,
        );
        let last_name = optional(
            &mut errors,
            rules,
            Field::LastName,
            &self.last_name,
            PersonName::parse,
        );
        let email = optional(
            &mut errors,
            rules,
            Field::Email,
            &self.email,
            EmailAddress::parse,
        );
        let phone = optional(
            &mut errors,
            rules,
            Field::Phone,
            &self.phone,
            PhoneNumber::parse,
        );
        let marketing_consent = match self.marketing_consent.as_ref().map(ConsentAnswer::parse) {
            None => false,
            Some(Ok(value)) => value,
            Some(Err(error)) => {
                errors.add(Field::MarketingConsent, &error);
                false
            }
        };
        match (errors.is_empty(), email) {
            (true, Some(Some(email))) => Ok(NewSignup {
                first_name: first_name.flatten(),
                last_name: last_name.flatten(),
                email,
                phone: phone.flatten(),
                marketing_consent,
            }),
            (true, _) => {
                // Email is always required, so this cannot happen; refuse rather than guess.
                errors.add(Field::Email, &FieldError::Required);
                Err(errors)
            }
            (false, _) => Err(errors),
        }
    }
}

/// Parses one field. A blank optional field is `Some(None)`; a refused one is `None` with
/// its problem recorded.
fn optional<T>(
    errors: &mut FormErrors,
    rules: &FormRules,
    field: Field,
    raw: &Option<String>,
    parse: fn(&str) -> Result<T, FieldError>,
) -> Option<Option<T>> {
    let raw = raw.as_deref().unwrap_or("");
    if raw.trim().is_empty() && !rules.is_required(field) {
        return Some(None);
    }
    match parse(raw) {
        Ok(value) => Some(Some(value)),
        Err(error) => {
            errors.add(field, &error);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(first: &str, last: &str, email: &str, phone: &str) -> SignupForm {
        SignupForm {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            phone: Some(phone.into()),
            marketing_consent: None,
            form_id: None,
            form_token: None,
            website: None,
            captcha_response: None,
        }
    }

    #[test]
    fn a_complete_form_parses_with_normalised_values() {
        let mut form = form(" Ada ", "Lovelace", "ada@Example.com", "(555) 123-4567");
        form.marketing_consent = Some(ConsentAnswer::Text("on".into()));
        let signup = form.parse(&FormRules::default()).unwrap();
        assert_eq!(signup.first_name.unwrap().as_ref(), "Ada");
        assert_eq!(signup.email.as_ref(), "ada@example.com");
        assert_eq!(signup.phone.unwrap().as_ref(), "5551234567");
        assert!(signup.marketing_consent);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = form("", &"x".repeat(65), "nope", "12")
            .parse(&FormRules::default())
            .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(field, _)| field).collect();
        assert_eq!(
            fields,
            [
                Field::FirstName,
                Field::LastName,
                Field::Email,
                Field::Phone
            ]
        );
    }

    #[test]
    fn phone_is_optional_unless_required() {
        let blank_phone = form("Ada", "Lovelace", "ada@example.com", " ");
        assert!(
            blank_phone
                .parse(&FormRules::default())
                .unwrap()
                .phone
                .is_none()
        );
        let mut rules = FormRules::default();
        rules.required.insert(Field::Phone);
        let errors = blank_phone.parse(&rules).unwrap_err();
        assert_eq!(errors.for_field(Field::Phone), ["Enter your phone number."]);
    }

    #[test]
    fn consent_is_false_when_the_checkbox_is_not_sent() {
        let signup = form("Ada", "Lovelace", "ada@example.com", "")
            .parse(&FormRules::default())
            .unwrap();
        assert!(!signup.marketing_consent);
    }

    #[test]
    fn a_form_with_nothing_in_it_names_every_required_field() {
        let errors = SignupForm::default()
            .parse(&FormRules::default())
            .unwrap_err();
        assert_eq!(errors.to_map().len(), 3);
    }
}
