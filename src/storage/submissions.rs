use std::fmt;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Database, StorageError, now_ms};
use crate::domain::{Birthday, IdempotencyKey, NewSignup, PostalAddress};

/// What a signup carries beyond names, email and phone, kept as one JSON column: fields
/// only some merchants collect, read and written together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Birthday>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl SignupDetails {
    fn of(signup: &NewSignup) -> Self {
        Self {
            birthday: signup.birthday,
            address: signup.address.clone(),
            note: signup.note.as_ref().map(|n| n.as_ref().to_owned()),
        }
    }

    /// The column's value: `NULL` when there is nothing to keep.
    fn to_column(&self) -> Option<String> {
        (*self != Self::default())
            .then(|| serde_json::to_string(self).expect("plain data serializes"))
    }

    /// Reads the column back. A value this version cannot read (written by a newer one)
    /// is set aside with a warning rather than failing the delivery of the rest.
    pub(super) fn from_column(text: Option<String>, submission: &str) -> Self {
        let Some(text) = text else {
            return Self::default();
        };
        serde_json::from_str(&text).unwrap_or_else(|error| {
            tracing::warn!(
                submission,
                %error,
                "a submission's birthday, address or note could not be read and is not sent"
            );
            Self::default()
        })
    }
}

/// A submission's id: a random UUID, safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SubmissionId(String);

impl SubmissionId {
    pub fn random() -> Self {
        Self(crate::domain::random_uuid().to_string())
    }

    pub fn from_stored(id: String) -> Self {
        Self(id)
    }
}

impl AsRef<str> for SubmissionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What storing a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored and queued now.
    New(SubmissionId),
    /// The same submission (same idempotency key) was stored before: nothing was added.
    AlreadyStored(SubmissionId),
}

impl Inserted {
    pub fn id(&self) -> &SubmissionId {
        match self {
            Inserted::New(id) | Inserted::AlreadyStored(id) => id,
        }
    }
}

/// Where a submission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Form,
    Api,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::Api => "api",
        }
    }
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
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
}

impl Database {
    /// Stores a valid signup and queues its delivery: once this returns, the submission
    /// is durable and will reach Clover. Signups arriving together share one commit (see
    /// [`SubmissionWriter`](super::writer::SubmissionWriter)). A submission whose
    /// idempotency key was seen before is not stored again.
    pub async fn insert_submission(
        &self,
        signup: NewSignup,
        source: Source,
        consent_text: String,
        key: Option<IdempotencyKey>,
    ) -> Result<Inserted, StorageError> {
        self.writer
            .insert(NewSubmission {
                signup,
                source,
                consent_text,
                key,
            })
            .await
    }

    pub async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        self.run(|connection| {
            let mut statement =
                connection.prepare("SELECT state, COUNT(*) FROM submissions GROUP BY state")?;
            let mut counts = QueueCounts::default();
            let rows = statement.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
            })?;
            for row in rows {
                let (state, count) = row?;
                match state.as_str() {
                    "pending" => counts.pending = count,
                    "delivered" => counts.delivered = count,
                    _ => counts.failed = count,
                }
            }
            Ok(counts)
        })
        .await
    }

    /// The most recent submissions, newest first.
    pub async fn recent_submissions(
        &self,
        limit: u32,
    ) -> Result<Vec<SubmissionSummary>, StorageError> {
        self.run(move |connection| {
            let mut statement = connection.prepare(
                "SELECT id, received_at, email, state, attempts, last_error, clover_customer_id,
                        outcome
                 FROM submissions ORDER BY received_at DESC, rowid DESC LIMIT ?1",
            )?;
            let rows = statement.query_map([limit], |row| {
                Ok(SubmissionSummary {
                    id: SubmissionId(row.get(0)?),
                    received_at_ms: row.get(1)?,
                    email: row.get(2)?,
                    state: parse_state(&row.get::<_, String>(3)?),
                    attempts: row.get(4)?,
                    last_error: row.get(5)?,
                    clover_customer_id: row.get(6)?,
                    outcome: row
                        .get::<_, Option<String>>(7)?
                        .as_deref()
                        .and_then(parse_outcome),
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Erases the personal data of submissions delivered before `cutoff_ms`: names, email,
    /// phone and idempotency key. The id, state, outcome, consent answer and Clover
    /// customer id stay, so the admin page still adds up. Pending and failed submissions
    /// are kept whole until they are resolved. Returns how many were erased.
    pub async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |connection| {
            let erased = connection.execute(
                "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
                     phone = NULL, idempotency_key = NULL, details = NULL
                 WHERE state = 'delivered' AND delivered_at < ?1 AND email != ''",
                [cutoff_ms],
            )?;
            if erased > 0 {
                // The write-ahead log still holds the old pages: fold it in and empty it.
                connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(erased)
        })
        .await
    }

    /// Puts every failed submission back in the queue, due now. Returns how many.
    pub async fn retry_failed(&self) -> Result<usize, StorageError> {
        self.run(|connection| {
            let now = now_ms();
            let tx = connection.transaction()?;
            tx.execute(
                "INSERT INTO delivery_queue (submission_id, next_attempt_at)
                 SELECT id, ?1 FROM submissions WHERE state = 'failed'",
                [now],
            )?;
            let count = tx.execute(
                "UPDATE submissions SET state = 'pending' WHERE state = 'failed'",
                [],
            )?;
            tx.commit()?;
            Ok(count)
        })
        .await
    }
}

/// A valid signup on its way to the database.
pub(super) struct NewSubmission {
    pub signup: NewSignup,
    pub source: Source,
    pub consent_text: String,
    pub key: Option<IdempotencyKey>,
}

/// Stores one submission and queues its delivery, inside the caller's transaction.
pub(super) fn insert_one(
    connection: &rusqlite::Connection,
    submission: &NewSubmission,
) -> rusqlite::Result<Inserted> {
    let NewSubmission {
        signup,
        source,
        consent_text,
        key,
    } = submission;
    let id = SubmissionId::random();
    let details = SignupDetails::of(signup).to_column();
    let now = now_ms();
    let mut key = key.as_ref().map(AsRef::<str>::as_ref);
    if let Some(given) = key {
        // `IS` compares NULLs as equal: an absent phone matches an absent phone.
        let earlier: Option<(String, bool)> = connection
            .query_row(
                "SELECT id, first_name IS ?2 AND last_name IS ?3 AND email = ?4
                            AND phone IS ?5 AND marketing_consent = ?6
                            AND details IS ?7
                 FROM submissions WHERE idempotency_key = ?1",
                params![
                    given,
                    signup.first_name.as_ref().map(AsRef::<str>::as_ref),
                    signup.last_name.as_ref().map(AsRef::<str>::as_ref),
                    signup.email.as_ref(),
                    signup.phone.as_ref().map(AsRef::<str>::as_ref),
                    signup.marketing_consent,
                    details,
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        match earlier {
            Some((earlier_id, true)) => {
                return Ok(Inserted::AlreadyStored(SubmissionId(earlier_id)));
            }
            // The same key with other content (a corrected resend, or another client's
            // key): a submission of its own, never silently dropped.
            Some((_, false)) => key = None,
            None => {}
        }
    }
    connection.execute(
        "INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
             phone, marketing_consent, consent_text, idempotency_key, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            id.0,
            now,
            source.as_str(),
            signup.first_name.as_ref().map(AsRef::<str>::as_ref),
            signup.last_name.as_ref().map(AsRef::<str>::as_ref),
            signup.email.as_ref(),
            signup.phone.as_ref().map(AsRef::<str>::as_ref),
            signup.marketing_consent,
            consent_text,
            key,
            details,
        ],
    )?;
    connection.execute(
        "INSERT INTO delivery_queue (submission_id, next_attempt_at) VALUES (?1, ?2)",
        params![id.0, now],
    )?;
    Ok(Inserted::New(id))
}

fn parse_state(text: &str) -> SubmissionState {
    match text {
        "delivered" => SubmissionState::Delivered,
        "failed" => SubmissionState::Failed,
        _ => SubmissionState::Pending,
    }
}

fn parse_outcome(text: &str) -> Option<DeliveryOutcome> {
    match text {
        "created" => Some(DeliveryOutcome::Created),
        "updated" => Some(DeliveryOutcome::Updated),
        "linked" => Some(DeliveryOutcome::Linked),
        _ => None,
    }
}
