//! What a merchant's form asks for: its fields, the inputs each is typed in, and which of
//! them are shown and required.

use std::collections::BTreeSet;

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
    /// Consent to text messages: its own box, never ticked for the visitor, and only
    /// with a phone number.
    SmsConsent,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Birthday,
        Field::Address,
        Field::Note,
        Field::SmsConsent,
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
            Field::SmsConsent => "sms_consent",
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
            Field::SmsConsent => &[Input::SmsConsent],
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
    SmsConsent,
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
            Input::SmsConsent => "sms_consent",
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
