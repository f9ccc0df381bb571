use serde::Deserialize;

use super::{
    AddressParts, Birthday, EmailAddress, Field, FieldError, FormErrors, FormRules, Input,
    PersonName, PhoneNumber, PostalAddress, VisitorNote,
};

/// The signup exactly as the visitor typed it, from the form or as JSON. Every field may
/// be missing; unknown fields are ignored here (the form's hidden inputs are the routes'
/// to read).
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
    /// The text-message box, when the form has one; never implied by the email box.
    #[serde(default)]
    pub sms_consent: Option<ConsentAnswer>,
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
    /// Consent to text messages, only ever with a phone number.
    pub sms_consent: bool,
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
        let sms_consent = self.parse_sms_consent(rules, phone.is_some(), &mut errors);
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
                sms_consent,
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

    /// The text-message box, when the form shows it: a yes needs a phone number (one
    /// that was given and is wrong is reported at the phone already).
    fn parse_sms_consent(&self, rules: &FormRules, phone: bool, errors: &mut FormErrors) -> bool {
        if !rules.fields.contains(&Field::SmsConsent) {
            return false;
        }
        match self.sms_consent.as_ref().map(ConsentAnswer::parse) {
            None | Some(Ok(false)) => false,
            Some(Ok(true)) if phone => true,
            Some(Ok(true)) => {
                if errors.of(Input::Phone).is_empty() {
                    errors.add(Input::SmsConsent, FieldError::SmsNeedsPhone);
                }
                false
            }
            Some(Err(error)) => {
                errors.add(Input::SmsConsent, error);
                false
            }
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
    fn text_messages_need_a_phone_and_are_never_implied_by_the_email_box() {
        let mut consenting = form("Ada", "Lovelace", "ada@example.com", "");
        consenting.phone = None;
        consenting.marketing_consent = Some(ConsentAnswer::Bool(true));
        let signup = consenting.parse(&all_fields()).unwrap();
        assert!(signup.marketing_consent && !signup.sms_consent);

        consenting.sms_consent = Some(ConsentAnswer::Text("on".into()));
        let errors = consenting.parse(&all_fields()).unwrap_err();
        assert_eq!(errors.of(Input::SmsConsent), [FieldError::SmsNeedsPhone]);

        consenting.phone = Some("555 010 2000".into());
        assert!(consenting.parse(&all_fields()).unwrap().sms_consent);
        // A form without the box ignores a value sent for it.
        assert!(!consenting.parse(&FormRules::default()).unwrap().sms_consent);
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
        assert_eq!(errors.of(Input::Phone), [FieldError::Required]);
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
        assert_eq!(errors.inputs().count(), 3);
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
}
