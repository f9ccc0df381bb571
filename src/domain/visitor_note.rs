use super::{FieldError, clover_length, has_invisible_characters};

/// What a visitor wrote in the note box. Clover keeps at most 2,000 UTF-16 units of note
/// in all, and the consent record shares them, so a visitor has half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorNote(String);

impl VisitorNote {
    pub const MAX_LEN: usize = 1_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // Browsers send line breaks as CRLF; one unit each is what the visitor counted.
        let text = raw.trim().replace("\r\n", "\n");
        if text.is_empty() {
            return Err(FieldError::Required);
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(FieldError::ControlCharacters);
        }
        // Line breaks are welcome as `\n`; U+2028 and U+2029 are refused with the format
        // characters, since Clover's screens may not break the line there.
        if has_invisible_characters(&text) {
            return Err(FieldError::InvisibleCharacters);
        }
        if clover_length(&text) > Self::MAX_LEN {
            return Err(FieldError::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self(text))
    }
}

impl AsRef<str> for VisitorNote {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_are_kept_and_counted_once() {
        let note = VisitorNote::parse(" Gluten free,\r\nplease ").unwrap();
        assert_eq!(note.as_ref(), "Gluten free,\nplease");
        let limit = format!("{}\r\n", "a".repeat(VisitorNote::MAX_LEN - 2)) + "b";
        assert!(VisitorNote::parse(&limit).is_ok());
    }

    #[test]
    fn too_long_and_control_characters_are_refused() {
        assert_eq!(
            VisitorNote::parse(&"a".repeat(1_001)),
            Err(FieldError::TooLong { max: 1_000 })
        );
        assert_eq!(
            VisitorNote::parse("bell\u{7}"),
            Err(FieldError::ControlCharacters)
        );
        for raw in ["no nuts\u{202E}", "two\u{2028}lines", "zero\u{200B}width"] {
            assert_eq!(
                VisitorNote::parse(raw),
                Err(FieldError::InvisibleCharacters),
                "{raw:?}"
            );
        }
    }
}
