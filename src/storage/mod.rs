//! The service's one SQLite file: submissions, their delivery queue and the demo
//! stand-in's customers. Every write that a visitor is told about is committed with
//! `synchronous=FULL` in WAL mode, so it survives a crash or power loss once acknowledged.

mod bots;
mod checkpoint;
mod cipher;
mod credentials;
mod queue;
mod schema;
mod submissions;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub use cipher::{DecryptError, SecretCipher};
pub use credentials::{CredentialKind, StoredCredential, env_token_digest};
pub use queue::QueuedDelivery;
pub use submissions::{
    DeliveryOutcome, Inserted, QueueCounts, SignupDetails, Source, SubmissionId, SubmissionState,
    SubmissionSummary,
};

/// How long a statement waits for a lock held by another connection (backups, the CLI).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("a database task stopped unexpectedly")]
    TaskFailed,
    #[error("the commit of a batch of submissions failed: {0}")]
    Commit(String),
    #[error(transparent)]
    Decrypt(DecryptError),
}

/// A handle to the database, cheap to clone. One connection serves the whole process:
/// SQLite allows one writer at a time anyway, and the traffic of a signup form is small.
#[derive(Clone)]
pub struct Database {
    connection: Arc<Mutex<Connection>>,
    /// New submissions go through one writer that commits them in batches.
    writer: writer::SubmissionWriter,
    /// Stops when the last handle is dropped.
    _checkpointer: Arc<checkpoint::Checkpointer>,
}

impl Database {
    /// Opens (creating if needed) the database file and its folder, and brings the schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StorageError::Folder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        let mut connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a submission we acknowledged must survive a power loss, not only a crash.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // Erased personal data is overwritten, not merely unlinked from the file.
        connection.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut connection)?;
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
            _checkpointer: Arc::new(checkpointer),
        })
    }

    /// Runs `work` on the connection on a blocking thread, off the async workers.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
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

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

/// Milliseconds since the Unix epoch, the unit every timestamp is stored in.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_database_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("nested/folder/test.db")).unwrap();

        let (journal, synchronous): (String, i64) = db
            .run(|c| {
                let journal = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let synchronous = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                Ok((journal, synchronous))
            })
            .await
            .unwrap();

        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "2 is FULL");
    }

    #[tokio::test]
    async fn signups_sent_together_are_each_stored_once_and_answered() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("test.db")).unwrap();
        let signup = |n: usize| {
            crate::domain::SignupForm {
                email: Some(format!("visitor{n}@example.com")),
                ..Default::default()
            }
            .parse(&crate::domain::FormRules {
                fields: vec![crate::domain::Field::Email],
                required: [crate::domain::Field::Email].into(),
            })
            .unwrap()
        };
        // Fifty at once end up in a few shared commits; the same key twice is stored once.
        let key = crate::domain::IdempotencyKey::parse("double-click-key").unwrap();
        let inserts = (0..50).map(|n| {
            let db = db.clone();
            let key = (n < 2).then(|| key.clone());
            let signup = signup(if n < 2 { 0 } else { n });
            tokio::spawn(async move {
                db.insert_submission(signup, Source::Form, "consent".into(), key)
                    .await
            })
        });
        let results = futures_util::future::join_all(inserts).await;

        let new = results
            .iter()
            .filter(|r| matches!(r.as_ref().unwrap().as_ref().unwrap(), Inserted::New(_)))
            .count();
        assert_eq!(new, 49);
        assert_eq!(db.queue_counts().await.unwrap().pending, 49);
    }

    #[tokio::test]
    async fn reopening_a_database_keeps_its_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let signup = crate::domain::SignupForm {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.com".into()),
            ..Default::default()
        }
        .parse(&crate::domain::FormRules::default())
        .unwrap();
        let db = Database::open(&path).unwrap();
        db.insert_submission(signup, Source::Form, "consent".into(), None)
            .await
            .unwrap();
        drop(db);

        let reopened = Database::open(&path).unwrap();

        assert_eq!(reopened.queue_counts().await.unwrap().pending, 1);
        assert_eq!(reopened.claim_due(10).await.unwrap().len(), 1);
    }
}
