use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::storage::records::{SignupDetails, parse_outcome, parse_state};
use crate::storage::{
    Inserted, NewSubmission, QueueCounts, SubmissionId, SubmissionSummary, now_ms,
};

/// Stores one submission and queues its delivery, inside the caller's transaction.
pub(super) fn insert_one(
    connection: &Connection,
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
    let key = key.as_ref().map(AsRef::<str>::as_ref);
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
            // The same key with other content (a second signup from one served form, or
            // an API client's corrected resend): the caller says what becomes of it.
            Some((earlier_id, false)) => return Ok(Inserted::KeyTaken(SubmissionId(earlier_id))),
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

pub(super) fn queue_counts(connection: &mut Connection) -> rusqlite::Result<QueueCounts> {
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
}

pub(super) fn recent(
    connection: &mut Connection,
    limit: u32,
) -> rusqlite::Result<Vec<SubmissionSummary>> {
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
}

pub(super) fn erase_delivered_before(
    connection: &mut Connection,
    cutoff_ms: i64,
) -> rusqlite::Result<usize> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut erased = tx.execute(
        "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
             phone = NULL, idempotency_key = NULL, details = NULL
         WHERE state = 'delivered' AND delivered_at < ?1 AND email != ''",
        [cutoff_ms],
    )?;
    erased += super::demo::erase_before(&tx, cutoff_ms)?;
    tx.commit()?;
    if erased > 0 {
        // The write-ahead log still holds the old pages: fold it in and empty it.
        connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(erased)
}

pub(super) fn retry_failed(connection: &mut Connection) -> rusqlite::Result<usize> {
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
