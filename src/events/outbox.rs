//! The events waiting to be sent, in the database: they survive restarts, and one
//! instance at a time sends each (a claim with a lease, as for deliveries). Implemented
//! for SQLite and PostgreSQL in `storage`.

use std::time::Duration;

use async_trait::async_trait;

use crate::storage::StorageError;

/// One event as stored: its body is sent as it is, byte for byte, so that its signature
/// holds whenever it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    pub kind: String,
    pub body: String,
    pub created_at_ms: i64,
    /// Tries so far, this one included.
    pub attempts: u32,
}

#[async_trait]
pub trait EventOutbox: Send + Sync {
    async fn add(&self, event: &OutboxEvent) -> Result<(), StorageError>;
    /// Claims up to `limit` events due now, oldest first, until `lease` runs out,
    /// counting the try.
    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>, StorageError>;
    /// The receiver took it: it leaves the outbox.
    async fn sent(&self, id: &str) -> Result<(), StorageError>;
    /// Try again at `next_attempt_at_ms`, remembering why.
    async fn retry_at(
        &self,
        id: &str,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), StorageError>;
    /// Tried for long enough: kept, no longer sent.
    async fn abandon(&self, id: &str, error: &str) -> Result<(), StorageError>;
    /// Deletes the events abandoned that were made before `cutoff_ms` (retention).
    /// Returns how many.
    async fn forget_abandoned_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
    /// Events still to be sent.
    async fn pending(&self) -> Result<u64, StorageError>;
}
