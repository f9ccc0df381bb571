//! Properties over arbitrary input: parsing never panics, and whatever is accepted fits
//! Clover's limits and is already in its normal form.

use proptest::prelude::*;

use super::{EmailAddress, FormRules, PersonName, PhoneNumber, SignupForm, clover_length};

/// Text that mixes plain letters, separators, control characters and astral symbols.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-zA-Z@.+()\\-0-9\u{0}\u{7}\r\n\t\u{1F600}éñ李]{0,300}",
    ]
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
