//! The intake's submission store: see [`crate::intake::store`].

use async_trait::async_trait;
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::PostgresStore;
use crate::intake::store::{
    Inserted, KeyedContent, NewSubmission, SubmissionStore, resend_verdict,
};
use crate::storage::{StorageError, SubmissionId, now_ms};

#[async_trait]
impl SubmissionStore for PostgresStore {
    async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        insert(&mut self.client().await?, &submission).await
    }

    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.client()
            .await?
            .execute(
                "INSERT INTO bot_counts (reason, count) VALUES ($1, $2)
                 ON CONFLICT (reason) DO UPDATE SET count = bot_counts.count + excluded.count",
                &[&reason, &count],
            )
            .await?;
        Ok(())
    }
}

/// Stores one submission and queues its delivery in one transaction. Two requests with
/// the same idempotency key may race on different instances: the loser's insert breaks
/// the key's unique index, and a second try finds the winner's row.
async fn insert(
    client: &mut deadpool_postgres::Client,
    submission: &NewSubmission,
) -> Result<Inserted, StorageError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let tx = client.transaction().await?;
        match insert_one(&tx, submission).await {
            Ok(inserted) => {
                tx.commit().await?;
                return Ok(inserted);
            }
            Err(error) if tries < 3 && error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                continue;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

async fn insert_one(
    tx: &Transaction<'_>,
    submission: &NewSubmission,
) -> Result<Inserted, tokio_postgres::Error> {
    let content = KeyedContent::of(submission);
    let key = submission.key.as_ref().map(AsRef::<str>::as_ref);
    if let Some(given) = key
        && let Some((earlier, stored)) = keyed(tx, given).await?
    {
        return Ok(resend_verdict(earlier, &stored, &content));
    }
    let id = SubmissionId::random();
    let now = now_ms();
    tx.execute(
        "INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
             phone, marketing_consent, consent_text, idempotency_key, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &id.0,
            &now,
            &submission.source.as_str(),
            &content.first_name,
            &content.last_name,
            &content.email,
            &content.phone,
            &content.marketing_consent,
            &submission.consent_text,
            &key,
            &content.details,
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO delivery_queue (submission_id, next_attempt_at) VALUES ($1, $2)",
        &[&id.0, &now],
    )
    .await?;
    Ok(Inserted::New(id))
}

/// The submission stored under `key`, if any, with what tells a resend apart.
async fn keyed(
    tx: &Transaction<'_>,
    key: &str,
) -> Result<Option<(SubmissionId, KeyedContent)>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT id, first_name, last_name, email, phone, marketing_consent, details
             FROM submissions WHERE idempotency_key = $1",
            &[&key],
        )
        .await?;
    Ok(row.map(|row| {
        (
            SubmissionId::from_stored(row.get(0)),
            KeyedContent {
                first_name: row.get(1),
                last_name: row.get(2),
                email: row.get(3),
                phone: row.get(4),
                marketing_consent: row.get(5),
                details: row.get(6),
            },
        )
    }))
}
