//! What the merchant's admin pages read and keep: the statistics they show and the
//! generation admin sessions are signed under. The pages themselves are in
//! `routes::admin`. Both ports are implemented for SQLite and PostgreSQL in `storage`;
//! the contract tests are `tests/storage/admin.rs`.

pub mod access;
pub mod dashboard;
pub mod export;
pub mod people;
pub mod refusal;
pub mod search;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use serde::Serialize;

use crate::delivery::DeliveryOutcome;
use crate::storage::{SignupDetails, StorageError, SubmissionId};

/// The admin page's numbers, read only.
#[async_trait]
pub trait Statistics: Send + Sync {
    async fn queue_counts(&self) -> Result<QueueCounts, StorageError>;
    /// The most recent submissions, newest first.
    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError>;
    /// Bots turned away, by reason, as stored: those counted in memory and not yet
    /// written are added by [`crate::intake::store::BotTally::with_stored`].
    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError>;
    /// What waits, read at every `/metrics` scrape: counts over the pending and failed
    /// signups alone (by the index on state, never a scan of every signup kept) and
    /// over the open alerts, in one round trip.
    async fn backlog(&self) -> Result<Backlog, StorageError>;
    /// The troubles the merchant was alerted to and that are not over, oldest first.
    async fn open_alerts(&self) -> Result<Vec<OpenAlert>, StorageError>;
    /// Signups received from `from_ms` on, counted per quarter of an hour (Unix
    /// milliseconds divided by [`QUARTER_HOUR_MS`]): fine enough to be summed into days in
    /// any time zone, whose offsets are all whole quarters of an hour.
    async fn received_per_quarter_hour(
        &self,
        from_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StorageError>;
    /// Signups received in `[from_ms, to_ms)` by where they came from (`src`, or a
    /// kiosk; `None` for neither), most first.
    async fn signups_per_source(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SourceCount>, StorageError>;
    /// How long signups received from `from_ms` on took to reach Clover.
    async fn delivery_times(&self, from_ms: i64) -> Result<DeliveryTimes, StorageError>;
    /// The submissions stored under `email` (as stored: trimmed and lower-cased), newest
    /// first, at most `limit`.
    async fn find_by_email(
        &self,
        email: &str,
        limit: u32,
    ) -> Result<Vec<SubmissionSummary>, StorageError>;
    /// Every submission received in `[from_ms, to_ms)`, oldest first, as stored.
    async fn export(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ExportRow>, StorageError>;
    /// Every submission stored under `email` (as stored), oldest first, whole: what an
    /// access request is answered with.
    async fn kept_about(&self, email: &str) -> Result<Vec<ExportRow>, StorageError>;
}

/// Signups from one source, as [`Statistics::signups_per_source`] counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCount {
    /// `None`: the plain address, with no `src`.
    pub source: Option<String>,
    pub signups: u64,
}

/// The width of [`Statistics::received_per_quarter_hour`]'s buckets.
pub const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;

/// One open alert as the ledger keeps it: the trouble's key (`alerts::Trouble::key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    pub trouble: String,
    pub opened_at_ms: i64,
}

/// From signup to Clover, over the delivered signups of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryTimes {
    pub delivered: u64,
    /// The middle one (the lower of the two middle ones for an even count).
    pub median_ms: Option<i64>,
    pub slowest_ms: Option<i64>,
}

/// One line of the CSV export, as stored: a signup whose personal data retention erased
/// has no names, phone, and an empty email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub source: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub marketing_consent: bool,
    pub state: SubmissionState,
    pub delivered_at_ms: Option<i64>,
    pub clover_customer_id: Option<String>,
    /// Birthday, address and note, when the form asked for them.
    pub details: SignupDetails,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// What waits: signups for delivery or for the merchant, and alerts not yet over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    pub failed: u64,
    /// When the oldest pending signup was received (Unix milliseconds); `None` when
    /// none is pending.
    pub oldest_pending_at_ms: Option<i64>,
    pub alerts_open: u64,
}

/// One line of the admin page. Holds the stored email: mask it before showing it.
#[derive(Debug, Clone)]
pub struct SubmissionSummary {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub email: String,
    pub state: SubmissionState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub clover_customer_id: Option<String>,
    pub outcome: Option<DeliveryOutcome>,
    pub delivered_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    Pending,
    Delivered,
    Failed,
}

impl fmt::Display for SubmissionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmissionState::Pending => "pending",
            SubmissionState::Delivered => "delivered",
            SubmissionState::Failed => "failed",
        })
    }
}
