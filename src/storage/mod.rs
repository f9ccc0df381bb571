//! Where submissions, their delivery queue, the Clover credential and the admin page's
//! counts live. [`Store`] is the one interface; [`sqlite`] keeps everything in one file
//! for one machine (the default) and [`postgres`] in a database several instances of the
//! service share. Every write a visitor is told about is durable before they are told.

mod cipher;
mod credentials;
pub mod inspection;
mod location;
mod migrations;
mod postgres;
mod records;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

pub use cipher::{DecryptError, SecretCipher};
pub use credentials::{
    CredentialKind, CredentialLock, SealedCredential, StoredCredential, env_token_digest,
};
pub use location::{DatabaseLocation, PostgresUrl};
pub use records::{
    DeliveryOutcome, DemoCustomer, Inserted, NewSubmission, QueueCounts, QueuedDelivery,
    SignupDetails, Source, SubmissionId, SubmissionState, SubmissionSummary,
};

use crate::domain::{IdempotencyKey, NewSignup};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(String),
    #[error("no database connection: {0}")]
    Connection(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot make {path} readable by this user only ({source}): it holds visitors' \
         personal data; run the service as the file's owner, or chmod 600 it"
    )]
    Permissions {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migration(String),
    #[error("a database task stopped unexpectedly")]
    TaskFailed,
    #[error("the commit of a batch of submissions failed: {0}")]
    Commit(String),
    #[error(transparent)]
    Decrypt(DecryptError),
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        // The server's message and code say what went wrong; its DETAIL is left out, as
        // it can quote a row ("Failing row contains ..."), a visitor's email among it.
        let text = match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => match std::error::Error::source(&error) {
                Some(cause) => format!("{error}: {cause}"),
                None => error.to_string(),
            },
        };
        Self::Postgres(text)
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => Self::Connection(other.to_string()),
        }
    }
}

/// Everything the service keeps, as one interface with an implementation per database.
/// Both pass the same tests (`tests/storage`). Ids of delivery claims (`instance`) name
/// the running process: several may share a PostgreSQL database.
#[async_trait]
pub trait Store: Send + Sync {
    /// Whether the database answers, for `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Stores a valid signup and queues its delivery; durable once this returns. One whose
    /// idempotency key and content match an earlier one is not stored again, and one whose
    /// key names an earlier submission with other content is not stored at all
    /// ([`Inserted::KeyTaken`]).
    async fn insert_submission(&self, submission: NewSubmission) -> Result<Inserted, StorageError>;
    async fn queue_counts(&self) -> Result<QueueCounts, StorageError>;
    /// The most recent submissions, newest first.
    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError>;
    /// Erases the personal data of submissions delivered before `cutoff_ms`, and the demo
    /// stand-in's customers made before it. Returns how many records were erased.
    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
    /// Puts every failed submission back in the queue, due now. Returns how many.
    async fn retry_failed(&self) -> Result<usize, StorageError>;

    /// Claims up to `limit` due submissions for `instance` until `lease` runs out, counting
    /// the attempt. A row is claimed by one instance at a time, and never two rows with
    /// the same email at once (both would search, find nobody and create the visitor
    /// twice).
    async fn claim_due(
        &self,
        instance: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError>;
    /// Says `instance` is alive and extends its claims on the `running` submissions by
    /// `lease`. Its other claims (deliveries that ended without recording a result) are
    /// left to run out: a request of theirs may still reach Clover. Returns how many
    /// instances were alive within the last `lease`, this one included.
    async fn heartbeat(
        &self,
        instance: &str,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError>;
    /// How long the claim of `instance` on `id` has left to run; `None` when it holds
    /// none (it ran out and another instance took it, or the delivery was recorded).
    async fn claim_left(
        &self,
        instance: &str,
        id: &SubmissionId,
    ) -> Result<Option<Duration>, StorageError>;
    /// `instance` stops: it no longer counts as alive, and its claims are released but
    /// for those of deliveries cut off mid-way (`running`), which run out with their
    /// lease: a request of theirs may still be on its way to Clover.
    async fn leave(&self, instance: &str, running: &[SubmissionId]) -> Result<(), StorageError>;
    /// The submission reached Clover: leave the queue, keep the customer id. A delivery
    /// recorded earlier (by an instance whose claim ran out) is kept as it is.
    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<(), StorageError>;
    /// Clover will never accept this submission as it is: leave the queue, keep the reason.
    /// Only while `instance` holds the claim: another instance may have delivered it.
    async fn mark_failed(
        &self,
        instance: &str,
        id: &SubmissionId,
        reason: &str,
    ) -> Result<(), StorageError>;
    /// Try again at `next_attempt_at_ms`, remembering why. Only while `instance` still
    /// holds the claim: one another instance took over is no longer ours to release.
    async fn reschedule(
        &self,
        instance: &str,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError>;
    /// When the next queued submission falls due (or its claim runs out), if any waits.
    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError>;
    /// Makes every queued, unclaimed submission due now. Returns how many.
    async fn make_all_due(&self) -> Result<usize, StorageError>;

    async fn load_credential(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError>;
    async fn save_credential(&self, credential: SealedCredential) -> Result<(), StorageError>;
    /// See [`Database::lock_credential`].
    async fn lock_credential(&self, wait: Duration) -> Result<CredentialLock, StorageError>;

    /// The generation admin sessions are signed under (see the admin routes).
    async fn admin_session_generation(&self) -> Result<u64, StorageError>;
    /// Ends every admin session, on every instance: moves to the next generation and
    /// returns it.
    async fn end_admin_sessions(&self) -> Result<u64, StorageError>;

    /// Adds `count` submissions turned away as bots for `reason`, in one statement;
    /// nothing else of them is kept. See [`Database::count_bot`].
    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError>;
    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError>;

    /// The demo stand-in's customers with this email (any case), oldest first.
    async fn demo_customers_with_email(
        &self,
        email: &str,
    ) -> Result<Vec<DemoCustomer>, StorageError>;
    async fn add_demo_customer(&self, customer: DemoCustomer) -> Result<(), StorageError>;
    /// Returns false when there is no such customer.
    async fn add_demo_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError>;
    /// Sets the note of a customer whose note is empty; a note is never replaced. False
    /// when there is no such customer.
    async fn set_empty_demo_note(&self, id: &str, note: &str) -> Result<bool, StorageError>;
    /// Sets the given names; `None` keeps the stored one. False when there is no such
    /// customer.
    async fn set_demo_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError>;
}

/// A handle to the store, cheap to clone, that knows which instance of the service it
/// serves.
#[derive(Clone)]
pub struct Database {
    store: Arc<dyn Store>,
    /// Names this process in delivery claims: random, so a restarted process never
    /// mistakes the claims of the one before it for its own.
    instance: Arc<str>,
    /// Bots counted since the last flush; see [`Database::count_bot`].
    bots: Arc<BotTally>,
}

/// Bots counted in memory. Counting one must cost a flood nothing: a write (an fsync
/// with SQLite) per bot let 1,600 bot posts a second slow every visitor's signup down.
#[derive(Default)]
struct BotTally {
    /// Counted and not yet handed to a flush.
    unflushed: Mutex<BTreeMap<&'static str, u64>>,
    /// Held by a flush from taking the counts until they are written (or put back), and
    /// by [`Database::bot_counts`] while it adds the stored counts to those in memory:
    /// so that no count is ever missing from, or twice in, what the admin sees.
    flushing: tokio::sync::Mutex<()>,
}

impl BotTally {
    fn unflushed(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // Plain counters: a panic elsewhere cannot leave them half-changed.
        self.unflushed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Database {
    /// Opens the database `location` names, creating and migrating it as needed.
    pub async fn open(location: &DatabaseLocation) -> Result<Self, StorageError> {
        let store: Arc<dyn Store> = match location {
            DatabaseLocation::Sqlite(path) => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
                    .await
                    .map_err(|_| StorageError::TaskFailed)??;
                Arc::new(store)
            }
            DatabaseLocation::Postgres(url) => Arc::new(postgres::PostgresStore::open(url).await?),
        };
        Ok(Self {
            store,
            instance: crate::domain::random_uuid().to_string().into(),
            bots: Arc::default(),
        })
    }

    /// The name of this process in delivery claims and the instance count.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        self.store.ping().await
    }

    /// Stores a valid signup and queues its delivery: once this returns, the submission
    /// is durable and will reach Clover. A submission whose idempotency key was seen
    /// before, with the same content, is not stored again.
    pub async fn insert_submission(
        &self,
        signup: NewSignup,
        source: Source,
        consent_text: String,
        key: Option<IdempotencyKey>,
    ) -> Result<Inserted, StorageError> {
        self.store
            .insert_submission(NewSubmission {
                signup,
                source,
                consent_text,
                key,
            })
            .await
    }

    pub async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        self.store.queue_counts().await
    }

    pub async fn recent_submissions(
        &self,
        limit: u32,
    ) -> Result<Vec<SubmissionSummary>, StorageError> {
        self.store.recent_submissions(limit).await
    }

    /// Erases the personal data of submissions delivered before `cutoff_ms`: names, email,
    /// phone, details and idempotency key. The id, state, outcome, consent answer and
    /// Clover customer id stay, so the admin page still adds up. Pending and failed
    /// submissions are kept whole until they are resolved. The demo stand-in's customers
    /// made before `cutoff_ms` are deleted: unlike Clover's, they are this service's own
    /// copy of visitors' data.
    pub async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.store.erase_delivered_before(cutoff_ms).await
    }

    pub async fn retry_failed(&self) -> Result<usize, StorageError> {
        self.store.retry_failed().await
    }

    /// Claims up to `limit` due submissions for this instance, for `lease` unless renewed
    /// by [`Database::heartbeat`].
    pub async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.store.claim_due(&self.instance, limit, lease).await
    }

    /// Renews this instance's presence and its claims on the `running` submissions.
    /// Returns how many instances are alive.
    pub async fn heartbeat(
        &self,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError> {
        self.store.heartbeat(&self.instance, lease, running).await
    }

    /// How long this instance's claim on `id` has left, if it still holds it.
    pub async fn claim_left(&self, id: &SubmissionId) -> Result<Option<Duration>, StorageError> {
        self.store.claim_left(&self.instance, id).await
    }

    /// This instance stops delivering: others may take its claims at once, but for those
    /// of deliveries cut off mid-way (`running`), once their lease runs out.
    pub async fn leave(&self, running: &[SubmissionId]) -> Result<(), StorageError> {
        self.store.leave(&self.instance, running).await
    }

    pub async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<(), StorageError> {
        self.store.mark_delivered(id, customer_id, outcome).await
    }

    pub async fn mark_failed(&self, id: &SubmissionId, reason: &str) -> Result<(), StorageError> {
        self.store.mark_failed(&self.instance, id, reason).await
    }

    pub async fn reschedule(
        &self,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        self.store
            .reschedule(&self.instance, id, next_attempt_at_ms, reason)
            .await
    }

    pub async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        self.store.next_due_at_ms().await
    }

    pub async fn make_all_due(&self) -> Result<usize, StorageError> {
        self.store.make_all_due().await
    }

    /// Counts one submission turned away as a bot, in memory: written by
    /// [`Database::flush_bot_counts`], which the service runs every few seconds and when
    /// it stops.
    pub fn count_bot(&self, reason: &'static str) {
        *self.bots.unflushed().entry(reason).or_default() += 1;
    }

    pub async fn admin_session_generation(&self) -> Result<u64, StorageError> {
        self.store.admin_session_generation().await
    }

    pub async fn end_admin_sessions(&self) -> Result<u64, StorageError> {
        self.store.end_admin_sessions().await
    }

    /// Writes the bots counted since the last flush, one statement per reason. What
    /// could not be written is kept for the next flush. Run it to the end: dropped while
    /// it writes, it would lose the counts it had taken.
    pub async fn flush_bot_counts(&self) -> Result<(), StorageError> {
        let _flushing = self.bots.flushing.lock().await;
        let mut counts = std::mem::take(&mut *self.bots.unflushed());
        let mut result = Ok(());
        while let Some((reason, count)) = counts.pop_first() {
            if let Err(error) = self.store.add_bots(reason, count).await {
                counts.insert(reason, count);
                result = Err(error);
                break;
            }
        }
        let mut unflushed = self.bots.unflushed();
        for (reason, count) in counts {
            *unflushed.entry(reason).or_default() += count;
        }
        result
    }

    /// Bots turned away, by reason: those stored, with those this instance has counted
    /// and not written yet.
    pub async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        let _flushing = self.bots.flushing.lock().await;
        let mut counts = self.store.bot_counts().await?;
        for (reason, count) in self.bots.unflushed().iter() {
            *counts.entry((*reason).to_owned()).or_default() += count;
        }
        Ok(counts)
    }

    /// The store itself, for the demo stand-in's customers.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

/// A database migrated by a newer version (a rollback during a deploy) is used all the
/// same: migrations only add, with defaults, so this version can still work with it.
fn note_newer_schema(found: usize, known: usize) {
    if found > known {
        tracing::warn!(
            found,
            known,
            "the database was migrated by a newer version of the service"
        );
    }
}

/// A duration in the unit timestamps are stored in.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What is left until `lease_until` (milliseconds since the epoch), if anything.
fn time_left(lease_until: Option<i64>) -> Option<Duration> {
    let left = lease_until?.checked_sub(now_ms())?;
    (left > 0).then(|| Duration::from_millis(left.unsigned_abs()))
}

/// Milliseconds since the Unix epoch, the unit every timestamp is stored in.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
