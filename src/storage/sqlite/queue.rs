//! The delivery queue: claims with leases, as in the PostgreSQL store, although here one
//! process is the only one claiming.

use std::collections::HashSet;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use crate::storage::records::SignupDetails;
use crate::storage::{DeliveryOutcome, QueuedDelivery, SubmissionId, millis, now_ms};

pub(super) fn claim_due(
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
        let mut emails = HashSet::new();
        let mut claimed = Vec::new();
        for row in rows {
            let delivery = row?;
            if emails.insert(delivery.email.to_lowercase()) {
                claimed.push(delivery);
            }
        }
        claimed
    };
    let lease_until = now.saturating_add(millis(lease));
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

pub(super) fn heartbeat(
    connection: &mut Connection,
    instance: &str,
    lease: Duration,
    running: &[SubmissionId],
) -> rusqlite::Result<usize> {
    let now = now_ms();
    let lease = millis(lease);
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
            params![id.as_ref(), instance, now.saturating_add(lease)],
        )?;
    }
    tx.execute(
        "DELETE FROM instances WHERE last_seen < ?1",
        [now.saturating_sub(lease)],
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

pub(super) fn claim_left(
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
    Ok(crate::storage::time_left(lease_until))
}

pub(super) fn leave(
    connection: &mut Connection,
    instance: &str,
    running: &[SubmissionId],
) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    release_all_but(&tx, instance, running)?;
    tx.execute("DELETE FROM instances WHERE id = ?1", [instance])?;
    tx.commit()
}

/// At open: the file has one user, so nothing claimed before is still being worked on.
pub(super) fn release_every_claim(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "UPDATE delivery_queue SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by IS NOT NULL;
         DELETE FROM instances;",
    )
}

pub(super) fn mark_delivered(
    connection: &mut Connection,
    id: &SubmissionId,
    customer_id: &str,
    outcome: DeliveryOutcome,
) -> rusqlite::Result<()> {
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
    tx.commit()
}

pub(super) fn mark_failed(
    connection: &mut Connection,
    instance: &str,
    id: &SubmissionId,
    reason: &str,
) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let held = tx.execute(
        "DELETE FROM delivery_queue WHERE submission_id = ?1 AND claimed_by = ?2",
        params![id.as_ref(), instance],
    )?;
    if held > 0 {
        tx.execute(
            "UPDATE submissions SET state = 'failed', last_error = ?2 WHERE id = ?1",
            params![id.as_ref(), reason],
        )?;
    }
    tx.commit()
}

pub(super) fn reschedule(
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

pub(super) fn next_due_at_ms(connection: &mut Connection) -> rusqlite::Result<Option<i64>> {
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

pub(super) fn make_all_due(connection: &mut Connection) -> rusqlite::Result<usize> {
    let now = now_ms();
    connection.execute(
        "UPDATE delivery_queue SET next_attempt_at = ?1
         WHERE lease_until IS NULL OR lease_until < ?1",
        [now],
    )
}
