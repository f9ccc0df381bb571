//! The SQLite schema: the migrations in `migrations/sqlite`, run by refinery, which records
//! each in `refinery_schema_history` with a checksum and refuses to start when a released
//! migration was edited afterwards.

use refinery::Runner;
use rusqlite::{Connection, OptionalExtension};

use crate::storage::StorageError;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// The version [`migrate`] brings a database to.
pub fn latest_version() -> usize {
    crate::storage::migrations::latest(&embedded::migrations::runner())
}

/// Brings the schema up to date. `PRAGMA user_version` keeps mirroring the version, as
/// it recorded it alone before the migrations moved to refinery: that is how an older
/// version of the service, rolled back to, sees that the file is newer than it knows.
pub fn migrate(connection: &mut Connection) -> Result<(), StorageError> {
    let runner = embedded::migrations::runner();
    let latest = crate::storage::migrations::latest(&runner);
    let found: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    crate::storage::note_newer_schema(found, latest);
    if found > latest {
        // Migrated by a newer version: nothing here to apply, and its history names
        // migrations this version does not have.
        return Ok(());
    }
    adopt(connection, &runner, found)?;
    runner
        .run(connection)
        .map_err(|error| StorageError::Migration(error.to_string()))?;
    connection.pragma_update(None, "user_version", latest)?;
    Ok(())
}

/// A file migrated before refinery ran its migrations has only `user_version`: its first
/// `found` migrations are recorded as applied, as refinery would have recorded them.
fn adopt(connection: &mut Connection, runner: &Runner, found: usize) -> Result<(), StorageError> {
    let history: Option<String> = connection
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [crate::storage::migrations::HISTORY_TABLE],
            |row| row.get(0),
        )
        .optional()?;
    if history.is_some() || found == 0 {
        return Ok(());
    }
    let tx = connection.transaction()?;
    tx.execute_batch(crate::storage::migrations::HISTORY_DDL)?;
    for applied in crate::storage::migrations::adopted(runner, found)? {
        tx.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                applied.version,
                applied.name,
                applied.applied_on,
                applied.checksum
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}
