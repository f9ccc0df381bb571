//! The admin's statistics and sessions: see [`crate::admin`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_postgres::Client;

use super::PostgresStore;
use crate::admin::{AdminSessions, Backlog, QueueCounts, Statistics, SubmissionSummary};
use crate::storage::records::{parse_outcome, parse_state};
use crate::storage::{StorageError, SubmissionId};

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
            "SELECT id, received_at, email, state, attempts, last_error, clover_customer_id,
                    outcome
             FROM submissions ORDER BY received_at DESC, seq DESC LIMIT $1",
            &[&i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SubmissionSummary {
            id: SubmissionId(row.get(0)),
            received_at_ms: row.get(1),
            email: row.get(2),
            state: parse_state(row.get(3)),
            attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
            last_error: row.get(5),
            clover_customer_id: row.get(6),
            outcome: row.get::<_, Option<&str>>(7).and_then(parse_outcome),
        })
        .collect())
}
