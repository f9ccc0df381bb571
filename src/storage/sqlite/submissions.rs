//! The intake's submission store: see [`crate::intake::store`].

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::intake::store::{
    Inserted, KeyedContent, NewSubmission, SubmissionStore, resend_verdict,
};
use crate::storage::{StorageError, SubmissionId, now_ms};

#[async_trait]
impl SubmissionStore for SqliteStore {
    async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        self.writer.insert(submission).await
    }

    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.run(move |c| {
            c.execute(
                "INSERT INTO bot_counts (reason, count) VALUES (?1, ?2)
                 ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                params![reason, count],
            )
        })
        .await?;
        Ok(())
    }
}

/// Stores one submission and queues its delivery, inside the caller's transaction.
pub(super) fn insert_one(
    connection: &Connection,
    submission: &NewSubmission,
) -> rusqlite::Result<Inserted> {
    let content = KeyedContent::of(submission);
    let key = submission.key.as_ref().map(AsRef::<str>::as_ref);
    if let Some(given) = key
        && let Some((earlier, stored)) = keyed(connection, given)?
    {
        return Ok(resend_verdict(earlier, &stored, &content));
    }
    let id = SubmissionId::random();
    let now = now_ms();
    connection.execute(
        "INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
             phone, marketing_consent, consent_text, idempotency_key, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            id.0,
            now,
            submission.source.as_str(),
            content.first_name,
            content.last_name,
            content.email,
            content.phone,
            content.marketing_consent,
            submission.consent_text,
            key,
            content.details,
        ],
    )?;
    connection.execute(
        "INSERT INTO delivery_queue (submission_id, next_attempt_at) VALUES (?1, ?2)",
        params![id.0, now],
    )?;
    for consent in &submission.consents {
        super::consent::insert_event(connection, consent, Some(&id.0))?;
    }
    Ok(Inserted::New(id))
}

/// The submission stored under `key`, if any, with what tells a resend apart.
fn keyed(
    connection: &Connection,
    key: &str,
) -> rusqlite::Result<Option<(SubmissionId, KeyedContent)>> {
    connection
        .query_row(
            "SELECT id, first_name, last_name, email, phone, marketing_consent, details
             FROM submissions WHERE idempotency_key = ?1",
            [key],
            |row| {
                Ok((
                    SubmissionId::from_stored(row.get(0)?),
                    KeyedContent {
                        first_name: row.get(1)?,
                        last_name: row.get(2)?,
                        email: row.get(3)?,
                        phone: row.get(4)?,
                        marketing_consent: row.get(5)?,
                        details: row.get(6)?,
                    },
                ))
            },
        )
        .optional()
}
