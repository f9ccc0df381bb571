//! The signup as the business sees it: parsed, never merely validated. A value of one of
//! these types is, by construction, within Clover's limits.

mod birthday;
mod duplicate_policy;
mod email_address;
mod form_errors;
mod form_rules;
mod idempotency_key;
mod person_name;
mod phone_number;
mod postal_address;
mod signup;
mod source_tag;
mod visitor_note;

pub use birthday::Birthday;
pub use duplicate_policy::DuplicatePolicy;
pub use email_address::{EmailAddress, mask_email};
pub use form_errors::{FieldError, FormErrors};
pub use form_rules::{Field, FormRules, Input};
pub use idempotency_key::IdempotencyKey;
pub use person_name::PersonName;
pub use phone_number::PhoneNumber;
pub use postal_address::{AddressParts, PostalAddress};
pub use signup::{ConsentAnswer, NewSignup, SignupForm};
pub use source_tag::{SLUG_MAX_CHARS, SourceTag};
pub use visitor_note::VisitorNote;

/// A random (version 4) UUID from the thread's cryptographic generator: ids are made on
/// every request, and a system call for each (as `Uuid::new_v4` makes) shows in profiles.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Whether `text` holds a character that shows as nothing or changes how the text around
/// it is shown: a format character (general category Cf, such as the right-to-left
/// override U+202E, the zero-width space U+200B and joiner U+200D, or U+FEFF), or the
/// line or paragraph separator (U+2028, U+2029). In a name or an address they let a
/// visitor show staff something other than what is stored (`Ada` reversed, or two
/// names that look the same), so visitors' text is refused with them rather than
/// cleaned: a silent change would store something the visitor did not write either.
pub fn has_invisible_characters(text: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    text.chars().any(|c| {
        !c.is_ascii()
            && matches!(
                c.general_category(),
                GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            )
    })
}

/// Clover measures text in UTF-16 code units (its server model is Java), so a limit of 64
/// there is 64 units here, not 64 `char`s: an emoji counts twice.
pub fn clover_length(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod properties;
