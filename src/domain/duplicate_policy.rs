use std::fmt;
use std::str::FromStr;

/// What to do when the merchant already has a customer with the submitted email address.
/// Clover does not keep email addresses unique, so this is the service's decision. Nobody
/// proves they own the address they type, so the default trusts nothing they send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// Add the phone the customer lacks and fill empty names; never overwrite or remove
    /// anything. Anyone who knows a customer's address can add to that customer, so this
    /// is only ever an explicit choice.
    Update,
    /// Leave the customer untouched (but for the consent line in an empty note) and link
    /// the submission to it.
    #[default]
    Skip,
    /// Always create a new customer.
    Create,
}

impl DuplicatePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Skip => "skip",
            Self::Create => "create",
        }
    }
}

impl FromStr for DuplicatePolicy {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "update" => Ok(Self::Update),
            "skip" => Ok(Self::Skip),
            "create" => Ok(Self::Create),
            _ => Err(()),
        }
    }
}

impl fmt::Display for DuplicatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
