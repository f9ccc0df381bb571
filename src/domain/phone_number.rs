use super::FieldError;

/// A phone number normalised to digits with an optional leading `+`, 7 to 15 digits
/// (15 is E.164's maximum). Spaces, dots, dashes and brackets that people type are dropped;
/// letters and other symbols are refused rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const MIN_DIGITS: usize = 7;
    pub const MAX_DIGITS: usize = 15;
    /// Longest input considered at all, so that a huge value is refused without work.
    const MAX_INPUT: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::Required);
        }
        if trimmed.len() > Self::MAX_INPUT {
            return Err(FieldError::InvalidPhone);
        }
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(FieldError::InvalidPhone),
            }
        }
        if digits.len() < Self::MIN_DIGITS || digits.len() > Self::MAX_DIGITS {
            return Err(FieldError::PhoneDigits {
                min: Self::MIN_DIGITS,
                max: Self::MAX_DIGITS,
            });
        }
        Ok(Self(if plus { format!("+{digits}") } else { digits }))
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_people_type_is_dropped() {
        assert_eq!(
            PhoneNumber::parse(" (555) 123-4567 ").unwrap().as_ref(),
            "5551234567"
        );
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_ref(),
            "+442079460958"
        );
    }

    #[test]
    fn digit_count_must_be_seven_to_fifteen() {
        assert!(PhoneNumber::parse("123456").is_err());
        assert!(PhoneNumber::parse("1234567").is_ok());
        assert!(PhoneNumber::parse("123456789012345").is_ok());
        assert!(PhoneNumber::parse("1234567890123456").is_err());
    }

    #[test]
    fn letters_and_stray_plus_signs_are_refused() {
        assert_eq!(
            PhoneNumber::parse("555-CALL-NOW"),
            Err(FieldError::InvalidPhone)
        );
        assert_eq!(
            PhoneNumber::parse("+1+5551234567"),
            Err(FieldError::InvalidPhone)
        );
        assert_eq!(
            PhoneNumber::parse("555 1234567\n"),
            Ok(PhoneNumber("5551234567".into()))
        );
    }
}
