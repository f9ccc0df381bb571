//! What the merchant's admin pages read and keep: the statistics they show and the
//! generation admin sessions are signed under. The pages themselves are in
//! `routes::admin`. Both ports are implemented for SQLite and PostgreSQL in `storage`;
//! the contract tests are `tests/storage/admin.rs`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::storage::{QueueCounts, StorageError, SubmissionSummary};

/// The admin page's numbers, read only.
#[async_trait]
pub trait Statistics: Send + Sync {
    async fn queue_counts(&self) -> Result<QueueCounts, StorageError>;
    /// The most recent submissions, newest first.
    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError>;
    /// Bots turned away, by reason, as stored: those counted in memory and not yet
    /// written are added by [`crate::intake::store::BotTally::with_stored`].
    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError>;
}

/// The generation admin sessions are signed under, shared by every instance: a sign-out
/// anywhere ends every session.
#[async_trait]
pub trait AdminSessions: Send + Sync {
    async fn generation(&self) -> Result<u64, StorageError>;
    /// Ends every admin session, on every instance: moves to the next generation and
    /// returns it.
    async fn end_all(&self) -> Result<u64, StorageError>;
}
