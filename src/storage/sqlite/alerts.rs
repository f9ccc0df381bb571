//! Open alerts: see [`crate::alerts::AlertLedger`].

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::alerts::digest::{DigestLedger, PeriodCounts};
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

#[async_trait]
impl DigestLedger for SqliteStore {
    async fn counts(&self, from_ms: i64, to_ms: i64) -> Result<PeriodCounts, StorageError> {
        self.run(move |c| {
            let (received, consented): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(marketing_consent OR EXISTS (
                         SELECT 1 FROM consent_events e WHERE e.submission_id = s.id
                           AND e.kind = 'given' AND e.channel = 'email')), 0)
                 FROM submissions s WHERE received_at >= ?1 AND received_at < ?2",
                params![from_ms, to_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let delivered: i64 = c.query_row(
                "SELECT COUNT(*) FROM submissions WHERE delivered_at >= ?1 AND delivered_at < ?2",
                params![from_ms, to_ms],
                |row| row.get(0),
            )?;
            let withdrawn: i64 = c.query_row(
                "SELECT COUNT(*) FROM consent_events
                 WHERE kind = 'withdrawn' AND occurred_at >= ?1 AND occurred_at < ?2",
                params![from_ms, to_ms],
                |row| row.get(0),
            )?;
            Ok(PeriodCounts {
                received: received.unsigned_abs(),
                consented: consented.unsigned_abs(),
                delivered: delivered.unsigned_abs(),
                withdrawn: withdrawn.unsigned_abs(),
            })
        })
        .await
    }

    async fn claim(
        &self,
        period: &str,
        now_ms: i64,
        bots_total: u64,
    ) -> Result<Option<Option<u64>>, StorageError> {
        let period = period.to_owned();
        let bots_total = i64::try_from(bots_total).unwrap_or(i64::MAX);
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let previous: Option<i64> = tx
                .query_row(
                    "SELECT bots_total FROM digests ORDER BY sent_at_ms DESC LIMIT 1",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            let claimed = tx.execute(
                "INSERT INTO digests (period, sent_at_ms, bots_total) VALUES (?1, ?2, ?3)
                 ON CONFLICT (period) DO NOTHING",
                params![period, now_ms, bots_total],
            )?;
            tx.commit()?;
            Ok((claimed == 1).then(|| previous.map(i64::unsigned_abs)))
        })
        .await
    }

    async fn release(&self, period: &str) -> Result<(), StorageError> {
        let period = period.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM digests WHERE period = ?1", [period])
                .map(drop)
        })
        .await
    }
}
