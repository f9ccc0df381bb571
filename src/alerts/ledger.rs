//! Open alerts, remembered in the database: one row per trouble while it lasts. Claiming
//! the row is what entitles an instance to send, so a restart sends nothing twice and,
//! of several instances, one sends each alert. Implemented for SQLite and PostgreSQL in
//! `storage`.

use std::time::Duration;

use async_trait::async_trait;

use super::Trouble;
use crate::storage::StorageError;

/// What [`AlertLedger::raise`] entitles the caller to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// The trouble is new: alert.
    Opened,
    /// It has lasted since `opened_at_ms` and the last message is older than the
    /// reminder interval: remind.
    Reminder { opened_at_ms: i64 },
}

impl Raised {
    /// A row claimed at `now_ms` that was opened at `opened_at_ms`.
    pub fn of(opened_at_ms: i64, now_ms: i64) -> Self {
        if opened_at_ms == now_ms {
            Self::Opened
        } else {
            Self::Reminder { opened_at_ms }
        }
    }
}

#[async_trait]
pub trait AlertLedger: Send + Sync {
    /// Records that `trouble` is present at `now_ms`. `Some` when the caller is to send:
    /// the trouble was not open (now it is), or nothing was sent of it for `remind_every`.
    /// `None` when it is open and was sent recently, by this instance or another.
    async fn raise(
        &self,
        trouble: Trouble,
        now_ms: i64,
        remind_every: Duration,
    ) -> Result<Option<Raised>, StorageError>;
    /// Sending what `raise` entitled the caller to failed: the next look sends it again.
    async fn unsend(&self, trouble: Trouble, raised: Raised) -> Result<(), StorageError>;
    /// Records that `trouble` is over. `Some(opened_at_ms)` when the caller closed it and
    /// is to send the all-clear; `None` when it was not open.
    async fn clear(&self, trouble: Trouble) -> Result<Option<i64>, StorageError>;
}

/// The value `raise` and `unsend` compare with: before it, a reminder is due.
pub fn remind_before(now_ms: i64, remind_every: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(remind_every.as_millis()).unwrap_or(i64::MAX))
}
