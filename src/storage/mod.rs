//! Where submissions, their delivery queue, the Clover credential and the admin page's
//! counts live. The interfaces belong to the code that uses them (the intake's
//! [`SubmissionStore`], the delivery [`Queue`], the [`CredentialVault`], the admin's
//! [`Statistics`] and [`AdminSessions`], the demo stand-in's [`DemoCustomers`]); this
//! module implements each of them twice, side by side: [`sqlite`] keeps everything in one
//! file for one machine (the default) and [`postgres`] in a database several instances of
//! the service share. The SQL stays here, beside the schema it reads, and each port's
//! file in `sqlite/` has its twin in `postgres/`. Every write a visitor is told about is
//! durable before they are told.

mod cipher;
pub mod inspection;
mod location;
mod migrations;
mod postgres;
mod records;
mod sqlite;

use std::sync::Arc;

pub use cipher::{DecryptError, SecretCipher};
pub use location::{DatabaseLocation, PostgresUrl};
pub use records::{SignupDetails, SubmissionId};

use crate::admin::{AdminSessions, Statistics};
use crate::alerts::AlertLedger;
use crate::alerts::digest::DigestLedger;
use crate::clover::DemoCustomers;
use crate::clover::vault::CredentialVault;
use crate::consent::ConsentLedger;
use crate::delivery::Queue;
use crate::events::EventOutbox;
use crate::intake::store::SubmissionStore;
use crate::kiosk::KioskDevices;
use crate::mail::MailOutbox;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(String),
    #[error("no database connection: {0}")]
    Connection(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot make {path} readable by this user only ({source}): it holds visitors' \
         personal data; run the service as the file's owner, or chmod 600 it"
    )]
    Permissions {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migration(String),
    #[error("a database task stopped unexpectedly")]
    TaskFailed,
    #[error("the commit of a batch of submissions failed: {0}")]
    Commit(String),
    #[error(transparent)]
    Decrypt(DecryptError),
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        // The server's message and code say what went wrong; its DETAIL is left out, as
        // it can quote a row ("Failing row contains ..."), a visitor's email among it.
        let text = match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => match std::error::Error::source(&error) {
                Some(cause) => format!("{error}: {cause}"),
                None => error.to_string(),
            },
        };
        Self::Postgres(text)
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => Self::Connection(other.to_string()),
        }
    }
}

/// The open database, cheap to clone: hands out the ports each part of the service owns
/// (the intake's submissions, the delivery queue, the credential vault, the admin's
/// statistics and sessions, the demo stand-in's customers), all backed by one connection
/// (SQLite) or one pool (PostgreSQL).
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<sqlite::SqliteStore>),
    Postgres(Arc<postgres::PostgresStore>),
}

/// Hands out one port of the open store, whichever database backs it.
macro_rules! port {
    ($storage:expr) => {
        match &$storage.backend {
            Backend::Sqlite(store) => Arc::clone(store) as _,
            Backend::Postgres(store) => Arc::clone(store) as _,
        }
    };
}

impl Storage {
    /// Opens the database `location` names, creating and migrating it as needed. Each
    /// opening is one instance of the service as far as delivery claims go: it gets a
    /// random name, so a restarted process never mistakes the claims of the one before
    /// it for its own.
    pub async fn open(location: &DatabaseLocation) -> Result<Self, StorageError> {
        let instance: Arc<str> = crate::domain::random_uuid().to_string().into();
        let backend = match location {
            DatabaseLocation::Sqlite(path) => {
                let path = path.clone();
                let store =
                    tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path, instance))
                        .await
                        .map_err(|_| StorageError::TaskFailed)??;
                Backend::Sqlite(Arc::new(store))
            }
            DatabaseLocation::Postgres(url) => Backend::Postgres(Arc::new(
                postgres::PostgresStore::open(url, instance).await?,
            )),
        };
        Ok(Self { backend })
    }

    /// The name of this instance in delivery claims and the instance count.
    pub fn instance(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(store) => &store.instance,
            Backend::Postgres(store) => &store.instance,
        }
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite(store) => store.ping().await,
            Backend::Postgres(store) => store.ping().await,
        }
    }

    pub fn submissions(&self) -> Arc<dyn SubmissionStore> {
        port!(self)
    }

    /// The delivery queue, claiming as this instance.
    pub fn queue(&self) -> Arc<dyn Queue> {
        port!(self)
    }

    pub fn credentials(&self) -> Arc<dyn CredentialVault> {
        port!(self)
    }

    pub fn statistics(&self) -> Arc<dyn Statistics> {
        port!(self)
    }

    pub fn admin_sessions(&self) -> Arc<dyn AdminSessions> {
        port!(self)
    }

    pub fn demo_customers(&self) -> Arc<dyn DemoCustomers> {
        port!(self)
    }

    pub fn alerts(&self) -> Arc<dyn AlertLedger> {
        port!(self)
    }

    pub fn events(&self) -> Arc<dyn EventOutbox> {
        port!(self)
    }

    pub fn digests(&self) -> Arc<dyn DigestLedger> {
        port!(self)
    }

    pub fn consent(&self) -> Arc<dyn ConsentLedger> {
        port!(self)
    }

    pub fn mail(&self) -> Arc<dyn MailOutbox> {
        port!(self)
    }

    pub fn kiosks(&self) -> Arc<dyn KioskDevices> {
        port!(self)
    }
}

/// A database migrated by a newer version (a rollback during a deploy) is used all the
/// same: migrations only add, with defaults, so this version can still work with it.
fn note_newer_schema(found: usize, known: usize) {
    if found > known {
        tracing::warn!(
            found,
            known,
            "the database was migrated by a newer version of the service"
        );
    }
}

/// Milliseconds since the Unix epoch, the unit every timestamp is stored in.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
