//! The event outbox: see [`crate::events::outbox`].

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::delivery::lease::lease_until;
use crate::events::{EventOutbox, OutboxEvent};
use crate::storage::{StorageError, now_ms};

#[async_trait]
impl EventOutbox for SqliteStore {
    async fn add(&self, event: &OutboxEvent) -> Result<(), StorageError> {
        let event = event.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO event_outbox (id, kind, body, created_at_ms, next_attempt_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![event.id, event.kind, event.body, event.created_at_ms],
            )
            .map(drop)
        })
        .await
    }

    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<OutboxEvent>, StorageError> {
        let now = now_ms();
        self.run(move |c| {
            let mut statement = c.prepare(
                "UPDATE event_outbox SET attempts = attempts + 1, claimed_until_ms = ?2
                 WHERE id IN (SELECT id FROM event_outbox
                              WHERE abandoned = 0 AND next_attempt_at_ms <= ?1
                                AND (claimed_until_ms IS NULL OR claimed_until_ms < ?1)
                              ORDER BY created_at_ms LIMIT ?3)
                 RETURNING id, kind, body, created_at_ms, attempts",
            )?;
            let rows = statement.query_map(
                params![now, lease_until(now, lease), limit as i64],
                |row| {
                    Ok(OutboxEvent {
                        id: row.get(0)?,
                        kind: row.get(1)?,
                        body: row.get(2)?,
                        created_at_ms: row.get(3)?,
                        attempts: row.get(4)?,
                    })
                },
            )?;
            let mut events: Vec<OutboxEvent> = rows.collect::<rusqlite::Result<_>>()?;
            events.sort_by_key(|event| event.created_at_ms);
            Ok(events)
        })
        .await
    }

    async fn sent(&self, id: &str) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM event_outbox WHERE id = ?1", [id])
                .map(drop)
        })
        .await
    }

    async fn retry_at(
        &self,
        id: &str,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), StorageError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE event_outbox SET next_attempt_at_ms = ?2, claimed_until_ms = NULL,
                     last_error = ?3 WHERE id = ?1",
                params![id, next_attempt_at_ms, error],
            )
            .map(drop)
        })
        .await
    }

    async fn abandon(&self, id: &str, error: &str) -> Result<(), StorageError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE event_outbox SET abandoned = 1, claimed_until_ms = NULL, last_error = ?2
                 WHERE id = ?1",
                params![id, error],
            )
            .map(drop)
        })
        .await
    }

    async fn forget_abandoned_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM event_outbox WHERE abandoned = 1 AND created_at_ms < ?1",
                [cutoff_ms],
            )
        })
        .await
    }

    async fn pending(&self) -> Result<u64, StorageError> {
        self.run(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM event_outbox WHERE abandoned = 0",
                [],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|n| n.unsigned_abs())
    }
}
