//! The intake's submission store: see [`crate::intake::store`].

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::consent::PersonKey;
use crate::domain::IdempotencyKey;
use crate::intake::store::{
    HeldSignup, Inserted, KeyedContent, NewSubmission, Source, SubmissionStore, resend_verdict,
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

    async fn hold(
        &self,
        submission: NewSubmission,
        person: &PersonKey,
    ) -> Result<Inserted, StorageError> {
        let person = person.clone();
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let key = submission.key.as_ref().map(AsRef::<str>::as_ref);
            let content = KeyedContent::of(&submission);
            if let Some(key) = key {
                let earlier = keyed(&tx, "unconfirmed_signups", key)?;
                if let Some((earlier, held)) = earlier {
                    return Ok(resend_verdict(earlier, &held, &content));
                }
            }
            let id = SubmissionId::random();
            tx.execute(
                "INSERT INTO unconfirmed_signups (id, person, received_at, source, first_name,
                     last_name, email, phone, marketing_consent, consent_text,
                     idempotency_key, details)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    id.0,
                    person.as_ref(),
                    now_ms(),
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
            for consent in &submission.consents {
                super::consent::insert_event(&tx, consent, Some(&id.0))?;
            }
            tx.commit()?;
            Ok(Inserted::New(id))
        })
        .await
    }

    async fn held(&self, person: &PersonKey) -> Result<Vec<HeldSignup>, StorageError> {
        let person = person.clone();
        self.run(move |c| {
            let mut statement = c.prepare(
                "SELECT id, received_at, source, first_name, last_name, email, phone,
                     marketing_consent, consent_text, idempotency_key, details
                 FROM unconfirmed_signups WHERE person = ?1 ORDER BY received_at",
            )?;
            let rows = statement.query_map([person.as_ref()], |row| {
                Ok(HeldSignup {
                    id: SubmissionId::from_stored(row.get(0)?),
                    received_at_ms: row.get(1)?,
                    source: Source::from_stored(&row.get::<_, String>(2)?),
                    content: KeyedContent {
                        first_name: row.get(3)?,
                        last_name: row.get(4)?,
                        email: row.get(5)?,
                        phone: row.get(6)?,
                        marketing_consent: row.get(7)?,
                        details: row.get(10)?,
                    },
                    consent_text: row.get(8)?,
                    key: row
                        .get::<_, Option<String>>(9)?
                        .as_deref()
                        .and_then(IdempotencyKey::parse),
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn release(&self, id: &SubmissionId) -> Result<(), StorageError> {
        let id = id.0.clone();
        self.run(move |c| {
            c.execute("DELETE FROM unconfirmed_signups WHERE id = ?1", [id])
                .map(drop)
        })
        .await
    }

    async fn forget_held_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The consent events stay as proof that the address was entered; who entered
            // it, never confirmed, does not.
            tx.execute(
                "DELETE FROM consent_evidence WHERE event_id IN (
                     SELECT e.id FROM consent_events e JOIN unconfirmed_signups u
                         ON u.id = e.submission_id
                     WHERE u.received_at < ?1)",
                [cutoff_ms],
            )?;
            let forgotten = tx.execute(
                "DELETE FROM unconfirmed_signups WHERE received_at < ?1",
                [cutoff_ms],
            )?;
            tx.commit()?;
            if forgotten > 0 {
                super::truncate_log(c)?;
            }
            Ok(forgotten)
        })
        .await
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
        && let Some((earlier, stored)) = keyed(connection, "submissions", given)?
    {
        return Ok(resend_verdict(earlier, &stored, &content));
    }
    let id = SubmissionId::random();
    let now = now_ms();
    connection
        .prepare_cached(
            "INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
             phone, marketing_consent, consent_text, idempotency_key, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
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
        ])?;
    connection
        .prepare_cached(
            "INSERT INTO delivery_queue (submission_id, next_attempt_at) VALUES (?1, ?2)",
        )?
        .execute(params![id.0, now])?;
    for consent in &submission.consents {
        super::consent::insert_event(connection, consent, Some(&id.0))?;
    }
    Ok(Inserted::New(id))
}

/// The signup stored under `key` in `table` (`submissions`, or `unconfirmed_signups`
/// for those held), if any, with what tells a resend apart.
fn keyed(
    connection: &Connection,
    table: &'static str,
    key: &str,
) -> rusqlite::Result<Option<(SubmissionId, KeyedContent)>> {
    connection
        .query_row(
            &format!(
                "SELECT id, first_name, last_name, email, phone, marketing_consent, details
                 FROM {table} WHERE idempotency_key = ?1"
            ),
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
