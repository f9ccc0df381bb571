//! Open alerts: see [`crate::alerts::AlertLedger`].

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::alerts::ledger::remind_before;
use crate::alerts::{AlertLedger, Raised, Trouble};
use crate::storage::StorageError;

#[async_trait]
impl AlertLedger for SqliteStore {
    async fn raise(
        &self,
        trouble: Trouble,
        now_ms: i64,
        remind_every: Duration,
    ) -> Result<Option<Raised>, StorageError> {
        let before = remind_before(now_ms, remind_every);
        let opened_at: Option<i64> = self
            .run(move |c| {
                c.query_row(
                    "INSERT INTO alerts (trouble, opened_at_ms, sent_at_ms) VALUES (?1, ?2, ?2)
                     ON CONFLICT (trouble) DO UPDATE SET sent_at_ms = excluded.sent_at_ms
                         WHERE sent_at_ms < ?3
                     RETURNING opened_at_ms",
                    params![trouble.key(), now_ms, before],
                    |row| row.get(0),
                )
                .optional()
            })
            .await?;
        Ok(opened_at.map(|opened_at_ms| Raised::of(opened_at_ms, now_ms)))
    }

    async fn unsend(&self, trouble: Trouble, raised: Raised) -> Result<(), StorageError> {
        self.run(move |c| {
            match raised {
                Raised::Opened => {
                    c.execute("DELETE FROM alerts WHERE trouble = ?1", [trouble.key()])
                }
                Raised::Reminder { .. } => c.execute(
                    "UPDATE alerts SET sent_at_ms = 0 WHERE trouble = ?1",
                    [trouble.key()],
                ),
            }
            .map(drop)
        })
        .await
    }

    async fn clear(&self, trouble: Trouble) -> Result<Option<i64>, StorageError> {
        self.run(move |c| {
            c.query_row(
                "DELETE FROM alerts WHERE trouble = ?1 RETURNING opened_at_ms",
                [trouble.key()],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }
}
