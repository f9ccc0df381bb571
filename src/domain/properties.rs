//! Properties over arbitrary input: parsing never panics, and whatever is accepted fits
//! Clover's limits and is already in its normal form.

use proptest::prelude::*;

use super::{
    AddressParts, EmailAddress, FormRules, PersonName, PhoneNumber, PostalAddress, SignupForm,
    VisitorNote, clover_length,
};

/// Text that mixes plain letters, separators, control characters, astral symbols and
/// characters that show as nothing or turn text around (format characters, U+2028/9).
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-zA-Z@.+()\\-0-9\u{0}\u{7}\r\n\t\u{1F600}éñ李]{0,300}",
        "[ a-zA-Zü@.\\-0-9\u{AD}\u{200B}-\u{200F}\u{202A}-\u{202E}\u{2028}\u{2029}\u{2060}-\u{2064}\u{FEFF}\u{E0001}]{0,80}",
    ]
}

/// An address as visitors type them, international domains and invisible characters
/// among them.
fn hostile_email() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9.+_\\-\u{200B}\u{202E}éü]{1,20}",
        "[a-zA-Z0-9\\-\u{200B}\u{200D}\u{202E}\u{FEFF}\u{3002}üéñ李Ａ]{1,20}",
        "[a-zA-Zü]{2,6}",
    )
        .prop_map(|(local, label, top)| format!("{local}@{label}.{top}"))
}

/// General category Cf (format) as Unicode defines it, from the same tables as the rule
/// under test but named independently here: what no accepted text may contain.
fn is_format_or_separator(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

proptest! {
    #[test]
    fn names_are_accepted_only_within_clovers_limits(raw in hostile_text()) {
        if let Ok(name) = PersonName::parse(&raw) {
            let name = name.as_ref();
            prop_assert!(!name.is_empty());
            prop_assert!(clover_length(name) <= PersonName::MAX_LEN);
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert_eq!(name.trim(), name);
            let again = PersonName::parse(name).unwrap();
            prop_assert_eq!(again.as_ref(), name);
        }
    }

    #[test]
    fn emails_are_accepted_only_when_bounded_and_well_formed(raw in hostile_text()) {
        if let Ok(email) = EmailAddress::parse(&raw) {
            let email = email.as_ref();
            prop_assert!(email.len() <= EmailAddress::MAX_LEN);
            prop_assert!(!email.chars().any(|c| c.is_control() || c.is_whitespace()));
            let (_, domain) = email.rsplit_once('@').unwrap();
            prop_assert!(domain.contains('.'));
            let again = EmailAddress::parse(email).unwrap();
            prop_assert_eq!(again.as_ref(), email);
        }
    }

    #[test]
    fn no_accepted_text_contains_a_format_character_or_separator(raw in hostile_text()) {
        let mut accepted = Vec::new();
        accepted.extend(PersonName::parse(&raw).map(|name| name.as_ref().to_owned()));
        accepted.extend(VisitorNote::parse(&raw).map(|note| note.as_ref().to_owned()));
        let parts = AddressParts {
            address1: &raw,
            address2: &raw,
            city: &raw,
            state: &raw,
            zip: &raw,
            country: "US",
        };
        if let Ok(Some(address)) = PostalAddress::parse(parts) {
            accepted.extend([address.address1, address.city, address.state, address.zip]);
            accepted.extend(address.address2);
        }
        for text in accepted {
            prop_assert!(!text.chars().any(is_format_or_separator), "{:?}", text);
        }
    }

    #[test]
    fn every_accepted_emails_domain_is_ascii(raw in prop_oneof![hostile_email(), hostile_text()]) {
        if let Ok(email) = EmailAddress::parse(&raw) {
            for address in [email.as_ref(), email.as_typed()] {
                let (local, domain) = address.rsplit_once('@').unwrap();
                prop_assert!(domain.is_ascii(), "{:?}", address);
                prop_assert!(!address.chars().any(is_format_or_separator), "{:?}", address);
                prop_assert!(!local.is_empty());
            }
            // The key is the typed address lower-cased, domain and all.
            prop_assert_eq!(email.as_typed().to_lowercase(), email.as_ref());
            let again = EmailAddress::parse(email.as_typed()).unwrap();
            prop_assert_eq!(again.as_ref(), email.as_ref());
        }
    }

    #[test]
    fn plausible_emails_survive_parsing(
        local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]",
        domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}",
    ) {
        let raw = format!("{local}@{domain}");
        prop_assume!(!local.contains(".."));
        let again = EmailAddress::parse(&raw).unwrap();
            prop_assert_eq!(again.as_ref(), raw.as_str());
    }

    #[test]
    fn phones_are_accepted_only_as_seven_to_fifteen_digits(raw in hostile_text()) {
        if let Ok(phone) = PhoneNumber::parse(&raw) {
            let phone = phone.as_ref();
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
            prop_assert!((7..=15).contains(&digits.len()));
            let again = PhoneNumber::parse(phone).unwrap();
            prop_assert_eq!(again.as_ref(), phone);
        }
    }

    #[test]
    fn any_form_body_parses_or_names_its_problems_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(form) = serde_urlencoded::from_bytes::<SignupForm>(&body) {
            match form.parse(&FormRules::default()) {
                Ok(signup) => {
                    prop_assert!(signup.first_name.is_some() && signup.last_name.is_some());
                }
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }
    }
}
