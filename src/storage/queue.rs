use rusqlite::{OptionalExtension, params};

use super::{Database, DeliveryOutcome, SignupDetails, StorageError, SubmissionId, now_ms};

/// A submission claimed for delivery, with everything needed to deliver it.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    /// Birthday, address and note, when the form asked for them.
    pub details: SignupDetails,
    pub marketing_consent: bool,
    pub consent_text: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl Database {
    /// Claims up to `limit` submissions that are due, marking them in flight and counting
    /// the attempt. Only this process's worker claims, so no lease is needed; a crash
    /// leaves rows in flight, which [`Database::resume_in_flight`] releases at start.
    ///
    /// Never two submissions with the same email at once: both would search, find
    /// nobody, and create the same visitor twice. The second waits for the first.
    pub async fn claim_due(&self, limit: usize) -> Result<Vec<QueuedDelivery>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.run(move |connection| {
            let tx = connection.transaction()?;
            let claimed = {
                let mut select = tx.prepare(
                    "SELECT s.id, s.received_at, s.first_name, s.last_name, s.email, s.phone,
                            s.marketing_consent, s.consent_text, s.attempts + 1, s.details
                     FROM delivery_queue q JOIN submissions s ON s.id = q.submission_id
                     WHERE q.in_flight = 0 AND q.next_attempt_at <= ?1
                       AND NOT EXISTS (
                           SELECT 1 FROM delivery_queue q2
                           JOIN submissions s2 ON s2.id = q2.submission_id
                           WHERE q2.in_flight = 1 AND lower(s2.email) = lower(s.email))
                     ORDER BY q.next_attempt_at, s.received_at LIMIT ?2",
                )?;
                let rows = select.query_map(params![now_ms(), limit as i64], |row| {
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
                let mut emails = std::collections::HashSet::new();
                let mut claimed = Vec::new();
                for row in rows {
                    let delivery = row?;
                    if emails.insert(delivery.email.to_lowercase()) {
                        claimed.push(delivery);
                    }
                }
                claimed
            };
            for delivery in &claimed {
                let id = delivery.id.as_ref();
                tx.execute(
                    "UPDATE delivery_queue SET in_flight = 1 WHERE submission_id = ?1",
                    [id],
                )?;
                tx.execute(
                    "UPDATE submissions SET attempts = attempts + 1 WHERE id = ?1",
                    [id],
                )?;
            }
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    /// The submission reached Clover: leave the queue, keep the customer id.
    pub async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<(), StorageError> {
        let (id, customer_id) = (id.as_ref().to_owned(), customer_id.to_owned());
        self.run(move |connection| {
            let tx = connection.transaction()?;
            tx.execute("DELETE FROM delivery_queue WHERE submission_id = ?1", [&id])?;
            tx.execute(
                "UPDATE submissions SET state = 'delivered', clover_customer_id = ?2,
                     outcome = ?3, delivered_at = ?4, last_error = NULL
                 WHERE id = ?1",
                params![id, customer_id, outcome.as_str(), now_ms()],
            )?;
            tx.commit()
        })
        .await
    }

    /// Clover will never accept this submission as it is: leave the queue, keep the reason.
    pub async fn mark_failed(&self, id: &SubmissionId, reason: &str) -> Result<(), StorageError> {
        let (id, reason) = (id.as_ref().to_owned(), reason.to_owned());
        self.run(move |connection| {
            let tx = connection.transaction()?;
            tx.execute("DELETE FROM delivery_queue WHERE submission_id = ?1", [&id])?;
            tx.execute(
                "UPDATE submissions SET state = 'failed', last_error = ?2 WHERE id = ?1",
                params![id, reason],
            )?;
            tx.commit()
        })
        .await
    }

    /// Try again at `next_attempt_at_ms`, remembering why this attempt did not succeed.
    pub async fn reschedule(
        &self,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (id, reason) = (id.as_ref().to_owned(), reason.to_owned());
        self.run(move |connection| {
            let tx = connection.transaction()?;
            tx.execute(
                "UPDATE delivery_queue SET in_flight = 0, next_attempt_at = ?2
                 WHERE submission_id = ?1",
                params![id, next_attempt_at_ms],
            )?;
            tx.execute(
                "UPDATE submissions SET last_error = ?2 WHERE id = ?1",
                params![id, reason],
            )?;
            tx.commit()
        })
        .await
    }

    /// After a restart, whatever was in flight is due again. Returns how many rows.
    pub async fn resume_in_flight(&self) -> Result<usize, StorageError> {
        self.run(|connection| {
            connection.execute(
                "UPDATE delivery_queue SET in_flight = 0 WHERE in_flight = 1",
                [],
            )
        })
        .await
    }

    /// When the next queued submission falls due, if any is waiting.
    pub async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        self.run(|connection| {
            connection
                .query_row(
                    "SELECT MIN(next_attempt_at) FROM delivery_queue WHERE in_flight = 0",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    /// Makes every queued submission due now (after the merchant fixed something).
    pub async fn make_all_due(&self) -> Result<usize, StorageError> {
        self.run(|connection| {
            connection.execute(
                "UPDATE delivery_queue SET next_attempt_at = ?1 WHERE in_flight = 0",
                [now_ms()],
            )
        })
        .await
    }
}
