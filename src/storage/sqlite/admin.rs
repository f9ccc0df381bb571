//! The admin's statistics and sessions: see [`crate::admin`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use crate::admin::{AdminSessions, Backlog, QueueCounts, Statistics, SubmissionSummary};
use crate::storage::records::{parse_outcome, parse_state};
use crate::storage::{StorageError, SubmissionId};

#[async_trait]
impl Statistics for SqliteStore {
    async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        self.run(queue_counts).await
    }

    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError> {
        self.run(move |c| recent(c, limit)).await
    }

    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        self.run(|c| {
            let mut statement = c.prepare("SELECT reason, count FROM bot_counts")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn backlog(&self) -> Result<Backlog, StorageError> {
        self.run(|c| {
            c.query_row(BACKLOG, [], |row| {
                Ok(Backlog {
                    pending: row.get(0)?,
                    failed: row.get(1)?,
                    oldest_pending_at_ms: row.get(2)?,
                    alerts_open: row.get(3)?,
                })
            })
        })
        .await
    }
}

/// Each count goes through the index on state, so it costs what waits, not what was
/// ever delivered.
const BACKLOG: &str = "SELECT
    (SELECT COUNT(*) FROM submissions WHERE state = 'pending'),
    (SELECT COUNT(*) FROM submissions WHERE state = 'failed'),
    (SELECT MIN(received_at) FROM submissions WHERE state = 'pending'),
    (SELECT COUNT(*) FROM alerts)";

#[async_trait]
impl AdminSessions for SqliteStore {
    async fn generation(&self) -> Result<u64, StorageError> {
        self.run(|c| {
            c.query_row(
                "SELECT generation FROM admin_sessions WHERE id = 1",
                [],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|generation| generation.unsigned_abs())
    }

    async fn end_all(&self) -> Result<u64, StorageError> {
        self.run(|c| {
            c.query_row(
                "UPDATE admin_sessions SET generation = generation + 1 WHERE id = 1
                 RETURNING generation",
                [],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|generation| generation.unsigned_abs())
    }
}

fn queue_counts(connection: &mut Connection) -> rusqlite::Result<QueueCounts> {
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

fn recent(connection: &mut Connection, limit: u32) -> rusqlite::Result<Vec<SubmissionSummary>> {
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
