use std::collections::BTreeMap;

use rusqlite::{Connection, params};

pub(super) fn add(connection: &mut Connection, reason: &str, count: u64) -> rusqlite::Result<()> {
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    connection.execute(
        "INSERT INTO bot_counts (reason, count) VALUES (?1, ?2)
         ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
        params![reason, count],
    )?;
    Ok(())
}

pub(super) fn counts(connection: &mut Connection) -> rusqlite::Result<BTreeMap<String, u64>> {
    let mut statement = connection.prepare("SELECT reason, count FROM bot_counts")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}
