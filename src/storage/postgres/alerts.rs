//! Open alerts: see [`crate::alerts::AlertLedger`].

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use crate::alerts::ledger::remind_before;
use crate::alerts::{AlertLedger, Raised, Trouble};
use crate::storage::StorageError;

#[async_trait]
impl AlertLedger for PostgresStore {
    async fn raise(
        &self,
        trouble: Trouble,
        now_ms: i64,
        remind_every: Duration,
    ) -> Result<Option<Raised>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO alerts (trouble, opened_at_ms, sent_at_ms) VALUES ($1, $2, $2)
                 ON CONFLICT (trouble) DO UPDATE SET sent_at_ms = EXCLUDED.sent_at_ms
                     WHERE alerts.sent_at_ms < $3
                 RETURNING opened_at_ms",
                &[
                    &trouble.key(),
                    &now_ms,
                    &remind_before(now_ms, remind_every),
                ],
            )
            .await?;
        Ok(row.map(|row| Raised::of(row.get(0), now_ms)))
    }

    async fn unsend(&self, trouble: Trouble, raised: Raised) -> Result<(), StorageError> {
        let statement = match raised {
            Raised::Opened => "DELETE FROM alerts WHERE trouble = $1",
            Raised::Reminder { .. } => "UPDATE alerts SET sent_at_ms = 0 WHERE trouble = $1",
        };
        self.client()
            .await?
            .execute(statement, &[&trouble.key()])
            .await?;
        Ok(())
    }

    async fn clear(&self, trouble: Trouble) -> Result<Option<i64>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "DELETE FROM alerts WHERE trouble = $1 RETURNING opened_at_ms",
                &[&trouble.key()],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}
