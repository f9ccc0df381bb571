//! The PostgreSQL schema: the migrations in `migrations/postgres` (the SQLite schema's final
//! shape, in PostgreSQL's types), run by refinery under an advisory lock.

use refinery::Runner;
use tokio_postgres::Client;

use crate::storage::StorageError;
use crate::storage::migrations;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Taken while migrating, so that instances starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x636c_6f76_6572_0001;

/// The version [`migrate`] brings a database to.
pub(super) fn latest_version() -> usize {
    migrations::latest(&embedded::migrations::runner())
}

/// The version recorded, 0 when the service never migrated this database; reads only.
/// Table `schema_version` keeps mirroring it, as it recorded it alone before the
/// migrations moved to refinery: that is how an older version of the service, rolled
/// back to, sees that the database is newer than it knows.
pub(super) async fn found_version(client: &Client) -> Result<usize, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = client
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
        .map(|row| row.get(0));
    Ok(version.and_then(|v| usize::try_from(v).ok()).unwrap_or(0))
}

/// Brings the schema up to date, one instance at a time. The session's limits are lifted
/// meanwhile (a migration may take longer than an ordinary statement may, and an instance
/// starting beside another waits for its migration) and `restore` is run afterwards.
pub(super) async fn migrate(client: &mut Client, restore: &str) -> Result<(), StorageError> {
    client
        .batch_execute("SET statement_timeout = 0; SET lock_timeout = 0")
        .await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let migrated = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let restored = client.batch_execute(restore).await;
    migrated?;
    unlocked?;
    restored?;
    Ok(())
}

async fn migrate_locked(client: &mut Client) -> Result<(), StorageError> {
    let runner = embedded::migrations::runner();
    let latest = migrations::latest(&runner);
    let found = found_version(client).await?;
    crate::storage::note_newer_schema(found, latest);
    if found > latest {
        // Migrated by a newer version: nothing here to apply, and its history names
        // migrations this version does not have.
        return Ok(());
    }
    adopt(client, &runner, found).await?;
    runner
        .run_async(client)
        .await
        .map_err(|error| StorageError::Migration(error.to_string()))?;
    let latest = i32::try_from(latest).expect("few migrations");
    let tx = client.transaction().await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await?;
    tx.execute("DELETE FROM schema_version", &[]).await?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES ($1)",
        &[&latest],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A database migrated before refinery ran its migrations has only `schema_version`: its
/// first `found` migrations are recorded as applied, as refinery would have recorded them.
async fn adopt(client: &mut Client, runner: &Runner, found: usize) -> Result<(), StorageError> {
    let history: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&migrations::HISTORY_TABLE],
        )
        .await?
        .get(0);
    if history || found == 0 {
        return Ok(());
    }
    let tx = client.transaction().await?;
    tx.batch_execute(migrations::HISTORY_DDL).await?;
    for row in migrations::adopted(runner, found)? {
        tx.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES ($1, $2, $3, $4)",
            &[&row.version, &row.name, &row.applied_on, &row.checksum],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
