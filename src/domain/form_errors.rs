//! Why a visitor's input was refused, gathered so that the form is shown once with every
//! problem. The words are the templates' to choose, in the visitor's language.

use std::collections::BTreeMap;
use std::fmt;

use super::{FormRules, Input};

/// Why a value was refused. Its message, from the visitor's catalogue, says how to fix it.
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
    /// Consent to text messages without a phone number to send them to.
    SmsNeedsPhone,
    BirthdayNumbers,
    BirthdayDate,
    BirthdayYear {
        min: u16,
        max: u16,
    },
    InvalidCountry,
}

/// Every problem with a submission, by input, so the form is shown once with all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors(BTreeMap<Input, Vec<FieldError>>);

impl FormErrors {
    /// No problems at all, for a form shown before anything was sent.
    pub fn none() -> &'static FormErrors {
        static NONE: FormErrors = FormErrors(BTreeMap::new());
        &NONE
    }

    pub fn add(&mut self, input: Input, error: FieldError) {
        self.0.entry(input).or_default().push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, input: Input) -> bool {
        self.0.contains_key(&input)
    }

    /// The problems with one input, in the order they were found.
    pub fn of(&self, input: Input) -> &[FieldError] {
        self.0.get(&input).map(Vec::as_slice).unwrap_or_default()
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
}

impl fmt::Display for FormErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.keys().map(|input| input.name()).collect();
        write!(f, "invalid fields: {}", names.join(", "))
    }
}
