//! The merchant looks a customer up by email: every submission stored under that address,
//! shown in full, since the admin is the merchant whose list it is. The address is never
//! logged, and reaches the service in a POST body, never a URL.

use serde::Serialize;

use super::status::at_ms;
use super::{Statistics, SubmissionState};
use crate::storage::StorageError;

/// At most this many submissions are shown for one address.
const MOST: u32 = 100;

/// One submission found, as the search page shows it.
#[derive(Debug, Serialize)]
pub struct FoundSubmission {
    pub id: String,
    pub email: String,
    pub received_at: String,
    pub state: SubmissionState,
    pub outcome: Option<&'static str>,
    pub delivered_at: Option<String>,
    pub clover_customer_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The address as the store keeps addresses: trimmed and lower-cased (see
/// [`crate::domain::EmailAddress`]), so that the match is exact but ignores case.
pub fn normalised(query: &str) -> String {
    query.trim().to_lowercase()
}

/// Every submission stored under `query`'s address, newest first. An empty query finds
/// nothing rather than every signup retention erased.
pub async fn find(
    statistics: &dyn Statistics,
    query: &str,
) -> Result<Vec<FoundSubmission>, StorageError> {
    let email = normalised(query);
    if email.is_empty() {
        return Ok(Vec::new());
    }
    let rows = statistics.find_by_email(&email, MOST).await?;
    Ok(rows
        .into_iter()
        .map(|row| FoundSubmission {
            id: row.id.to_string(),
            email: row.email,
            received_at: at_ms(row.received_at_ms),
            state: row.state,
            outcome: row.outcome.map(|o| o.as_str()),
            delivered_at: row.delivered_at_ms.map(at_ms),
            clover_customer_id: row.clover_customer_id,
            attempts: row.attempts,
            last_error: row.last_error,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_query_is_matched_as_addresses_are_stored() {
        assert_eq!(super::normalised("  Ada@Example.COM "), "ada@example.com");
    }
}
