//! The store in one SQLite file, for one machine. Every write that a visitor is told about
//! is committed with `synchronous=FULL` in WAL mode, so it survives a crash or power loss
//! once acknowledged. One process owns the file: its delivery claims need no other
//! instance's consent, and whatever a crash left claimed is released at open.

mod bots;
mod checkpoint;
mod credentials;
mod demo;
mod private_files;
mod queue;
mod schema;
mod submissions;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;

use super::{
    CredentialKind, CredentialLock, DeliveryOutcome, DemoCustomer, Inserted, NewSubmission,
    QueueCounts, QueuedDelivery, SealedCredential, StorageError, Store, SubmissionId,
    SubmissionSummary,
};

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
    connection: Arc<Mutex<Connection>>,
    /// New submissions go through one writer that commits them in batches.
    writer: writer::SubmissionWriter,
    /// Stops when the store is dropped.
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder, and brings the schema
    /// up to date. Blocks: call it off the async workers. The folder it creates and the
    /// files are readable by this user only (see [`private_files`]).
    pub fn open(path: &Path) -> Result<Self, StorageError> {
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
        let connection = Arc::new(Mutex::new(connection));
        Ok(Self {
            writer: writer::SubmissionWriter::start(Arc::clone(&connection))?,
            connection,
            _checkpointer: checkpointer,
        })
    }

    /// Runs `work` on the connection on a blocking thread, off the async workers.
    async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
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
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StorageError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn insert_submission(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        self.writer.insert(submission).await
    }

    async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        self.run(submissions::queue_counts).await
    }

    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError> {
        self.run(move |c| submissions::recent(c, limit)).await
    }

    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| submissions::erase_delivered_before(c, cutoff_ms))
            .await
    }

    async fn retry_failed(&self) -> Result<usize, StorageError> {
        self.run(submissions::retry_failed).await
    }

    async fn claim_due(
        &self,
        instance: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError> {
        let instance = instance.to_owned();
        self.run(move |c| queue::claim_due(c, &instance, limit, lease))
            .await
    }

    async fn heartbeat(
        &self,
        instance: &str,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError> {
        let (instance, running) = (instance.to_owned(), running.to_vec());
        self.run(move |c| queue::heartbeat(c, &instance, lease, &running))
            .await
    }

    async fn claim_left(
        &self,
        instance: &str,
        id: &SubmissionId,
    ) -> Result<Option<Duration>, StorageError> {
        let (instance, id) = (instance.to_owned(), id.clone());
        self.run(move |c| queue::claim_left(c, &instance, &id))
            .await
    }

    async fn leave(&self, instance: &str, running: &[SubmissionId]) -> Result<(), StorageError> {
        let (instance, running) = (instance.to_owned(), running.to_vec());
        self.run(move |c| queue::leave(c, &instance, &running))
            .await
    }

    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<(), StorageError> {
        let (id, customer_id) = (id.clone(), customer_id.to_owned());
        self.run(move |c| queue::mark_delivered(c, &id, &customer_id, outcome))
            .await
    }

    async fn mark_failed(
        &self,
        instance: &str,
        id: &SubmissionId,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (instance, id, reason) = (instance.to_owned(), id.clone(), reason.to_owned());
        self.run(move |c| queue::mark_failed(c, &instance, &id, &reason))
            .await
    }

    async fn reschedule(
        &self,
        instance: &str,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (instance, id, reason) = (instance.to_owned(), id.clone(), reason.to_owned());
        self.run(move |c| queue::reschedule(c, &instance, &id, next_attempt_at_ms, &reason))
            .await
    }

    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        self.run(queue::next_due_at_ms).await
    }

    async fn make_all_due(&self) -> Result<usize, StorageError> {
        self.run(queue::make_all_due).await
    }

    async fn load_credential(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError> {
        self.run(move |c| credentials::load(c, kind)).await
    }

    async fn save_credential(&self, credential: SealedCredential) -> Result<(), StorageError> {
        self.run(move |c| credentials::save(c, &credential)).await
    }

    async fn lock_credential(&self, _wait: Duration) -> Result<CredentialLock, StorageError> {
        // One process owns the file; the credential's own mutex keeps its refreshes apart.
        Ok(CredentialLock::within_process())
    }

    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError> {
        self.run(move |c| bots::add(c, reason, count)).await
    }

    async fn admin_session_generation(&self) -> Result<u64, StorageError> {
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

    async fn end_admin_sessions(&self) -> Result<u64, StorageError> {
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

    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        self.run(bots::counts).await
    }

    async fn demo_customers_with_email(
        &self,
        email: &str,
    ) -> Result<Vec<DemoCustomer>, StorageError> {
        let email = email.to_owned();
        self.run(move |c| demo::with_email(c, &email)).await
    }

    async fn add_demo_customer(&self, customer: DemoCustomer) -> Result<(), StorageError> {
        self.run(move |c| demo::add(c, &customer)).await
    }

    async fn add_demo_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError> {
        let (id, phone) = (id.to_owned(), phone.to_owned());
        self.run(move |c| demo::add_phone(c, &id, &phone)).await
    }

    async fn set_empty_demo_note(&self, id: &str, note: &str) -> Result<bool, StorageError> {
        let (id, note) = (id.to_owned(), note.to_owned());
        self.run(move |c| demo::set_empty_note(c, &id, &note)).await
    }

    async fn set_demo_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError> {
        let values = (
            id.to_owned(),
            first_name.map(str::to_owned),
            last_name.map(str::to_owned),
        );
        self.run(move |c| demo::set_names(c, &values.0, values.1.as_deref(), values.2.as_deref()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nested/folder/test.db")).unwrap();
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
        let _store = SqliteStore::open(&path).unwrap();

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
