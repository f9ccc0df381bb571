use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use super::{
    AddressParts, Birthday, EmailAddress, PersonName, PhoneNumber, PostalAddress, VisitorNote,
};
use crate::i18n::{Arg, Language};

/// A field a merchant may put on the form (`FORM_FIELDS`), in the order of the default form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    Birthday,
    Address,
    Note,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Birthday,
        Field::Address,
        Field::Note,
    ];

    /// The name used by `FORM_FIELDS` and `FORM_REQUIRED`.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Birthday => "birthday",
            Field::Address => "address",
            Field::Note => "note",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// The inputs of this field, in the order the form shows them.
    pub fn inputs(self) -> &'static [Input] {
        match self {
            Field::FirstName => &[Input::FirstName],
            Field::LastName => &[Input::LastName],
            Field::Email => &[Input::Email],
            Field::Phone => &[Input::Phone],
            Field::Birthday => &[Input::Birthday],
            Field::Address => &[
                Input::Address1,
                Input::Address2,
                Input::City,
                Input::State,
                Input::Zip,
                Input::Country,
            ],
            Field::Note => &[Input::Note],
        }
    }
}

/// Something a visitor fills in that can be wrong on its own: a field, or one part of the
/// address. Errors are reported per input, in the order the form shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input {
    FirstName,
    LastName,
    Email,
    Phone,
    /// The day, month and year boxes together: a date is right or wrong as a whole.
    Birthday,
    Address1,
    Address2,
    City,
    State,
    Zip,
    Country,
    Note,
    MarketingConsent,
}

impl Input {
    /// The name of the form input and of the JSON API key (for the birthday, the key of
    /// its errors; its boxes are `birthday_day`, `birthday_month` and `birthday_year`).
    pub fn name(self) -> &'static str {
        match self {
            Input::FirstName => "first_name",
            Input::LastName => "last_name",
            Input::Email => "email",
            Input::Phone => "phone",
            Input::Birthday => "birthday",
            Input::Address1 => "address1",
            Input::Address2 => "address2",
            Input::City => "city",
            Input::State => "state",
            Input::Zip => "zip",
            Input::Country => "country",
            Input::Note => "note",
            Input::MarketingConsent => "marketing_consent",
        }
    }

    /// The id of the element an error links to and focus moves to.
    pub fn anchor(self) -> &'static str {
        match self {
            Input::Birthday => "birthday_day",
            other => other.name(),
        }
    }

    /// The message id of the input's label in the catalogues.
    pub fn label_id(self) -> String {
        format!("label-{}", self.name())
    }
}

/// Why a value was refused. The message, from the visitor's catalogue, says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Required,
    TooLong {
        max: usize,
    },
    ControlCharacters,
    /// Format characters or line/paragraph separators (see [`super::has_invisible_characters`]).
    InvisibleCharacters,
    InvalidEmail,
    InvalidPhone,
    PhoneDigits {
        min: usize,
        max: usize,
    },
    InvalidConsent,
    BirthdayNumbers,
    BirthdayDate,
    BirthdayYear {
        min: u16,
        max: u16,
    },
    InvalidCountry,
}

impl FieldError {
    pub fn message(&self, input: Input, language: Language) -> String {
        match self {
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
}

/// Every problem with a submission, by input, so the form is shown once with all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors(BTreeMap<Input, Vec<FieldError>>);

impl FormErrors {
    pub fn add(&mut self, input: Input, error: FieldError) {
        self.0.entry(input).or_default().push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, input: Input) -> bool {
        self.0.contains_key(&input)
    }

    /// The messages about one input, in the visitor's language.
    pub fn messages(&self, input: Input, language: Language) -> Vec<String> {
        self.0
            .get(&input)
            .map(|errors| errors.iter().map(|e| e.message(input, language)).collect())
            .unwrap_or_default()
    }

    /// Inputs with errors, in the default form's order.
    pub fn inputs(&self) -> impl Iterator<Item = Input> + '_ {
        self.0.keys().copied()
    }

    /// Inputs with errors in the order `rules` shows them (`FORM_FIELDS` may reorder),
    /// the consent box last.
    pub fn inputs_in_form_order(&self, rules: &FormRules) -> Vec<Input> {
        rules
            .fields
            .iter()
            .flat_map(|field| field.inputs().iter().copied())
            .chain([Input::MarketingConsent])
            .filter(|input| self.has(*input))
            .collect()
    }

    /// The `{"field": ["message", ...]}` map of the JSON API.
    pub fn to_map(&self, language: Language) -> BTreeMap<&'static str, Vec<String>> {
        self.inputs()
            .map(|input| (input.name(), self.messages(input, language)))
            .collect()
    }
}

impl fmt::Display for FormErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.keys().map(|input| input.name()).collect();
        write!(f, "invalid fields: {}", names.join(", "))
    }
}

/// Which fields the form shows, in which order (`FORM_FIELDS`), and which of them a visitor
/// must fill (`FORM_REQUIRED`). Email is always shown and required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRules {
    pub fields: Vec<Field>,
    pub required: BTreeSet<Field>,
}

impl Default for FormRules {
    fn default() -> Self {
        Self {
            fields: vec![
                Field::FirstName,
                Field::LastName,
                Field::Email,
                Field::Phone,
            ],
            required: [Field::FirstName, Field::LastName, Field::Email].into(),
        }
    }
}

impl FormRules {
    pub fn is_required(&self, field: Field) -> bool {
        self.required.contains(&field)
    }

    pub fn is_shown(&self, field: Field) -> bool {
        self.fields.contains(&field)
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
    #[serde(default, deserialize_with = "text_or_number")]
    pub birthday_day: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub birthday_month: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub birthday_year: Option<String>,
    #[serde(default)]
    pub address1: Option<String>,
    #[serde(default)]
    pub address2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
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

/// The JSON API may send the birthday's numbers as numbers; the form sends text.
fn text_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Whole(i64),
        // Written as the visitor would see it, so `-3` or `2.5` get the birthday's own
        // message rather than a refusal of the whole body.
        Fraction(f64),
    }
    Ok(
        Option::<TextOrNumber>::deserialize(deserializer)?.map(|value| match value {
            TextOrNumber::Text(text) => text,
            TextOrNumber::Whole(number) => number.to_string(),
            TextOrNumber::Fraction(number) => number.to_string(),
        }),
    )
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
    pub birthday: Option<Birthday>,
    pub address: Option<PostalAddress>,
    pub note: Option<VisitorNote>,
    pub marketing_consent: bool,
}

impl SignupForm {
    /// Parses the fields the form shows, gathering every problem. Values of fields the
    /// merchant does not collect are ignored.
    pub fn parse(&self, rules: &FormRules) -> Result<NewSignup, FormErrors> {
        let mut errors = FormErrors::default();
        let first_name = present(rules, Field::FirstName, &self.first_name)
            .and_then(|raw| check(&mut errors, Input::FirstName, PersonName::parse(raw)));
        let last_name = present(rules, Field::LastName, &self.last_name)
            .and_then(|raw| check(&mut errors, Input::LastName, PersonName::parse(raw)));
        let email = present(rules, Field::Email, &self.email)
            .and_then(|raw| check(&mut errors, Input::Email, EmailAddress::parse(raw)));
        let phone = present(rules, Field::Phone, &self.phone)
            .and_then(|raw| check(&mut errors, Input::Phone, PhoneNumber::parse(raw)));
        let note = present(rules, Field::Note, &self.note)
            .and_then(|raw| check(&mut errors, Input::Note, VisitorNote::parse(raw)));
        let birthday = self.parse_birthday(rules, &mut errors);
        let address = self.parse_address(rules, &mut errors);
        let marketing_consent = match self.marketing_consent.as_ref().map(ConsentAnswer::parse) {
            None => false,
            Some(Ok(value)) => value,
            Some(Err(error)) => {
                errors.add(Input::MarketingConsent, error);
                false
            }
        };
        match (errors.is_empty(), email) {
            (true, Some(email)) => Ok(NewSignup {
                first_name,
                last_name,
                email,
                phone,
                birthday,
                address,
                note,
                marketing_consent,
            }),
            (true, None) => {
                // Email is always shown and required, so this cannot happen; refuse rather
                // than guess.
                errors.add(Input::Email, FieldError::Required);
                Err(errors)
            }
            (false, _) => Err(errors),
        }
    }

    fn parse_birthday(&self, rules: &FormRules, errors: &mut FormErrors) -> Option<Birthday> {
        if !rules.is_shown(Field::Birthday) {
            return None;
        }
        let box_text = |value: &Option<String>| value.clone().unwrap_or_default();
        let this_year = Birthday::latest_year();
        let parsed = Birthday::parse(
            &box_text(&self.birthday_day),
            &box_text(&self.birthday_month),
            &box_text(&self.birthday_year),
            this_year,
        );
        match parsed {
            Ok(None) if rules.is_required(Field::Birthday) => {
                errors.add(Input::Birthday, FieldError::Required);
                None
            }
            Ok(birthday) => birthday,
            Err(error) => {
                errors.add(Input::Birthday, error);
                None
            }
        }
    }

    fn parse_address(&self, rules: &FormRules, errors: &mut FormErrors) -> Option<PostalAddress> {
        if !rules.is_shown(Field::Address) {
            return None;
        }
        let parts = AddressParts {
            address1: self.address1.as_deref().unwrap_or(""),
            address2: self.address2.as_deref().unwrap_or(""),
            city: self.city.as_deref().unwrap_or(""),
            state: self.state.as_deref().unwrap_or(""),
            zip: self.zip.as_deref().unwrap_or(""),
            country: self.country.as_deref().unwrap_or(""),
        };
        let parsed = if rules.is_required(Field::Address) {
            // Parsing an all-blank address as if one box were filled names every part.
            PostalAddress::parse_required(parts)
        } else {
            PostalAddress::parse(parts)
        };
        match parsed {
            Ok(address) => address,
            Err(problems) => {
                for (input, error) in problems {
                    errors.add(input, error);
                }
                None
            }
        }
    }
}

/// The text to parse for a field: `None` when the form does not show it, or it is blank
/// and optional.
fn present<'a>(rules: &FormRules, field: Field, raw: &'a Option<String>) -> Option<&'a str> {
    let raw = raw.as_deref().unwrap_or("");
    let wanted = !raw.trim().is_empty() || rules.is_required(field);
    (rules.is_shown(field) && wanted).then_some(raw)
}

/// Records a field's problem, or passes its value on.
fn check<T>(errors: &mut FormErrors, input: Input, parsed: Result<T, FieldError>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(error) => {
            errors.add(input, error);
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
            ..SignupForm::default()
        }
    }

    fn all_fields() -> FormRules {
        FormRules {
            fields: Field::ALL.to_vec(),
            ..FormRules::default()
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
        let inputs: Vec<_> = errors.inputs().collect();
        assert_eq!(
            inputs,
            [
                Input::FirstName,
                Input::LastName,
                Input::Email,
                Input::Phone
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
        assert_eq!(
            errors.messages(Input::Phone, Language::reference()),
            ["Enter your phone number."]
        );
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
        assert_eq!(errors.to_map(Language::reference()).len(), 3);
    }

    #[test]
    fn birthday_address_and_note_parse_when_shown() {
        let mut form = form("Ada", "Lovelace", "ada@example.com", "");
        form.birthday_day = Some("10".into());
        form.birthday_month = Some("12".into());
        form.address1 = Some("1 Main St".into());
        form.city = Some("Sunnyvale".into());
        form.state = Some("CA".into());
        form.zip = Some("94085".into());
        form.country = Some("us".into());
        form.note = Some("Vegetarian".into());
        let signup = form.parse(&all_fields()).unwrap();
        assert_eq!(signup.birthday.map(|b| (b.day, b.month)), Some((10, 12)));
        assert_eq!(signup.address.unwrap().country, "US");
        assert_eq!(signup.note.unwrap().as_ref(), "Vegetarian");

        // The default form shows none of them: what a client sends for them is ignored.
        let signup = form.parse(&FormRules::default()).unwrap();
        assert!(signup.birthday.is_none() && signup.address.is_none() && signup.note.is_none());
    }

    #[test]
    fn a_required_address_left_blank_names_each_part() {
        let mut rules = all_fields();
        rules.required.insert(Field::Address);
        rules.required.insert(Field::Birthday);
        let errors = form("Ada", "Lovelace", "ada@example.com", "")
            .parse(&rules)
            .unwrap_err();
        let inputs: Vec<_> = errors.inputs().collect();
        assert_eq!(
            inputs,
            [
                Input::Birthday,
                Input::Address1,
                Input::City,
                Input::State,
                Input::Zip,
                Input::Country
            ]
        );
    }

    #[test]
    fn the_messages_speak_the_visitors_language() {
        let errors = form("", "Lovelace", "nope", "")
            .parse(&FormRules::default())
            .unwrap_err();
        let spanish = Language::from_tag("es").unwrap();
        let english = errors.messages(Input::Email, Language::reference());
        assert_ne!(errors.messages(Input::Email, spanish), english);
        assert_eq!(english, ["Enter an email address like name@example.com."]);
    }
}
