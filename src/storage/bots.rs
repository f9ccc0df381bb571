use std::collections::BTreeMap;

use super::{Database, StorageError};

impl Database {
    /// Counts one submission turned away as a bot; nothing else of it is kept.
    pub async fn count_bot(&self, reason: &'static str) -> Result<(), StorageError> {
        self.run(move |connection| {
            connection.execute(
                "INSERT INTO bot_counts (reason, count) VALUES (?1, 1)
                 ON CONFLICT (reason) DO UPDATE SET count = count + 1",
                [reason],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        self.run(|connection| {
            let mut statement = connection.prepare("SELECT reason, count FROM bot_counts")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }
}
