//! The delivery queue as the worker sees it: submissions claimed by one instance at a
//! time under a lease, and what became of each. Implemented for SQLite and PostgreSQL in
//! `storage`; the contract tests are `tests/storage/queue.rs`. A queue is bound to the
//! instance it claims for (see [`crate::storage::Storage::instance`]); the arithmetic of
//! its leases is in [`super::lease`].

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;

use serde::Serialize;

use crate::storage::{SignupDetails, StorageError, SubmissionId};

#[async_trait]
pub trait Queue: Send + Sync {
    /// Claims up to `limit` due submissions until `lease` runs out, counting the attempt.
    /// A row is claimed by one instance at a time, and never two rows with the same email
    /// at once (both would search, find nobody and create the visitor twice).
    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError>;
    /// Says this instance is alive and extends its claims on the `running` submissions
    /// by `lease`. Its other claims (deliveries that ended without recording a result)
    /// are left to run out: a request of theirs may still reach Clover. Returns how many
    /// instances were alive within the last `lease`, this one included.
    async fn heartbeat(
        &self,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError>;
    /// How long this instance's claim on `id` has left to run; `None` when it holds none
    /// (it ran out and another instance took it, or the delivery was recorded).
    async fn claim_left(&self, id: &SubmissionId) -> Result<Option<Duration>, StorageError>;
    /// Takes this instance's turn to send deliveries to Clover, or keeps it, for `lease`
    /// from now. One instance at a time has the turn, so that together they use Clover's
    /// whole per-token budget and never more; a turn not renewed runs out and another
    /// instance takes it. `clover_paused_until` passes on the end of a pause Clover
    /// imposed on this instance (a `429`'s `retry-after`, epoch milliseconds); the answer
    /// carries the latest end any instance passed on.
    async fn take_turn(
        &self,
        lease: Duration,
        clover_paused_until: Option<i64>,
    ) -> Result<Turn, StorageError>;
    /// This instance stops: it no longer counts as alive, gives up its turn to deliver
    /// (another instance takes it at once), and its claims are released
    /// but for those of deliveries cut off mid-way (`running`), which run out with their
    /// lease: a request of theirs may still be on its way to Clover.
    async fn leave(&self, running: &[SubmissionId]) -> Result<(), StorageError>;
    /// The submission reached Clover: leave the queue, keep the customer id. A delivery
    /// recorded earlier (by an instance whose claim ran out) is kept as it is. Returns
    /// whether the submission is still kept: not when it was erased while its delivery
    /// was under way.
    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError>;
    /// Clover will never accept this submission as it is: leave the queue, keep the
    /// reason. Only while this instance holds the claim: another may have delivered it.
    /// Returns whether it was recorded: not when the claim was lost, nor when the
    /// submission was erased while its delivery was under way.
    async fn mark_failed(&self, id: &SubmissionId, reason: &str) -> Result<bool, StorageError>;
    /// Try again at `next_attempt_at_ms`, remembering why. Only while this instance still
    /// holds the claim: one another instance took over is no longer ours to release.
    async fn reschedule(
        &self,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError>;
    /// When the next queued submission falls due (or its claim runs out), if any waits.
    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError>;
    /// Makes every queued, unclaimed submission due now. Returns how many.
    async fn make_all_due(&self) -> Result<usize, StorageError>;
    /// Puts every failed submission back in the queue, due now. Returns how many.
    async fn retry_failed(&self) -> Result<usize, StorageError>;
    /// Erases the personal data of submissions delivered before `cutoff_ms`: names,
    /// email, phone, details and idempotency key. The id, state, outcome, consent answer
    /// and Clover customer id stay, so the admin page still adds up. Pending and failed
    /// submissions are kept whole until they are resolved. Returns how many were erased.
    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
}

/// What [`Queue::take_turn`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// This instance may send deliveries until the lease it asked for runs out.
    pub ours: bool,
    /// Until when (epoch milliseconds) Clover asked every instance to wait, if it did.
    pub clover_paused_until: Option<i64>,
}

impl Turn {
    /// Reads a stored row: its holder and its pause, `0` for none.
    pub fn of(holder: &str, instance: &str, clover_paused_until: i64) -> Self {
        Self {
            ours: holder == instance,
            clover_paused_until: (clover_paused_until > 0).then_some(clover_paused_until),
        }
    }
}

/// A submission claimed for delivery, with everything needed to deliver it.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Lower-cased: the key deliveries of one person are kept in order by.
    pub email: String,
    pub phone: Option<String>,
    /// Birthday, address and note, when the form asked for them.
    pub details: SignupDetails,
    pub marketing_consent: bool,
    pub consent_text: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl QueuedDelivery {
    /// The email address as the visitor typed it: what Clover is searched with first, and
    /// what a new customer is given.
    pub fn email_as_typed(&self) -> &str {
        self.details
            .email_as_typed
            .as_deref()
            .unwrap_or(&self.email)
    }
}

/// What delivering a submission did in Clover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A new customer was created.
    Created,
    /// An existing customer gained the email, phone or names they lacked.
    Updated,
    /// An existing customer was left as it was and the submission linked to it.
    Linked,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Linked => "linked",
        }
    }
}

/// Of the due submissions a claim found (in queue order, none of them sharing an email
/// with a submission under another live claim), the ones it takes: the first of each
/// email. Keeping out the emails claimed elsewhere stays in each store's query, under
/// the claim's lock and before its `LIMIT`: filtered afterwards, a backlog of one
/// visitor's resends could fill every batch and starve the rest of the queue.
pub fn one_per_email(due: Vec<QueuedDelivery>) -> Vec<QueuedDelivery> {
    let mut emails = HashSet::new();
    due.into_iter()
        .filter(|delivery| emails.insert(delivery.email.to_lowercase()))
        .collect()
}
