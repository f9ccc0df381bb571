use std::time::Duration;

/// Why a call to Clover (or to the demo stand-in) did not succeed, sorted by what the
/// delivery worker should do about it.
#[derive(Debug, thiserror::Error)]
pub enum CloverError {
    /// Clover refused the credential. Delivery pauses until it works again.
    #[error("Clover refused the credential (401)")]
    Unauthorized,
    /// Clover accepts the credential but not for this: a permission the merchant did not
    /// grant. A setup problem, never the signup's fault: delivery is parked until the
    /// permission is granted.
    #[error("{0}")]
    MissingPermission(MissingPermission),
    /// A temporary failure: 5xx, timeout, connection error, or rate limiting that outlasted
    /// our patience. The request may or may not have been carried out.
    #[error("Clover is unavailable: {reason}")]
    Unavailable {
        reason: String,
        /// At least this long before trying again (from `retry-after`), if Clover said.
        retry_after: Option<Duration>,
    },
    /// Clover refused the request itself (a 4xx other than 401/403/429): retrying the same
    /// request cannot help.
    #[error("Clover rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Clover answered 2xx with something we could not read.
    #[error("unexpected answer from Clover: {0}")]
    UnexpectedResponse(String),
    /// The service's own records failed it: the demo stand-in's database, or a stored
    /// credential that cannot be used. Retried like an unexpected answer.
    #[error("demo storage failed: {0}")]
    Storage(String),
}

impl CloverError {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// A permission delivery needs and the credential lacks. Clover answers a missing
/// permission with `401`, like a bad token (its "401 Unauthorized" page), sometimes with
/// `403` ("Invalid permissions for expandable fields"), or, for the field-level
/// permissions of Europe, by leaving the fields out of its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPermission {
    /// Customers can be searched but not created or changed (Customers write; in Europe
    /// also the write permissions of email addresses, phone numbers and addresses).
    WriteCustomers,
    /// Customers come back without their email addresses (or Clover refuses, with `403`,
    /// the contact fields a search expands), so an existing customer cannot be
    /// recognised and every signup would become a duplicate.
    ReadEmailAddresses,
}

impl MissingPermission {
    /// A stable name for `status.json`.
    pub fn code(self) -> &'static str {
        match self {
            Self::WriteCustomers => "customers_write",
            Self::ReadEmailAddresses => "customer_email_addresses_read",
        }
    }

    /// What is wrong and the one thing that fixes it, for the merchant.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::WriteCustomers => {
                "The token can read customers but not create them: grant Customers write \
                 (in Europe also write access to customers' email addresses, phone numbers \
                 and addresses). Submissions are kept and delivered once it is granted."
            }
            Self::ReadEmailAddresses => {
                "This token cannot read customers' email addresses (or Clover refuses the \
                 contact fields a search asks for), so existing customers cannot be \
                 recognised and every signup would become a duplicate: grant read access to \
                 customers' email addresses and phone numbers (field-level permissions in \
                 Europe). Submissions are kept and delivered once it is granted."
            }
        }
    }
}

impl std::fmt::Display for MissingPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.explanation())
    }
}
