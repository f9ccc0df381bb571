//! The store in one SQLite file, for one machine. Every write that a visitor is told about
//! is committed with `synchronous=FULL` in WAL mode, so it survives a crash or power loss
//! once acknowledged. One process owns the file: its delivery claims need no other
//! instance's consent, and whatever a crash left claimed is released at open.

//!
//! Each port has its file: `submissions` (the intake's), `queue`, `credentials`, `admin`
//! and `demo`, each the twin of the same file in `postgres`.

mod admin;
mod alerts;
mod checkpoint;
mod consent;
mod credentials;
mod demo;
mod events;
mod kiosks;
mod mail;
mod private_files;
mod queue;
mod schema;
mod submissions;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::StorageError;
use crate::clover::vault::CredentialKind;

/// How long a statement waits for a lock held by another connection (backups, the CLI).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// See [`crate::storage::inspection`]: read-only, and the file is not created.
pub(super) fn inspect(path: &Path) -> Result<crate::storage::inspection::Found, StorageError> {
    let known = schema::latest_version();
    if !path.exists() {
        return Ok((0, known, None, None));
    }
    // Reading a database in WAL mode may create its -wal and -shm files. Run by another
    // user than the server's (root, over `fly ssh console`), they must still be the
    // server's to open afterwards.
    let companions = ["-wal", "-shm"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    });
    let existed = companions.clone().map(|file| file.exists());
    let read = read_only(path, known);
    #[cfg(unix)]
    if let Ok(owner) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        for (file, existed) in companions.iter().zip(existed) {
            if !existed && file.exists() {
                let _ = std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid()));
            }
        }
    }
    read
}

fn read_only(path: &Path, known: usize) -> Result<crate::storage::inspection::Found, StorageError> {
    let mut connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let found: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found < known {
        return Ok((found, known, None, None));
    }
    let api_token = credentials::load(&mut connection, CredentialKind::ApiToken)?;
    let oauth = credentials::load(&mut connection, CredentialKind::OAuth)?;
    Ok((found, known, api_token, oauth))
}

/// One connection serves the whole process: SQLite allows one writer at a time anyway,
/// and the traffic of a signup form is small.
pub(super) struct SqliteStore {
    /// The name of this instance in delivery claims.
    pub(super) instance: Arc<str>,
    connection: Arc<Mutex<Connection>>,
    /// A connection that only reads, for what a signup reads on its way in (the person's
    /// consent): in WAL mode it reads beside the writer instead of waiting out its
    /// commit, which would cost each signup a whole extra fsync of time.
    reader: Arc<Mutex<Connection>>,
    /// New submissions go through one writer that commits them in batches.
    writer: writer::SubmissionWriter,
    /// Stops when the store is dropped.
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder, and brings the schema
    /// up to date. Blocks: call it off the async workers. The folder it creates and the
    /// files are readable by this user only (see [`private_files`]).
    pub fn open(path: &Path, instance: Arc<str>) -> Result<Self, StorageError> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_files::create_folder(folder)?;
        }
        private_files::prepare_database_file(path)?;
        let mut connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        private_files::tighten_companions(path)?;
        // FULL: a submission we acknowledged must survive a power loss, not only a crash.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Erased personal data is overwritten, not merely unlinked from the file.
        connection.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut connection)?;
        // The process before this one may have stopped mid-delivery; nobody else uses the
        // file, so its claims are due again now rather than when their leases run out.
        queue::release_every_claim(&connection)?;
        // Checkpoints move the write-ahead log into the main file, with an fsync of
        // their own. Left to SQLite, a commit that crosses the log's threshold does one
        // before it returns, and every signup waiting behind it waits too; instead a
        // thread with its own connection checkpoints beside the writers.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = checkpoint::Checkpointer::start(path)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        reader.pragma_update(None, "query_only", true)?;
        let connection = Arc::new(Mutex::new(connection));
        Ok(Self {
            instance,
            reader: Arc::new(Mutex::new(reader)),
            writer: writer::SubmissionWriter::start(Arc::clone(&connection))?,
            connection,
            _checkpointer: checkpointer,
        })
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    /// Runs `work` on the connection on a blocking thread, off the async workers.
    async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        on(&self.connection, work).await
    }

    /// Runs `work`, which only reads, on the reading connection.
    async fn read<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        on(&self.reader, work).await
    }
}

/// Runs `work` on `connection` on a blocking thread, off the async workers.
async fn on<T, F>(connection: &Arc<Mutex<Connection>>, work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
{
    let connection = Arc::clone(connection);
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves SQLite itself consistent (the open
        // transaction rolls back), so a poisoned lock is safe to reuse.
        let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
        work(&mut connection)
    })
    .await
    .map_err(|_| StorageError::TaskFailed)?
    .map_err(StorageError::from)
}

/// After personal data was erased: the write-ahead log still holds the old pages, so fold
/// it into the file and empty it.
fn truncate_log(connection: &Connection) -> rusqlite::Result<()> {
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("nested/folder/test.db"), "test".into()).unwrap();
        let connection = store.connection.lock().unwrap();

        let journal: String = connection
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let synchronous: i64 = connection
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();

        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "2 is FULL");
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_it_creates_and_the_files_are_this_users_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("data");
        let path = folder.join("test.db");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let _store = SqliteStore::open(&path, "test".into()).unwrap();

        assert_eq!(mode(&folder), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(
                mode(&folder.join(format!("test.db{suffix}"))),
                0o600,
                "{suffix}"
            );
        }
        // A folder that was there already (it may be shared, like /tmp) keeps its mode.
        assert_eq!(mode(dir.path()), 0o755);
    }
}
