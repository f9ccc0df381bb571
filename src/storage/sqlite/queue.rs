//! The delivery queue (see [`crate::delivery::queue`]): claims with leases, as in the
//! PostgreSQL store, although here one process is the only one claiming.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use super::SqliteStore;
use crate::delivery::lease::{alive_since, lease_until, time_left};
use crate::delivery::queue::{DeliveryOutcome, Queue, QueuedDelivery, Turn, one_per_email};
use crate::storage::records::SignupDetails;
use crate::storage::{StorageError, SubmissionId, now_ms};

#[async_trait]
impl Queue for SqliteStore {
    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError> {
        let instance = Arc::clone(&self.instance);
        self.run(move |c| claim_due(c, &instance, limit, lease))
            .await
    }

    async fn heartbeat(
        &self,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError> {
        let (instance, running) = (Arc::clone(&self.instance), running.to_vec());
        self.run(move |c| heartbeat(c, &instance, lease, &running))
            .await
    }

    async fn claim_left(&self, id: &SubmissionId) -> Result<Option<Duration>, StorageError> {
        let (instance, id) = (Arc::clone(&self.instance), id.clone());
        self.run(move |c| claim_left(c, &instance, &id)).await
    }

    async fn take_turn(
        &self,
        lease: Duration,
        clover_paused_until: Option<i64>,
    ) -> Result<Turn, StorageError> {
        let instance = Arc::clone(&self.instance);
        self.run(move |c| take_turn(c, &instance, lease, clover_paused_until))
            .await
    }

    async fn leave(&self, running: &[SubmissionId]) -> Result<(), StorageError> {
        let (instance, running) = (Arc::clone(&self.instance), running.to_vec());
        self.run(move |c| leave(c, &instance, &running)).await
    }

    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StorageError> {
        let (id, customer_id) = (id.clone(), customer_id.to_owned());
        self.run(move |c| mark_delivered(c, &id, &customer_id, outcome))
            .await
    }

    async fn mark_failed(&self, id: &SubmissionId, reason: &str) -> Result<bool, StorageError> {
        let (instance, id, reason) = (Arc::clone(&self.instance), id.clone(), reason.to_owned());
        self.run(move |c| mark_failed(c, &instance, &id, &reason))
            .await
    }

    async fn reschedule(
        &self,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (instance, id, reason) = (Arc::clone(&self.instance), id.clone(), reason.to_owned());
        self.run(move |c| reschedule(c, &instance, &id, next_attempt_at_ms, &reason))
            .await
    }

    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        self.run(next_due_at_ms).await
    }

    async fn make_all_due(&self) -> Result<usize, StorageError> {
        self.run(make_all_due).await
    }

    async fn retry_failed(&self) -> Result<usize, StorageError> {
        self.run(retry_failed).await
    }

    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| erase_delivered_before(c, cutoff_ms))
            .await
    }
}

fn claim_due(
    connection: &mut Connection,
    instance: &str,
    limit: usize,
    lease: Duration,
) -> rusqlite::Result<Vec<QueuedDelivery>> {
    let now = now_ms();
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed = {
        let mut select = tx.prepare(
            "SELECT s.id, s.received_at, s.first_name, s.last_name, s.email, s.phone,
                    s.marketing_consent, s.consent_text, s.attempts + 1, s.details
             FROM delivery_queue q JOIN submissions s ON s.id = q.submission_id
             WHERE q.next_attempt_at <= ?1 AND (q.lease_until IS NULL OR q.lease_until < ?1)
               AND NOT EXISTS (
                   SELECT 1 FROM delivery_queue q2
                   JOIN submissions s2 ON s2.id = q2.submission_id
                   WHERE q2.lease_until >= ?1 AND lower(s2.email) = lower(s.email))
             ORDER BY q.next_attempt_at, s.received_at, s.rowid LIMIT ?2",
        )?;
        let rows = select.query_map(params![now, limit as i64], |row| {
            let id: String = row.get(0)?;
            Ok(QueuedDelivery {
                details: SignupDetails::from_column(row.get(9)?, &id),
                id: SubmissionId::from_stored(id),
                received_at_ms: row.get(1)?,
                first_name: row.get(2)?,
                last_name: row.get(3)?,
                email: row.get(4)?,
                phone: row.get(5)?,
                marketing_consent: row.get(6)?,
                consent_text: row.get(7)?,
                attempts: row.get(8)?,
            })
        })?;
        one_per_email(rows.collect::<rusqlite::Result<_>>()?)
    };
    let lease_until = lease_until(now, lease);
    for delivery in &claimed {
        let id = delivery.id.as_ref();
        tx.execute(
            "UPDATE delivery_queue SET claimed_by = ?2, lease_until = ?3
             WHERE submission_id = ?1",
            params![id, instance, lease_until],
        )?;
        tx.execute(
            "UPDATE submissions SET attempts = attempts + 1 WHERE id = ?1",
            [id],
        )?;
    }
    tx.commit()?;
    Ok(claimed)
}

fn heartbeat(
    connection: &mut Connection,
    instance: &str,
    lease: Duration,
    running: &[SubmissionId],
) -> rusqlite::Result<usize> {
    let now = now_ms();
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO instances (id, last_seen) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        params![instance, now],
    )?;
    for id in running {
        tx.execute(
            "UPDATE delivery_queue SET lease_until = ?3
             WHERE submission_id = ?1 AND claimed_by = ?2",
            params![id.as_ref(), instance, lease_until(now, lease)],
        )?;
    }
    tx.execute(
        "DELETE FROM instances WHERE last_seen < ?1",
        [alive_since(now, lease)],
    )?;
    let alive: i64 = tx.query_row("SELECT COUNT(*) FROM instances", [], |row| row.get(0))?;
    tx.commit()?;
    Ok(usize::try_from(alive).unwrap_or(1).max(1))
}

/// Releases the claims of `instance` but those on `kept`.
fn release_all_but(
    connection: &Connection,
    instance: &str,
    kept: &[SubmissionId],
) -> rusqlite::Result<usize> {
    let placeholders = vec!["?"; kept.len()].join(", ");
    let sql = format!(
        "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL
         WHERE claimed_by = ? AND submission_id NOT IN ({placeholders})"
    );
    let values = std::iter::once(instance).chain(kept.iter().map(AsRef::as_ref));
    connection.execute(&sql, params_from_iter(values))
}

fn claim_left(
    connection: &mut Connection,
    instance: &str,
    id: &SubmissionId,
) -> rusqlite::Result<Option<Duration>> {
    let lease_until: Option<i64> = connection
        .query_row(
            "SELECT lease_until FROM delivery_queue
             WHERE submission_id = ?1 AND claimed_by = ?2",
            params![id.as_ref(), instance],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(time_left(lease_until))
}

/// The same rule as in PostgreSQL: taken when free or run out, kept by its holder, the
/// pause only ever later.
fn take_turn(
    connection: &mut Connection,
    instance: &str,
    lease: Duration,
    clover_paused_until: Option<i64>,
) -> rusqlite::Result<Turn> {
    let now = now_ms();
    connection.query_row(
        "INSERT INTO delivery_turn (id, holder, until_ms, clover_paused_until_ms)
         VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET
             holder = CASE WHEN holder = ?1 OR until_ms < ?4 THEN ?1 ELSE holder END,
             until_ms = CASE WHEN holder = ?1 OR until_ms < ?4 THEN ?2 ELSE until_ms END,
             clover_paused_until_ms = MAX(clover_paused_until_ms, ?3)
         RETURNING holder, clover_paused_until_ms",
        params![
            instance,
            lease_until(now, lease),
            clover_paused_until.unwrap_or(0),
            now
        ],
        |row| Ok(Turn::of(&row.get::<_, String>(0)?, instance, row.get(1)?)),
    )
}

fn leave(
    connection: &mut Connection,
    instance: &str,
    running: &[SubmissionId],
) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    release_all_but(&tx, instance, running)?;
    tx.execute("DELETE FROM instances WHERE id = ?1", [instance])?;
    // Run out at once, for the next instance to take; a pause Clover imposed stays.
    tx.execute(
        "UPDATE delivery_turn SET until_ms = 0 WHERE holder = ?1",
        [instance],
    )?;
    tx.commit()
}

/// At open: the file has one user, so nothing claimed before is still being worked on,
/// and nobody holds the turn; a pause Clover imposed before the restart still holds.
pub(super) fn release_every_claim(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by IS NOT NULL;
         DELETE FROM instances;
         UPDATE delivery_turn SET until_ms = 0;",
    )
}

fn mark_delivered(
    connection: &mut Connection,
    id: &SubmissionId,
    customer_id: &str,
    outcome: DeliveryOutcome,
) -> rusqlite::Result<bool> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM delivery_queue WHERE submission_id = ?1",
        [id.as_ref()],
    )?;
    tx.execute(
        "UPDATE submissions SET state = 'delivered', clover_customer_id = ?2,
             outcome = ?3, delivered_at = ?4, last_error = NULL
         WHERE id = ?1 AND state != 'delivered'",
        params![id.as_ref(), customer_id, outcome.as_str(), now_ms()],
    )?;
    let kept = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM submissions WHERE id = ?1)",
        [id.as_ref()],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(kept)
}

fn mark_failed(
    connection: &mut Connection,
    instance: &str,
    id: &SubmissionId,
    reason: &str,
) -> rusqlite::Result<bool> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let held = tx.execute(
        "DELETE FROM delivery_queue WHERE submission_id = ?1 AND claimed_by = ?2",
        params![id.as_ref(), instance],
    )?;
    let mut recorded = 0;
    if held > 0 {
        recorded = tx.execute(
            "UPDATE submissions SET state = 'failed', last_error = ?2 WHERE id = ?1",
            params![id.as_ref(), reason],
        )?;
    }
    tx.commit()?;
    Ok(recorded > 0)
}

fn reschedule(
    connection: &mut Connection,
    instance: &str,
    id: &SubmissionId,
    next_attempt_at_ms: i64,
    reason: &str,
) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let released = tx.execute(
        "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL, next_attempt_at = ?3
         WHERE submission_id = ?1 AND claimed_by = ?2",
        params![id.as_ref(), instance, next_attempt_at_ms],
    )?;
    if released > 0 {
        tx.execute(
            "UPDATE submissions SET last_error = ?2 WHERE id = ?1",
            params![id.as_ref(), reason],
        )?;
    }
    tx.commit()
}

fn next_due_at_ms(connection: &mut Connection) -> rusqlite::Result<Option<i64>> {
    connection
        .query_row(
            "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at
                             ELSE MAX(next_attempt_at, lease_until + 1) END)
             FROM delivery_queue",
            [],
            |row| row.get(0),
        )
        .optional()
        .map(Option::flatten)
}

fn make_all_due(connection: &mut Connection) -> rusqlite::Result<usize> {
    let now = now_ms();
    connection.execute(
        "UPDATE delivery_queue SET next_attempt_at = ?1
         WHERE lease_until IS NULL OR lease_until < ?1",
        [now],
    )
}

fn erase_delivered_before(connection: &mut Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let erased = tx.execute(
        "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
             phone = NULL, idempotency_key = NULL, details = NULL
         WHERE state = 'delivered' AND delivered_at < ?1 AND email != ''",
        [cutoff_ms],
    )?;
    tx.commit()?;
    if erased > 0 {
        super::truncate_log(connection)?;
    }
    Ok(erased)
}

fn retry_failed(connection: &mut Connection) -> rusqlite::Result<usize> {
    let now = now_ms();
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
}
