//! Arbitrary bytes as a form body and as a JSON body: parsing never panics, and whatever
//! is accepted fits Clover's limits.

#![no_main]

use clover_signup::domain::{FormRules, SignupForm, has_invisible_characters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let forms = [
        serde_urlencoded::from_bytes::<SignupForm>(data).ok(),
        serde_json::from_slice::<SignupForm>(data).ok(),
    ];
    for form in forms.into_iter().flatten() {
        if let Ok(signup) = form.parse(&FormRules::default()) {
            for name in [&signup.first_name, &signup.last_name]
                .into_iter()
                .flatten()
            {
                let name = name.as_ref();
                assert!(!name.is_empty() && name.encode_utf16().count() <= 64);
                assert!(!name.chars().any(char::is_control));
                assert!(!has_invisible_characters(name));
            }
            let email = signup.email.as_ref();
            assert!(email.len() <= 254 && email.contains('@'));
            for address in [email, signup.email.as_typed()] {
                let (_, domain) = address.rsplit_once('@').unwrap();
                assert!(domain.is_ascii());
                assert!(!has_invisible_characters(address));
            }
            if let Some(phone) = &signup.phone {
                let digits = phone.as_ref().trim_start_matches('+');
                assert!((7..=15).contains(&digits.len()));
                assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
});
