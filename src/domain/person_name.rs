use super::{FieldError, clover_length, has_invisible_characters};

/// A given or family name as Clover accepts it: trimmed, 1 to 64 UTF-16 units, no control
/// characters, and none that staff would not see (see [`has_invisible_characters`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Clover's `firstName`/`lastName` limit.
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::Required);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldError::ControlCharacters);
        }
        if has_invisible_characters(trimmed) {
            return Err(FieldError::InvisibleCharacters);
        }
        if clover_length(trimmed) > Self::MAX_LEN {
            return Err(FieldError::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self(trimmed.to_owned()))
    }
}

impl AsRef<str> for PersonName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(PersonName::parse("  Ada \n").unwrap().as_ref(), "Ada");
    }

    #[test]
    fn empty_and_blank_names_are_required() {
        assert_eq!(PersonName::parse(""), Err(FieldError::Required));
        assert_eq!(PersonName::parse(" \t "), Err(FieldError::Required));
    }

    #[test]
    fn sixty_four_units_fit_and_sixty_five_do_not() {
        assert!(PersonName::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            PersonName::parse(&"a".repeat(65)),
            Err(FieldError::TooLong { max: 64 })
        );
    }

    #[test]
    fn characters_outside_the_basic_plane_count_twice() {
        // 32 emoji are 64 UTF-16 units; one more is too long for Clover.
        assert!(PersonName::parse(&"😀".repeat(32)).is_ok());
        assert!(PersonName::parse(&"😀".repeat(33)).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            PersonName::parse("Ada\u{0}Lovelace"),
            Err(FieldError::ControlCharacters)
        );
        assert_eq!(
            PersonName::parse("Ada\r\nX-Injected: 1"),
            Err(FieldError::ControlCharacters)
        );
    }

    #[test]
    fn invisible_and_direction_characters_are_refused() {
        for raw in [
            "Ada\u{202E}ecalevoL",
            "Ad\u{200B}a",
            "A\u{200D}da",
            "\u{FEFF}Ada",
            "Ada\u{2028}Lovelace",
            "Ada\u{2029}Lovelace",
            "Ada\u{AD}",
            "Ada\u{2066}",
        ] {
            assert_eq!(
                PersonName::parse(raw),
                Err(FieldError::InvisibleCharacters),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn accents_and_apostrophes_are_welcome() {
        assert!(PersonName::parse("Zoë O'Brien-Nuñez").is_ok());
        assert!(PersonName::parse("李小龍").is_ok());
    }
}
