use std::collections::BTreeMap;

use rusqlite::Connection;

pub(super) fn count(connection: &mut Connection, reason: &str) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO bot_counts (reason, count) VALUES (?1, 1)
         ON CONFLICT (reason) DO UPDATE SET count = count + 1",
        [reason],
    )?;
    Ok(())
}

pub(super) fn counts(connection: &mut Connection) -> rusqlite::Result<BTreeMap<String, u64>> {
    let mut statement = connection.prepare("SELECT reason, count FROM bot_counts")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}
