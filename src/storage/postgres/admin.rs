//! The admin's statistics and sessions: see [`crate::admin`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_postgres::{Client, Row};

use super::PostgresStore;
use crate::admin::{
    AdminSessions, Backlog, DeliveryTimes, ExportRow, OpenAlert, QUARTER_HOUR_MS, QueueCounts,
    SourceCount, Statistics, SubmissionSummary,
};
use crate::storage::records::{parse_outcome, parse_state};
use crate::storage::{SignupDetails, StorageError, SubmissionId};

#[async_trait]
impl Statistics for PostgresStore {
    async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        queue_counts(&*self.client().await?).await
    }

    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError> {
        recent(&*self.client().await?, limit).await
    }

    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        let rows = self
            .client()
            .await?
            .query("SELECT reason, count FROM bot_counts", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let count: i64 = row.get(1);
                (row.get(0), u64::try_from(count).unwrap_or(0))
            })
            .collect())
    }

    async fn backlog(&self) -> Result<Backlog, StorageError> {
        // Each count goes through the index on state, so it costs what waits, not what
        // was ever delivered.
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT
                    (SELECT COUNT(*) FROM submissions WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM submissions WHERE state = 'failed'),
                    (SELECT MIN(received_at) FROM submissions WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM alerts)",
                &[],
            )
            .await?;
        let count = |i| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Ok(Backlog {
            pending: count(0),
            failed: count(1),
            oldest_pending_at_ms: row.get(2),
            alerts_open: count(3),
        })
    }

    async fn open_alerts(&self) -> Result<Vec<OpenAlert>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT trouble, opened_at_ms FROM alerts ORDER BY opened_at_ms, trouble",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| OpenAlert {
                trouble: row.get(0),
                opened_at_ms: row.get(1),
            })
            .collect())
    }

    async fn received_per_quarter_hour(
        &self,
        from_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT received_at / $2 AS quarter, COUNT(*) FROM submissions
                 WHERE received_at >= $1 GROUP BY quarter ORDER BY quarter",
                &[&from_ms, &QUARTER_HOUR_MS],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), u64::try_from(row.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }

    async fn signups_per_source(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SourceCount>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT details::jsonb ->> 'source' AS tag, COUNT(*) AS signups
                 FROM submissions WHERE received_at >= $1 AND received_at < $2
                 GROUP BY tag
                 ORDER BY signups DESC, (details::jsonb ->> 'source') IS NULL,
                          (details::jsonb ->> 'source') COLLATE \"C\"",
                &[&from_ms, &to_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SourceCount {
                source: row.get(0),
                signups: row.get::<_, i64>(1).unsigned_abs(),
            })
            .collect())
    }

    async fn delivery_times(&self, from_ms: i64) -> Result<DeliveryTimes, StorageError> {
        // The same offset read as SQLite's, rather than percentile_disc, so both stores
        // name the same signup the median.
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!("SELECT COUNT(*), MAX(delivered_at - received_at) {DELIVERED}"),
                &[&from_ms],
            )
            .await?;
        let delivered = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        if delivered == 0 {
            return Ok(DeliveryTimes::default());
        }
        let offset = i64::try_from((delivered - 1) / 2).unwrap_or(0);
        let median = client
            .query_one(
                &format!(
                    "SELECT delivered_at - received_at {DELIVERED}
                     ORDER BY delivered_at - received_at LIMIT 1 OFFSET $2"
                ),
                &[&from_ms, &offset],
            )
            .await?;
        Ok(DeliveryTimes {
            delivered,
            median_ms: Some(median.get(0)),
            slowest_ms: row.get(1),
        })
    }

    async fn find_by_email(
        &self,
        email: &str,
        limit: u32,
    ) -> Result<Vec<SubmissionSummary>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{SUMMARY} WHERE email = $1 ORDER BY received_at DESC, seq DESC LIMIT $2"),
                &[&email, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(summary).collect())
    }

    async fn export(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ExportRow>, StorageError> {
        let condition = "received_at >= $1 AND received_at < $2";
        self.rows(condition, &[&from_ms, &to_ms]).await
    }

    async fn kept_about(&self, email: &str) -> Result<Vec<ExportRow>, StorageError> {
        self.rows("email = $1", &[&email]).await
    }
}

impl PostgresStore {
    /// Whole submissions, as the export reads them, where `condition` holds, oldest first.
    async fn rows(
        &self,
        condition: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<ExportRow>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT id, received_at, source, first_name, last_name, email, phone,
                            marketing_consent, state, delivered_at, clover_customer_id, details
                     FROM submissions WHERE {condition}
                     ORDER BY received_at, seq"
                ),
                params,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ExportRow {
                id: SubmissionId(row.get(0)),
                received_at_ms: row.get(1),
                source: row.get(2),
                first_name: row.get(3),
                last_name: row.get(4),
                email: row.get(5),
                phone: row.get(6),
                marketing_consent: row.get(7),
                state: parse_state(row.get(8)),
                delivered_at_ms: row.get(9),
                clover_customer_id: row.get(10),
                details: SignupDetails::from_column(row.get(11), "exported"),
            })
            .collect())
    }
}

/// The delivered signups received from `$1` on, through the index on received_at.
const DELIVERED: &str = "FROM submissions
    WHERE received_at >= $1 AND state = 'delivered' AND delivered_at IS NOT NULL";

/// The columns of a [`SubmissionSummary`], in [`summary`]'s order.
const SUMMARY: &str = "SELECT id, received_at, email, state, attempts, last_error,
        clover_customer_id, outcome, delivered_at
    FROM submissions";

fn summary(row: &Row) -> SubmissionSummary {
    SubmissionSummary {
        id: SubmissionId(row.get(0)),
        received_at_ms: row.get(1),
        email: row.get(2),
        state: parse_state(row.get(3)),
        attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        last_error: row.get(5),
        clover_customer_id: row.get(6),
        outcome: row.get::<_, Option<&str>>(7).and_then(parse_outcome),
        delivered_at_ms: row.get(8),
    }
}

#[async_trait]
impl AdminSessions for PostgresStore {
    async fn generation(&self) -> Result<u64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one("SELECT generation FROM admin_sessions WHERE id = 1", &[])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn end_all(&self) -> Result<u64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one(
                "UPDATE admin_sessions SET generation = generation + 1 WHERE id = 1
                 RETURNING generation",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }
}

async fn queue_counts(client: &Client) -> Result<QueueCounts, StorageError> {
    let rows = client
        .query(
            "SELECT state, COUNT(*) FROM submissions GROUP BY state",
            &[],
        )
        .await?;
    let mut counts = QueueCounts::default();
    for row in rows {
        let count = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        match row.get::<_, &str>(0) {
            "pending" => counts.pending = count,
            "delivered" => counts.delivered = count,
            _ => counts.failed = count,
        }
    }
    Ok(counts)
}

async fn recent(client: &Client, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError> {
    let rows = client
        .query(
            &format!("{SUMMARY} ORDER BY received_at DESC, seq DESC LIMIT $1"),
            &[&i64::from(limit)],
        )
        .await?;
    Ok(rows.iter().map(summary).collect())
}
