//! The intake's submission store: see [`crate::intake::store`].

use std::sync::LazyLock;

use async_trait::async_trait;

use super::PostgresStore;
use super::consent::{GivenColumns, RECORD, consent_clauses};
use crate::consent::PersonKey;
use crate::domain::IdempotencyKey;
use crate::intake::store::{
    HeldSignup, Inserted, KeyedContent, NewSubmission, Source, SubmissionStore, resend_verdict,
};
use crate::storage::{StorageError, SubmissionId, now_ms};

#[async_trait]
impl SubmissionStore for PostgresStore {
    async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        self.writer.insert(submission).await
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

    async fn hold(
        &self,
        submission: NewSubmission,
        person: &PersonKey,
    ) -> Result<Inserted, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let key = submission.key.as_ref().map(AsRef::<str>::as_ref);
        let id = SubmissionId::random();
        let content = KeyedContent::of(&submission);
        // A key already held inserts nothing: a double click is one signup waiting.
        let held = tx
            .query_opt(
                "INSERT INTO unconfirmed_signups (id, person, received_at, source, first_name,
                     last_name, email, phone, marketing_consent, consent_text,
                     idempotency_key, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                 RETURNING id",
                &[
                    &id.0,
                    &person.as_ref(),
                    &now_ms(),
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
        if held.is_none() {
            let earlier = tx
                .query_one(
                    "SELECT id, first_name, last_name, email, phone, marketing_consent, details
                     FROM unconfirmed_signups WHERE idempotency_key = $1",
                    &[&key],
                )
                .await?;
            let (earlier, held) = keyed_row(&earlier);
            return Ok(resend_verdict(earlier, &held, &content));
        }
        let consents = GivenColumns::of_batch([(&submission, id.0.as_str())]);
        tx.query_one(RECORD.as_str(), &consents.params()).await?;
        tx.commit().await?;
        Ok(Inserted::New(id))
    }

    async fn held(&self, person: &PersonKey) -> Result<Vec<HeldSignup>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, received_at, source, first_name, last_name, email, phone,
                     marketing_consent, consent_text, idempotency_key, details
                 FROM unconfirmed_signups WHERE person = $1 ORDER BY received_at",
                &[&person.as_ref()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| HeldSignup {
                id: SubmissionId::from_stored(row.get(0)),
                received_at_ms: row.get(1),
                source: Source::from_stored(row.get(2)),
                content: KeyedContent {
                    first_name: row.get(3),
                    last_name: row.get(4),
                    email: row.get(5),
                    phone: row.get(6),
                    marketing_consent: row.get(7),
                    details: row.get(10),
                },
                consent_text: row.get(8),
                key: row
                    .get::<_, Option<String>>(9)
                    .as_deref()
                    .and_then(IdempotencyKey::parse),
            })
            .collect())
    }

    async fn release(&self, id: &SubmissionId) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute("DELETE FROM unconfirmed_signups WHERE id = $1", &[&id.0])
            .await?;
        Ok(())
    }

    async fn forget_held_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The consent events stay as proof that the address was entered; who entered it,
        // never confirmed, does not.
        tx.execute(
            "DELETE FROM consent_evidence WHERE event_id IN (
                 SELECT e.id FROM consent_events e JOIN unconfirmed_signups u
                     ON u.id = e.submission_id
                 WHERE u.received_at < $1)",
            &[&cutoff_ms],
        )
        .await?;
        let forgotten = tx
            .execute(
                "DELETE FROM unconfirmed_signups WHERE received_at < $1",
                &[&cutoff_ms],
            )
            .await?;
        tx.commit().await?;
        Ok(forgotten as usize)
    }
}

/// Stores one submission, queues its delivery and adds the consents given with it in one
/// statement, which is a transaction of its own, prepared once per connection: a signup
/// stored alone costs one round trip and one commit (signups waiting together are stored
/// as one, by `writer.rs`). A key already stored (a resend, or the same key racing on
/// another instance) inserts nothing, and the row stored under it decides what the
/// resend gets.
static STORE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH stored AS (
            INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
                phone, marketing_consent, consent_text, idempotency_key, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, received_at),
        queued AS (
            INSERT INTO delivery_queue (submission_id, next_attempt_at)
            SELECT id, received_at FROM stored
            RETURNING submission_id),
        {}
        SELECT submission_id FROM queued",
        consent_clauses(12, true)
    )
});

const KEYED: &str = "SELECT id, first_name, last_name, email, phone, marketing_consent, details
    FROM submissions WHERE idempotency_key = $1";

/// Stores one submission (see [`STORE`]), or tells what the submission already under its
/// key is to it.
pub(super) async fn insert(
    client: &deadpool_postgres::Client,
    submission: &NewSubmission,
) -> Result<Inserted, StorageError> {
    try_insert(client, submission)
        .await?
        .ok_or_else(neither_stored_nor_found)
}

/// [`insert`], with the server's error as it came, and `None` where the submission was
/// neither stored nor found under its key.
pub(super) async fn try_insert(
    client: &deadpool_postgres::Client,
    submission: &NewSubmission,
) -> Result<Option<Inserted>, tokio_postgres::Error> {
    let content = KeyedContent::of(submission);
    let key = submission.key.as_ref().map(AsRef::<str>::as_ref);
    let store = client.prepare_cached(&STORE).await?;
    // The row under a key can only go between the two statements by erasure, which
    // clears the key: then the signup is stored as new at the next try.
    for _ in 0..3 {
        let id = SubmissionId::random();
        let consents = GivenColumns::of_batch([(submission, id.0.as_str())]);
        let now = now_ms();
        let source = submission.source.as_str();
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &id.0,
            &now,
            &source,
            &content.first_name,
            &content.last_name,
            &content.email,
            &content.phone,
            &content.marketing_consent,
            &submission.consent_text,
            &key,
            &content.details,
        ];
        params.extend(consents.params());
        let stored = client.query_opt(&store, &params).await?;
        if stored.is_some() {
            return Ok(Some(Inserted::New(id)));
        }
        if let Some(given) = key
            && let Some((earlier, stored)) = keyed(client, given).await?
        {
            return Ok(Some(resend_verdict(earlier, &stored, &content)));
        }
    }
    Ok(None)
}

pub(super) fn neither_stored_nor_found() -> StorageError {
    StorageError::Postgres("a submission was neither stored nor found under its key".to_owned())
}

/// The submission stored under `key`, if any, with what tells a resend apart.
async fn keyed(
    client: &deadpool_postgres::Client,
    key: &str,
) -> Result<Option<(SubmissionId, KeyedContent)>, tokio_postgres::Error> {
    let statement = client.prepare_cached(KEYED).await?;
    let row = client.query_opt(&statement, &[&key]).await?;
    Ok(row.as_ref().map(keyed_row))
}

/// A row of `id, first_name, last_name, email, phone, marketing_consent, details`.
fn keyed_row(row: &tokio_postgres::Row) -> (SubmissionId, KeyedContent) {
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
}
