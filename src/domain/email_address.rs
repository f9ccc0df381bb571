use std::borrow::Cow;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use validator::ValidateEmail;

use super::{FieldError, has_invisible_characters};

/// An email address as a visitor meant it: trimmed, at most 254 characters, syntactically
/// valid, with a dotted domain (so `ada@gmail` is caught as the typo it is). It is keyed
/// lower-cased: RFC 5321 lets a mailbox be case-sensitive, but no mail service in common
/// use treats it so, while one visitor typing `Ada@` once and `ada@` later must match
/// the same customer. The address as typed is kept beside the key, because Clover keeps
/// the case an address was typed with at the register and may search it exactly.
///
/// The domain is always in its ASCII form, in the key and the typed address alike:
/// `bücher.example` becomes `xn--bcher-kva.example`, as a browser's `type=email` sends
/// it. Otherwise one mailbox typed both ways would be two visitors, and a domain made of
/// look-alike letters would reach the merchant's screens looking like another. A domain
/// that has no ASCII form (UTS #46 refuses it) is refused.
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
        // Refused anywhere in the address, not left to IDNA: UTS #46 silently drops some
        // of them (U+FEFF, U+00AD) from a domain, and a local part keeps them.
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace())
            || has_invisible_characters(trimmed)
        {
            return Err(FieldError::InvalidEmail);
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(FieldError::InvalidEmail);
        };
        if domain.starts_with('[') {
            return Err(FieldError::InvalidEmail);
        }
        let domain = ascii_domain(domain).ok_or(FieldError::InvalidEmail)?;
        let dotted = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
        if !dotted {
            return Err(FieldError::InvalidEmail);
        }
        let as_typed = match &domain {
            // An ASCII domain stays as typed, capitals and all: Clover is searched with it.
            Cow::Borrowed(_) => trimmed.to_owned(),
            Cow::Owned(ascii) => format!("{local}@{ascii}"),
        };
        let address = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
        if address.len() > Self::MAX_LEN
            || as_typed.len() > Self::MAX_LEN
            || !address.validate_email()
        {
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

/// The domain in ASCII by UTS #46, as browsers convert `type=email` (non-transitional,
/// with the bidi and joiner rules, STD3 letters, digits and hyphens, DNS lengths). An ASCII
/// domain comes back borrowed (the caller keeps its case); one that needed converting,
/// owned and lower-cased. `None` when it is not a valid domain name.
fn ascii_domain(domain: &str) -> Option<Cow<'_, str>> {
    let ascii = Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Allow,
            DnsLength::Verify,
        )
        .ok()?;
    if domain.is_ascii() && ascii.eq_ignore_ascii_case(domain) {
        Some(Cow::Borrowed(domain))
    } else {
        Some(Cow::Owned(ascii.into_owned()))
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
    fn international_domains_are_kept_in_their_ascii_form() {
        let email = EmailAddress::parse("Ada@Bücher.example").unwrap();
        assert_eq!(email.as_ref(), "ada@xn--bcher-kva.example");
        assert_eq!(email.as_typed(), "Ada@xn--bcher-kva.example");
        // Typed in ASCII already, or with a full-width stop: the same mailbox.
        let ascii = EmailAddress::parse("ada@XN--BCHER-KVA.example").unwrap();
        assert_eq!(ascii.as_ref(), email.as_ref());
        assert_eq!(ascii.as_typed(), "ada@XN--BCHER-KVA.example");
        let stop = EmailAddress::parse("ada@bücher\u{3002}example").unwrap();
        assert_eq!(stop.as_ref(), email.as_ref());
    }

    #[test]
    fn domains_without_an_ascii_form_or_with_invisible_characters_are_refused() {
        for raw in [
            "ada@ex\u{200B}ample.com",
            "ada@ex\u{200D}ample.com",
            "ada@\u{FEFF}example.com",
            "ada@exam\u{AD}ple.com",
            "ada@exa\u{202E}mple.com",
            "a\u{200B}da@example.com",
            "ada@xn--zz.example",
            "ada@ex_ample.com",
            "ada@\u{5D0}\u{5D1}c.example",
            &format!("ada@{}.com", "a".repeat(64)),
        ] {
            assert_eq!(
                EmailAddress::parse(raw),
                Err(FieldError::InvalidEmail),
                "{raw:?}"
            );
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
