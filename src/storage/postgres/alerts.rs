//! Open alerts: see [`crate::alerts::AlertLedger`].

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use crate::alerts::digest::{DigestLedger, PeriodCounts};
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

#[async_trait]
impl DigestLedger for PostgresStore {
    async fn counts(&self, from_ms: i64, to_ms: i64) -> Result<PeriodCounts, StorageError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT
                     (SELECT COUNT(*) FROM submissions
                      WHERE received_at >= $1 AND received_at < $2),
                     (SELECT COUNT(*) FROM submissions s
                      WHERE received_at >= $1 AND received_at < $2
                        AND (marketing_consent OR EXISTS (
                            SELECT 1 FROM consent_events e WHERE e.submission_id = s.id
                              AND e.kind = 'given' AND e.channel = 'email'))),
                     (SELECT COUNT(*) FROM submissions
                      WHERE delivered_at >= $1 AND delivered_at < $2),
                     (SELECT COUNT(*) FROM consent_events
                      WHERE kind = 'withdrawn' AND occurred_at >= $1 AND occurred_at < $2)",
                &[&from_ms, &to_ms],
            )
            .await?;
        let count = |n: usize| row.get::<_, i64>(n).unsigned_abs();
        Ok(PeriodCounts {
            received: count(0),
            consented: count(1),
            delivered: count(2),
            withdrawn: count(3),
        })
    }

    async fn claim(
        &self,
        period: &str,
        now_ms: i64,
        bots_total: u64,
    ) -> Result<Option<Option<u64>>, StorageError> {
        let bots_total = i64::try_from(bots_total).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let previous = tx
            .query_opt(
                "SELECT bots_total FROM digests ORDER BY sent_at_ms DESC LIMIT 1",
                &[],
            )
            .await?
            .map(|row| row.get::<_, i64>(0).unsigned_abs());
        let claimed = tx
            .execute(
                "INSERT INTO digests (period, sent_at_ms, bots_total) VALUES ($1, $2, $3)
                 ON CONFLICT (period) DO NOTHING",
                &[&period, &now_ms, &bots_total],
            )
            .await?;
        tx.commit().await?;
        Ok((claimed == 1).then_some(previous))
    }

    async fn release(&self, period: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute("DELETE FROM digests WHERE period = $1", &[&period])
            .await?;
        Ok(())
    }
}
