//! The event outbox: see [`crate::events::outbox`].

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use crate::delivery::lease::lease_until;
use crate::events::{EventOutbox, OutboxEvent};
use crate::storage::{StorageError, now_ms};

#[async_trait]
impl EventOutbox for PostgresStore {
    async fn add(&self, event: &OutboxEvent) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO event_outbox (id, kind, body, created_at_ms, next_attempt_at_ms)
                 VALUES ($1, $2, $3, $4, $4)",
                &[&event.id, &event.kind, &event.body, &event.created_at_ms],
            )
            .await?;
        Ok(())
    }

    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>, StorageError> {
        let now = now_ms();
        // Rows another instance is claiming are skipped, not waited for.
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE event_outbox SET attempts = attempts + 1, claimed_until_ms = $2
                 WHERE id IN (SELECT id FROM event_outbox
                              WHERE NOT abandoned AND next_attempt_at_ms <= $1
                                AND (claimed_until_ms IS NULL OR claimed_until_ms < $1)
                              ORDER BY created_at_ms LIMIT $3
                              FOR UPDATE SKIP LOCKED)
                 RETURNING id, kind, body, created_at_ms, attempts",
                &[&now, &lease_until(now, lease), &(limit as i64)],
            )
            .await?;
        let mut events: Vec<OutboxEvent> = rows
            .iter()
            .map(|row| OutboxEvent {
                id: row.get(0),
                kind: row.get(1),
                body: row.get(2),
                created_at_ms: row.get(3),
                attempts: row.get::<_, i32>(4).unsigned_abs(),
            })
            .collect();
        events.sort_by_key(|event| event.created_at_ms);
        Ok(events)
    }

    async fn sent(&self, id: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute("DELETE FROM event_outbox WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }

    async fn retry_at(
        &self,
        id: &str,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE event_outbox SET next_attempt_at_ms = $2, claimed_until_ms = NULL,
                     last_error = $3 WHERE id = $1",
                &[&id, &next_attempt_at_ms, &error],
            )
            .await?;
        Ok(())
    }

    async fn abandon(&self, id: &str, error: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE event_outbox SET abandoned = TRUE, claimed_until_ms = NULL,
                     last_error = $2 WHERE id = $1",
                &[&id, &error],
            )
            .await?;
        Ok(())
    }

    async fn forget_abandoned_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        let deleted = self
            .client()
            .await?
            .execute(
                "DELETE FROM event_outbox WHERE abandoned AND created_at_ms < $1",
                &[&cutoff_ms],
            )
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    async fn pending(&self) -> Result<u64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COUNT(*) FROM event_outbox WHERE NOT abandoned", &[])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }
}
