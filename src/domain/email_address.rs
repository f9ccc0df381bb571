use validator::ValidateEmail;

use super::FieldError;

/// An email address as a visitor meant it: trimmed, at most 254 characters, syntactically
/// valid, with a dotted domain (so `ada@gmail` is caught as the typo it is). It is keyed
/// lower-cased: RFC 5321 lets a mailbox be case-sensitive, but no mail service in common
/// use treats it so, while one visitor typing `Ada@` once and `ada@` later must match
/// the same customer. The address as typed is kept beside the key, because Clover keeps
/// the case an address was typed with at the register and may search it exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    key: String,
    as_typed: String,
}

impl EmailAddress {
    /// The longest address SMTP can carry (RFC 5321's path limit less its brackets).
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::Required);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(FieldError::TooLong { max: Self::MAX_LEN });
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(FieldError::InvalidEmail);
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(FieldError::InvalidEmail);
        };
        let as_typed = trimmed.to_owned();
        let (local, domain) = (local.to_lowercase(), domain.to_lowercase());
        let dotted = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
        if !dotted || domain.starts_with('[') {
            return Err(FieldError::InvalidEmail);
        }
        let address = format!("{local}@{domain}");
        if address.len() > Self::MAX_LEN || !address.validate_email() {
            return Err(FieldError::InvalidEmail);
        }
        Ok(Self {
            key: address,
            as_typed,
        })
    }

    /// The address exactly as the visitor typed it (trimmed).
    pub fn as_typed(&self) -> &str {
        &self.as_typed
    }

    /// The address with most of its local part hidden, for logs and the admin page:
    /// `ada.lovelace@example.com` becomes `a***@example.com`.
    pub fn masked(&self) -> String {
        mask_email(&self.key)
    }
}

/// Masks any stored address the same way [`EmailAddress::masked`] does.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// The lower-cased key signups are deduplicated on.
impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_ref(), "ada.lovelace@example.com");
        assert_eq!(email.as_typed(), "Ada.Lovelace@Example.COM");
    }

    #[test]
    fn obvious_mistakes_are_refused() {
        for raw in [
            "ada",
            "ada@",
            "@example.com",
            "ada@gmail",
            "ada@example.",
            "ada lovelace@example.com",
            "ada@@example.com",
            "ada@exa mple.com",
            "ada@example.com\r\nBcc: x@y.z",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn an_empty_address_is_required() {
        assert_eq!(EmailAddress::parse("   "), Err(FieldError::Required));
    }

    #[test]
    fn addresses_longer_than_254_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            EmailAddress::parse(&long),
            Err(FieldError::TooLong { max: 254 })
        );
    }

    #[test]
    fn masking_keeps_only_the_first_character_and_the_domain() {
        let email = EmailAddress::parse("ada.lovelace@example.com").unwrap();
        assert_eq!(email.masked(), "a***@example.com");
    }
}
