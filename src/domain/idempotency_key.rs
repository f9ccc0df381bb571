/// A client's name for one submission, sent again when the same submission is sent again:
/// the form's hidden `form_id` (one per rendered form) or the API's `Idempotency-Key`
/// header. 8 to 64 letters, digits, `-` or `_`; anything else is ignored, not refused,
/// since it only protects against double-sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let valid = (8..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid.then(|| Self(raw.to_owned()))
    }

    /// A fresh key for a form about to be shown.
    pub fn random() -> Self {
        Self(super::random_uuid().to_string())
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_plain_tokens() {
        assert!(IdempotencyKey::parse("0b7e1c52-9a0f-4c3e-8d6e-2f4a1b9c7d31").is_some());
        assert!(IdempotencyKey::parse("short").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(65)).is_none());
        assert!(IdempotencyKey::parse("has spaces in it").is_none());
        assert!(IdempotencyKey::parse("quote\"s<b>").is_none());
    }
}
