//! What the SQLite and PostgreSQL migrations share: the files under `migrations/` are run
//! by refinery, and a database migrated before refinery ran them (it recorded only a
//! version number) is adopted by recording its migrations as refinery would have.

use refinery::Runner;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StorageError;

/// refinery's history table, one row per applied migration.
pub(super) const HISTORY_TABLE: &str = "refinery_schema_history";

/// The history table as refinery creates it, for the adoption, which runs before it does.
pub(super) const HISTORY_DDL: &str = "CREATE TABLE refinery_schema_history (
    version INT4 PRIMARY KEY,
    name VARCHAR(255),
    applied_on VARCHAR(255),
    checksum VARCHAR(255)
)";

/// One row of the history table.
pub(super) struct HistoryRow {
    pub version: i32,
    pub name: String,
    pub applied_on: String,
    pub checksum: String,
}

/// The highest version among the runner's migrations.
pub(super) fn latest(runner: &Runner) -> usize {
    runner
        .get_migrations()
        .iter()
        .map(|migration| usize::try_from(migration.version()).unwrap_or(0))
        .max()
        .unwrap_or(0)
}

/// The history rows of migrations 1 to `found`, applied before refinery recorded them.
pub(super) fn adopted(runner: &Runner, found: usize) -> Result<Vec<HistoryRow>, StorageError> {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|error| StorageError::Migration(error.to_string()))?;
    let mut rows: Vec<HistoryRow> = runner
        .get_migrations()
        .iter()
        .filter(|migration| usize::try_from(migration.version()).is_ok_and(|v| v <= found))
        .map(|migration| HistoryRow {
            version: migration.version(),
            name: migration.name().to_owned(),
            applied_on: now.clone(),
            checksum: migration.checksum().to_string(),
        })
        .collect();
    rows.sort_by_key(|row| row.version);
    if rows.len() != found {
        return Err(StorageError::Migration(format!(
            "the database records version {found}, but migrations 1 to {found} are not all known"
        )));
    }
    Ok(rows)
}
