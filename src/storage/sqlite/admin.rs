//! The admin's statistics and sessions: see [`crate::admin`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::admin::{
    AdminSessions, Backlog, DeliveryTimes, ExportRow, OpenAlert, QUARTER_HOUR_MS, QueueCounts,
    SourceCount, Statistics, SubmissionSummary,
};
use crate::storage::records::{parse_outcome, parse_state};
use crate::storage::{SignupDetails, StorageError, SubmissionId};

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

    async fn open_alerts(&self) -> Result<Vec<OpenAlert>, StorageError> {
        self.run(|c| {
            let mut statement = c.prepare(
                "SELECT trouble, opened_at_ms FROM alerts ORDER BY opened_at_ms, trouble",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(OpenAlert {
                    trouble: row.get(0)?,
                    opened_at_ms: row.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn received_per_quarter_hour(
        &self,
        from_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StorageError> {
        self.run(move |c| {
            let mut statement = c.prepare(
                "SELECT received_at / ?2 AS quarter, COUNT(*) FROM submissions
                 WHERE received_at >= ?1 GROUP BY quarter ORDER BY quarter",
            )?;
            let rows = statement.query_map([from_ms, QUARTER_HOUR_MS], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            rows.collect()
        })
        .await
    }

    async fn delivery_times(&self, from_ms: i64) -> Result<DeliveryTimes, StorageError> {
        self.run(move |c| delivery_times(c, from_ms)).await
    }

    async fn signups_per_source(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SourceCount>, StorageError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT CASE WHEN json_valid(details) THEN details ->> '$.source' END AS tag,
                        COUNT(*) AS signups
                 FROM submissions WHERE received_at >= ?1 AND received_at < ?2
                 GROUP BY tag ORDER BY signups DESC, tag IS NULL, tag",
            )?;
            let rows = statement.query_map(params![from_ms, to_ms], |row| {
                Ok(SourceCount {
                    source: row.get(0)?,
                    signups: row.get::<_, i64>(1)?.unsigned_abs(),
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn find_by_email(
        &self,
        email: &str,
        limit: u32,
    ) -> Result<Vec<SubmissionSummary>, StorageError> {
        let email = email.to_owned();
        self.run(move |c| {
            let mut statement = c.prepare(&format!(
                "{SUMMARY} WHERE email = ?1 ORDER BY received_at DESC, rowid DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![email, limit], summary)?;
            rows.collect()
        })
        .await
    }

    async fn export(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ExportRow>, StorageError> {
        self.run(move |c| export(c, from_ms, to_ms)).await
    }

    async fn kept_about(&self, email: &str) -> Result<Vec<ExportRow>, StorageError> {
        let email = email.to_owned();
        self.run(move |c| rows(c, "email = ?1", [email])).await
    }
}

/// The durations of delivered signups, in the index on received_at's order; the median
/// is read at its offset, since SQLite has no percentile function.
const DELIVERED: &str = "FROM submissions
    WHERE received_at >= ?1 AND state = 'delivered' AND delivered_at IS NOT NULL";

fn delivery_times(connection: &mut Connection, from_ms: i64) -> rusqlite::Result<DeliveryTimes> {
    let (delivered, slowest_ms): (u64, Option<i64>) = connection.query_row(
        &format!("SELECT COUNT(*), MAX(delivered_at - received_at) {DELIVERED}"),
        [from_ms],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if delivered == 0 {
        return Ok(DeliveryTimes::default());
    }
    let median_ms = connection.query_row(
        &format!(
            "SELECT delivered_at - received_at {DELIVERED}
             ORDER BY delivered_at - received_at LIMIT 1 OFFSET ?2"
        ),
        params![from_ms, (delivered - 1) / 2],
        |row| row.get(0),
    )?;
    Ok(DeliveryTimes {
        delivered,
        median_ms: Some(median_ms),
        slowest_ms,
    })
}

fn export(
    connection: &mut Connection,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<Vec<ExportRow>> {
    rows(
        connection,
        "received_at >= ?1 AND received_at < ?2",
        params![from_ms, to_ms],
    )
}

/// Whole submissions, as the export reads them, where `condition` holds, oldest first.
fn rows(
    connection: &mut Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<ExportRow>> {
    let mut statement = connection.prepare(&format!(
        "SELECT id, received_at, source, first_name, last_name, email, phone,
                marketing_consent, state, delivered_at, clover_customer_id, details
         FROM submissions WHERE {condition}
         ORDER BY received_at, rowid"
    ))?;
    let rows = statement.query_map(params, |row| {
        Ok(ExportRow {
            id: SubmissionId(row.get(0)?),
            received_at_ms: row.get(1)?,
            source: row.get(2)?,
            first_name: row.get(3)?,
            last_name: row.get(4)?,
            email: row.get(5)?,
            phone: row.get(6)?,
            marketing_consent: row.get(7)?,
            state: parse_state(&row.get::<_, String>(8)?),
            delivered_at_ms: row.get(9)?,
            clover_customer_id: row.get(10)?,
            details: SignupDetails::from_column(row.get(11)?, "exported"),
        })
    })?;
    rows.collect()
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

/// The columns of a [`SubmissionSummary`], in [`summary`]'s order.
const SUMMARY: &str = "SELECT id, received_at, email, state, attempts, last_error,
        clover_customer_id, outcome, delivered_at
    FROM submissions";

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<SubmissionSummary> {
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
        delivered_at_ms: row.get(8)?,
    })
}

fn recent(connection: &mut Connection, limit: u32) -> rusqlite::Result<Vec<SubmissionSummary>> {
    let mut statement = connection.prepare(&format!(
        "{SUMMARY} ORDER BY received_at DESC, rowid DESC LIMIT ?1"
    ))?;
    let rows = statement.query_map([limit], summary)?;
    rows.collect()
}
