use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use crate::storage::records::{SignupDetails, parse_outcome, parse_state};
use crate::storage::{
    Inserted, NewSubmission, QueueCounts, StorageError, SubmissionId, SubmissionSummary, now_ms,
};

/// Stores one submission and queues its delivery in one transaction. Two requests with
/// the same idempotency key may race on different instances: the loser's insert breaks
/// the key's unique index, and a second try finds the winner's row.
pub(super) async fn insert(
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
    let NewSubmission {
        signup,
        source,
        consent_text,
        key,
    } = submission;
    let id = SubmissionId::random();
    let details = SignupDetails::of(signup).to_column();
    let now = now_ms();
    let first_name = signup.first_name.as_ref().map(AsRef::<str>::as_ref);
    let last_name = signup.last_name.as_ref().map(AsRef::<str>::as_ref);
    let email: &str = signup.email.as_ref();
    let phone = signup.phone.as_ref().map(AsRef::<str>::as_ref);
    let key = key.as_ref().map(AsRef::<str>::as_ref);
    if let Some(given) = key {
        let earlier = tx
            .query_opt(
                "SELECT id, first_name IS NOT DISTINCT FROM $2 AND last_name IS NOT DISTINCT FROM $3
                            AND email = $4 AND phone IS NOT DISTINCT FROM $5
                            AND marketing_consent = $6 AND details IS NOT DISTINCT FROM $7
                 FROM submissions WHERE idempotency_key = $1",
                &[
                    &given,
                    &first_name,
                    &last_name,
                    &email,
                    &phone,
                    &signup.marketing_consent,
                    &details,
                ],
            )
            .await?;
        match earlier.map(|row| (row.get::<_, String>(0), row.get::<_, bool>(1))) {
            Some((earlier_id, true)) => {
                return Ok(Inserted::AlreadyStored(SubmissionId(earlier_id)));
            }
            // The same key with other content (a second signup from one served form, or
            // an API client's corrected resend): the caller says what becomes of it.
            Some((earlier_id, false)) => return Ok(Inserted::KeyTaken(SubmissionId(earlier_id))),
            None => {}
        }
    }
    tx.execute(
        "INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
             phone, marketing_consent, consent_text, idempotency_key, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &id.0,
            &now,
            &source.as_str(),
            &first_name,
            &last_name,
            &email,
            &phone,
            &signup.marketing_consent,
            consent_text,
            &key,
            &details,
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

pub(super) async fn queue_counts(client: &Client) -> Result<QueueCounts, StorageError> {
    let rows = client
        .query(
            "SELECT state, COUNT(*) FROM submissions GROUP BY state",
            &[],
        )
        .await?;
    let mut counts = QueueCounts::default();
    for row in rows {
        let count = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        match row.get::<_, &str>(0) {
            "pending" => counts.pending = count,
            "delivered" => counts.delivered = count,
            _ => counts.failed = count,
        }
    }
    Ok(counts)
}

pub(super) async fn recent(
    client: &Client,
    limit: u32,
) -> Result<Vec<SubmissionSummary>, StorageError> {
    let rows = client
        .query(
            "SELECT id, received_at, email, state, attempts, last_error, clover_customer_id,
                    outcome
             FROM submissions ORDER BY received_at DESC, seq DESC LIMIT $1",
            &[&i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SubmissionSummary {
            id: SubmissionId(row.get(0)),
            received_at_ms: row.get(1),
            email: row.get(2),
            state: parse_state(row.get(3)),
            attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
            last_error: row.get(5),
            clover_customer_id: row.get(6),
            outcome: row.get::<_, Option<&str>>(7).and_then(parse_outcome),
        })
        .collect())
}

/// Submissions erased per statement: a backlog of years is erased in many short
/// statements, each well within the sessions' statement timeout.
const ERASE_BATCH: i64 = 500;

pub(super) async fn erase_delivered_before(
    client: &Client,
    cutoff_ms: i64,
) -> Result<usize, StorageError> {
    // PostgreSQL keeps the old row versions until VACUUM reclaims them (autovacuum does,
    // soon after a change this size); the README says so.
    let mut erased = 0;
    loop {
        let batch = client
            .execute(
                "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
                     phone = NULL, idempotency_key = NULL, details = NULL
                 WHERE id IN (
                     SELECT id FROM submissions
                     WHERE state = 'delivered' AND delivered_at < $1 AND email != ''
                     LIMIT $2)",
                &[&cutoff_ms, &ERASE_BATCH],
            )
            .await?;
        erased += usize::try_from(batch).unwrap_or(usize::MAX);
        if batch < ERASE_BATCH.unsigned_abs() {
            return Ok(erased);
        }
    }
}

pub(super) async fn retry_failed(client: &Client) -> Result<usize, StorageError> {
    // One statement: a submission failed by another instance meanwhile is either in both
    // changes or in neither, never pending without a queue row.
    let count = client
        .execute(
            "WITH retried AS (
                 UPDATE submissions SET state = 'pending' WHERE state = 'failed' RETURNING id
             )
             INSERT INTO delivery_queue (submission_id, next_attempt_at)
             SELECT id, $1 FROM retried",
            &[&now_ms()],
        )
        .await?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}
