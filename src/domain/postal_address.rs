use serde::{Deserialize, Serialize};

use super::{FieldError, Input, clover_length, has_invisible_characters};

/// A postal address within Clover's limits (`addresses[]`): every part but the second line
/// present, the lines, city and state at most 127 UTF-16 units, the ZIP or postal code at
/// most 10, the country an ISO 3166 two-letter code (upper-cased here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
}

/// The address as typed, one box per part.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressParts<'a> {
    pub address1: &'a str,
    pub address2: &'a str,
    pub city: &'a str,
    pub state: &'a str,
    pub zip: &'a str,
    pub country: &'a str,
}

impl PostalAddress {
    pub const LINE_MAX_LEN: usize = 127;
    pub const ZIP_MAX_LEN: usize = 10;

    /// Parses the parts, reporting the problem of each. All blank is `Ok(None)`.
    pub fn parse(parts: AddressParts<'_>) -> Result<Option<Self>, Vec<(Input, FieldError)>> {
        let every_part = [
            parts.address1,
            parts.address2,
            parts.city,
            parts.state,
            parts.zip,
            parts.country,
        ];
        if every_part.iter().all(|part| part.trim().is_empty()) {
            return Ok(None);
        }
        Self::parse_required(parts)
    }

    /// Parses the parts when an address must be given: all blank names every missing part.
    pub fn parse_required(
        parts: AddressParts<'_>,
    ) -> Result<Option<Self>, Vec<(Input, FieldError)>> {
        let mut problems = Vec::new();
        let mut part = |input: Input, raw: &str, max: usize, required: bool| match text_part(
            raw, max, required,
        ) {
            Ok(value) => value,
            Err(error) => {
                problems.push((input, error));
                None
            }
        };
        let address1 = part(Input::Address1, parts.address1, Self::LINE_MAX_LEN, true);
        let address2 = part(Input::Address2, parts.address2, Self::LINE_MAX_LEN, false);
        let city = part(Input::City, parts.city, Self::LINE_MAX_LEN, true);
        let state = part(Input::State, parts.state, Self::LINE_MAX_LEN, true);
        let zip = part(Input::Zip, parts.zip, Self::ZIP_MAX_LEN, true);
        let country = match country_code(parts.country) {
            Ok(code) => Some(code),
            Err(error) => {
                problems.push((Input::Country, error));
                None
            }
        };
        match (address1, city, state, zip, country) {
            (Some(address1), Some(city), Some(state), Some(zip), Some(country))
                if problems.is_empty() =>
            {
                Ok(Some(Self {
                    address1,
                    address2,
                    city,
                    state,
                    zip,
                    country,
                }))
            }
            _ => Err(problems),
        }
    }
}

fn text_part(raw: &str, max: usize, required: bool) -> Result<Option<String>, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return if required {
            Err(FieldError::Required)
        } else {
            Ok(None)
        };
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::ControlCharacters);
    }
    if has_invisible_characters(trimmed) {
        return Err(FieldError::InvisibleCharacters);
    }
    if clover_length(trimmed) > max {
        return Err(FieldError::TooLong { max });
    }
    Ok(Some(trimmed.to_owned()))
}

/// Two ASCII letters. Whether ISO 3166 assigned them is not checked: the list changes, and
/// the browser's `autocomplete="country"` fills a real one.
fn country_code(raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(FieldError::Required);
    }
    if trimmed.len() == 2 && trimmed.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(trimmed.to_ascii_uppercase())
    } else {
        Err(FieldError::InvalidCountry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> AddressParts<'static> {
        AddressParts {
            address1: "1 Main St",
            address2: "",
            city: "Sunnyvale",
            state: "CA",
            zip: "94085",
            country: "us",
        }
    }

    #[test]
    fn a_complete_address_parses_with_an_upper_case_country() {
        let address = PostalAddress::parse(parts()).unwrap().unwrap();
        assert_eq!(address.country, "US");
        assert_eq!(address.address2, None);
    }

    #[test]
    fn a_blank_address_is_none() {
        assert_eq!(PostalAddress::parse(AddressParts::default()), Ok(None));
    }

    #[test]
    fn a_partial_address_names_each_missing_part() {
        let problems = PostalAddress::parse(AddressParts {
            city: "Sunnyvale",
            ..AddressParts::default()
        })
        .unwrap_err();
        let inputs: Vec<_> = problems.iter().map(|(input, _)| *input).collect();
        assert_eq!(
            inputs,
            [Input::Address1, Input::State, Input::Zip, Input::Country]
        );
    }

    #[test]
    fn each_part_with_invisible_characters_is_named() {
        let problems = PostalAddress::parse(AddressParts {
            address1: "1 Main\u{202E} St",
            address2: "Flat\u{200B}2",
            city: "Sunny\u{FEFF}vale",
            state: "C\u{2029}A",
            zip: "94\u{200D}085",
            ..parts()
        })
        .unwrap_err();
        let inputs: Vec<_> = problems.iter().map(|(input, _)| *input).collect();
        assert_eq!(
            inputs,
            [
                Input::Address1,
                Input::Address2,
                Input::City,
                Input::State,
                Input::Zip
            ]
        );
        assert!(
            problems
                .iter()
                .all(|(_, error)| *error == FieldError::InvisibleCharacters)
        );
    }

    #[test]
    fn clover_limits_are_kept() {
        let long_zip = AddressParts {
            zip: "12345678901",
            ..parts()
        };
        assert_eq!(
            PostalAddress::parse(long_zip),
            Err(vec![(Input::Zip, FieldError::TooLong { max: 10 })])
        );
        let long_city = "c".repeat(128);
        let bad = AddressParts {
            city: &long_city,
            country: "USA",
            ..parts()
        };
        assert_eq!(
            PostalAddress::parse(bad),
            Err(vec![
                (Input::City, FieldError::TooLong { max: 127 }),
                (Input::Country, FieldError::InvalidCountry)
            ])
        );
    }
}
