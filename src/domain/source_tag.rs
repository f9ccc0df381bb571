//! Where a signup came from, as the merchant named it: the `src` of the address the visitor
//! opened (`/?src=counter`, the poster's QR code), or the counter tablet it was typed on
//! (`kiosk:front counter`). It is the merchant's word, shown back to them on the admin
//! page, in the digest, in `/metrics` and in the customer's note in Clover.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest `src` slug taken from an address.
pub const SLUG_MAX_CHARS: usize = 32;

/// Kiosk sources start with this, and a slug never holds a colon.
const KIOSK_PREFIX: &str = "kiosk:";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceTag(String);

impl SourceTag {
    /// A `src` slug from an address: 1 to 32 of `a`–`z`, `0`–`9` and `-`. Anything else is
    /// no source at all rather than an error: the address is the merchant's, the visitor
    /// only followed it, and a signup is never refused for how it was reached.
    pub fn slug(text: &str) -> Option<Self> {
        let valid = (1..=SLUG_MAX_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(text.to_owned()))
    }

    /// A signup typed on the counter tablet named `device_name`.
    pub fn kiosk(device_name: &str) -> Self {
        Self(format!("{KIOSK_PREFIX}{device_name}"))
    }

    /// As stored by an earlier signup.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Typed on a paired tablet.
    pub fn is_kiosk(&self) -> bool {
        self.0.starts_with(KIOSK_PREFIX)
    }

    /// The `source` of a consent given with the signup, in the ledger: a kiosk's own
    /// (`kiosk:front counter`), or the door with the slug (`form:counter`).
    pub fn ledger_source(tag: Option<&Self>, door: &str) -> String {
        match tag {
            None => door.to_owned(),
            Some(tag) if tag.is_kiosk() => tag.0.clone(),
            Some(tag) => format!("{door}:{}", tag.0),
        }
    }
}

impl fmt::Display for SourceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SourceTag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_short_lowercase_letters_digits_and_dashes() {
        for good in ["counter", "spring-2027", "a", &"x".repeat(32)] {
            assert_eq!(SourceTag::slug(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Counter",
            "counter ",
            "kiosk:front",
            "caf\u{e9}",
            "a_b",
            "<script>",
            &"x".repeat(33),
        ] {
            assert_eq!(SourceTag::slug(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_ledger_names_the_door_and_the_slug_or_the_kiosk() {
        let counter = SourceTag::slug("counter").unwrap();
        let kiosk = SourceTag::kiosk("front counter");
        assert_eq!(SourceTag::ledger_source(None, "form"), "form");
        assert_eq!(
            SourceTag::ledger_source(Some(&counter), "embed"),
            "embed:counter"
        );
        assert_eq!(
            SourceTag::ledger_source(Some(&kiosk), "kiosk"),
            "kiosk:front counter"
        );
        assert!(kiosk.is_kiosk() && !counter.is_kiosk());
    }
}
