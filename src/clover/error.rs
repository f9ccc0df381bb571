use std::time::Duration;

/// Why a call to Clover (or to the demo stand-in) did not succeed, sorted by what the
/// delivery worker should do about it.
#[derive(Debug, thiserror::Error)]
pub enum CloverError {
    /// Clover refused the credential. Delivery pauses until it works again.
    #[error("Clover refused the credential (401)")]
    Unauthorized,
    /// A temporary failure: 5xx, timeout, connection error, or rate limiting that outlasted
    /// our patience. The request may or may not have been carried out.
    #[error("Clover is unavailable: {reason}")]
    Unavailable {
        reason: String,
        /// At least this long before trying again (from `retry-after`), if Clover said.
        retry_after: Option<Duration>,
    },
    /// Clover refused the request itself (a 4xx other than 401/429): retrying the same
    /// request cannot help.
    #[error("Clover rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Clover answered 2xx with something we could not read.
    #[error("unexpected answer from Clover: {0}")]
    UnexpectedResponse(String),
    /// The demo stand-in's database failed.
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
