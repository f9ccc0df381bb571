//! The delivery queue shared by every instance (see [`crate::delivery::queue`]).

use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::{Client, Transaction};

use super::{CLAIM_LOCK, PostgresStore};
use crate::delivery::lease::{alive_since, lease_until, time_left};
use crate::delivery::queue::{DeliveryOutcome, Queue, QueuedDelivery, Turn, one_per_email};
use crate::storage::records::SignupDetails;
use crate::storage::{StorageError, SubmissionId, now_ms};

#[async_trait]
impl Queue for PostgresStore {
    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError> {
        claim_due(&mut self.client().await?, &self.instance, limit, lease).await
    }

    async fn heartbeat(
        &self,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError> {
        heartbeat(&mut self.client().await?, &self.instance, lease, running).await
    }

    async fn claim_left(&self, id: &SubmissionId) -> Result<Option<Duration>, StorageError> {
        claim_left(&*self.client().await?, &self.instance, id).await
    }

    async fn take_turn(
        &self,
        lease: Duration,
        clover_paused_until: Option<i64>,
    ) -> Result<Turn, StorageError> {
        let client = self.client().await?;
        super::turn::take_turn(&client, &self.instance, lease, clover_paused_until).await
    }

    async fn leave(&self, running: &[SubmissionId]) -> Result<(), StorageError> {
        leave(&mut self.client().await?, &self.instance, running).await
    }

    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError> {
        mark_delivered(&mut self.client().await?, id, customer_id, outcome).await
    }

    async fn mark_failed(&self, id: &SubmissionId, reason: &str) -> Result<bool, StorageError> {
        mark_failed(&mut self.client().await?, &self.instance, id, reason).await
    }

    async fn reschedule(
        &self,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        reschedule(&mut client, &self.instance, id, next_attempt_at_ms, reason).await
    }

    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        next_due_at_ms(&*self.client().await?).await
    }

    async fn make_all_due(&self) -> Result<usize, StorageError> {
        make_all_due(&*self.client().await?).await
    }

    async fn retry_failed(&self) -> Result<usize, StorageError> {
        retry_failed(&*self.client().await?).await
    }

    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        erase_delivered_before(&*self.client().await?, cutoff_ms).await
    }
}

fn count(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

/// Rows locked by another transaction are skipped, not waited for. Claims themselves are
/// taken one instance at a time (a transaction advisory lock, held for milliseconds):
/// otherwise two instances could each claim a different submission of the same email, both
/// unseen as claimed by the other, and create that visitor twice.
async fn claim_due(
    client: &mut deadpool_postgres::Client,
    instance: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<QueuedDelivery>, StorageError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
        .await?;
    // After the wait for the lock, so that the lease is counted from the claim.
    let now = now_ms();
    let rows = tx
        .query(
            "SELECT s.id, s.received_at, s.first_name, s.last_name, s.email, s.phone,
                    s.marketing_consent, s.consent_text, s.attempts + 1, s.details
             FROM delivery_queue q JOIN submissions s ON s.id = q.submission_id
             WHERE q.next_attempt_at <= $1 AND (q.lease_until IS NULL OR q.lease_until < $1)
               AND NOT EXISTS (
                   SELECT 1 FROM delivery_queue q2
                   JOIN submissions s2 ON s2.id = q2.submission_id
                   WHERE q2.lease_until >= $1 AND lower(s2.email) = lower(s.email))
             ORDER BY q.next_attempt_at, s.received_at, s.seq
             LIMIT $2
             FOR UPDATE OF q SKIP LOCKED",
            &[&now, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    let due = rows.into_iter().map(|row| {
        let id: String = row.get(0);
        QueuedDelivery {
            details: SignupDetails::from_column(row.get(9), &id),
            id: SubmissionId::from_stored(id),
            received_at_ms: row.get(1),
            first_name: row.get(2),
            last_name: row.get(3),
            email: row.get(4),
            phone: row.get(5),
            marketing_consent: row.get(6),
            consent_text: row.get(7),
            attempts: u32::try_from(row.get::<_, i32>(8)).unwrap_or(0),
        }
    });
    let claimed = one_per_email(due.collect());
    let ids: Vec<&str> = claimed.iter().map(|d| d.id.as_ref()).collect();
    let lease_until = lease_until(now, lease);
    tx.execute(
        "UPDATE delivery_queue SET claimed_by = $2, lease_until = $3
         WHERE submission_id = ANY($1)",
        &[&ids, &instance, &lease_until],
    )
    .await?;
    tx.execute(
        "UPDATE submissions SET attempts = attempts + 1 WHERE id = ANY($1)",
        &[&ids],
    )
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

async fn heartbeat(
    client: &mut deadpool_postgres::Client,
    instance: &str,
    lease: Duration,
    running: &[SubmissionId],
) -> Result<usize, StorageError> {
    let now = now_ms();
    let running: Vec<&str> = running.iter().map(AsRef::as_ref).collect();
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO instances (id, last_seen) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
        &[&instance, &now],
    )
    .await?;
    tx.execute(
        "UPDATE delivery_queue SET lease_until = $3
         WHERE claimed_by = $1 AND submission_id = ANY($2)",
        &[&instance, &running, &lease_until(now, lease)],
    )
    .await?;
    // Rows another instance's heartbeat is deleting are skipped, not waited for: two
    // instances forgetting each other's dead must not deadlock.
    tx.execute(
        "DELETE FROM instances WHERE id IN (
             SELECT id FROM instances WHERE last_seen < $1 FOR UPDATE SKIP LOCKED)",
        &[&alive_since(now, lease)],
    )
    .await?;
    let alive: i64 = tx
        .query_one("SELECT COUNT(*) FROM instances", &[])
        .await?
        .get(0);
    tx.commit().await?;
    Ok(usize::try_from(alive).unwrap_or(1).max(1))
}

/// Releases the claims of `instance` but those on `kept`.
async fn release_all_but(
    tx: &Transaction<'_>,
    instance: &str,
    kept: &[&str],
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL
         WHERE claimed_by = $1 AND NOT (submission_id = ANY($2))",
        &[&instance, &kept],
    )
    .await
}

async fn claim_left(
    client: &Client,
    instance: &str,
    id: &SubmissionId,
) -> Result<Option<Duration>, StorageError> {
    let id: &str = id.as_ref();
    let row = client
        .query_opt(
            "SELECT lease_until FROM delivery_queue
             WHERE submission_id = $1 AND claimed_by = $2",
            &[&id, &instance],
        )
        .await?;
    Ok(time_left(row.and_then(|row| row.get(0))))
}

async fn leave(
    client: &mut deadpool_postgres::Client,
    instance: &str,
    running: &[SubmissionId],
) -> Result<(), StorageError> {
    let running: Vec<&str> = running.iter().map(AsRef::as_ref).collect();
    let tx = client.transaction().await?;
    release_all_but(&tx, instance, &running).await?;
    tx.execute("DELETE FROM instances WHERE id = $1", &[&instance])
        .await?;
    // Run out at once, for the next instance to take; a pause Clover imposed stays.
    tx.execute(
        "UPDATE delivery_turn SET until_ms = 0 WHERE holder = $1",
        &[&instance],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn mark_delivered(
    client: &mut deadpool_postgres::Client,
    id: &SubmissionId,
    customer_id: &str,
    outcome: DeliveryOutcome,
) -> Result<bool, StorageError> {
    let id: &str = id.as_ref();
    let tx = client.transaction().await?;
    tx.execute(
        "DELETE FROM delivery_queue WHERE submission_id = $1",
        &[&id],
    )
    .await?;
    tx.execute(
        "UPDATE submissions SET state = 'delivered', clover_customer_id = $2,
             outcome = $3, delivered_at = $4, last_error = NULL
         WHERE id = $1 AND state <> 'delivered'",
        &[&id, &customer_id, &outcome.as_str(), &now_ms()],
    )
    .await?;
    let kept = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM submissions WHERE id = $1)",
            &[&id],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(kept)
}

async fn mark_failed(
    client: &mut deadpool_postgres::Client,
    instance: &str,
    id: &SubmissionId,
    reason: &str,
) -> Result<bool, StorageError> {
    let id: &str = id.as_ref();
    let tx = client.transaction().await?;
    let held = tx
        .execute(
            "DELETE FROM delivery_queue WHERE submission_id = $1 AND claimed_by = $2",
            &[&id, &instance],
        )
        .await?;
    let mut recorded = 0;
    if held > 0 {
        recorded = tx
            .execute(
                "UPDATE submissions SET state = 'failed', last_error = $2 WHERE id = $1",
                &[&id, &reason],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(recorded > 0)
}

async fn reschedule(
    client: &mut deadpool_postgres::Client,
    instance: &str,
    id: &SubmissionId,
    next_attempt_at_ms: i64,
    reason: &str,
) -> Result<(), StorageError> {
    let id: &str = id.as_ref();
    let tx = client.transaction().await?;
    let released = tx
        .execute(
            "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL,
                 next_attempt_at = $3
             WHERE submission_id = $1 AND claimed_by = $2",
            &[&id, &instance, &next_attempt_at_ms],
        )
        .await?;
    if released > 0 {
        tx.execute(
            "UPDATE submissions SET last_error = $2 WHERE id = $1",
            &[&id, &reason],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn next_due_at_ms(client: &Client) -> Result<Option<i64>, StorageError> {
    let row = client
        .query_one(
            "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at
                             ELSE GREATEST(next_attempt_at, lease_until + 1) END)
             FROM delivery_queue",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

async fn make_all_due(client: &Client) -> Result<usize, StorageError> {
    let now = now_ms();
    let changed = client
        .execute(
            "UPDATE delivery_queue SET next_attempt_at = $1
             WHERE lease_until IS NULL OR lease_until < $1",
            &[&now],
        )
        .await?;
    Ok(count(changed))
}

/// Submissions erased per statement: a backlog of years is erased in many short
/// statements, each well within the sessions' statement timeout.
const ERASE_BATCH: i64 = 500;

async fn erase_delivered_before(client: &Client, cutoff_ms: i64) -> Result<usize, StorageError> {
    // PostgreSQL keeps the old row versions until VACUUM reclaims them (autovacuum does,
    // soon after a change this size); docs/operations.md says so.
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

async fn retry_failed(client: &Client) -> Result<usize, StorageError> {
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
