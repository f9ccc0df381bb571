//! The store in a PostgreSQL database that several instances of the service share.
//!
//! What changes with more than one instance: a queued submission is claimed by one
//! instance at a time (`FOR UPDATE SKIP LOCKED`, with a lease that runs out if its holder
//! dies), and the OAuth pair is refreshed by one instance at a time under a session
//! advisory lock. Times are the application's clock, as with SQLite; the machines of one
//! deployment keep theirs synchronised, and leases are long beside any drift.

//!
//! Each port has its file: `submissions` (the intake's), `queue`, `credentials`, `admin`
//! and `demo`, each the twin of the same file in `sqlite`, as is `writer`, which commits
//! the new submissions that arrive together in one statement.

mod admin;
mod alerts;
mod consent;
mod credentials;
mod demo;
mod events;
mod kiosks;
mod mail;
mod queue;
mod schema;
mod submissions;
mod turn;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{PostgresUrl, StorageError};
use crate::clover::vault::CredentialKind;

/// Connections per instance. Form traffic needs few; PostgreSQL's own limit (often 100)
/// is shared by every instance.
const POOL_SIZE: usize = 10;
/// How long a query waits for a free connection, or for a new one to open.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);
/// Advisory lock keys, per database.
const CLAIM_LOCK: i64 = 0x636c_6f76_6572_0002;
const CREDENTIAL_LOCK: i64 = 0x636c_6f76_6572_0003;

pub(super) struct PostgresStore {
    /// The name of this instance in delivery claims.
    pub(super) instance: Arc<str>,
    pool: Pool,
    /// Stores new submissions, several in one commit when they arrive together.
    writer: writer::SubmissionWriter,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl PostgresStore {
    /// Connects, checks the database answers and brings the schema up to date.
    pub async fn open(url: &PostgresUrl, instance: Arc<str>) -> Result<Self, StorageError> {
        let config = url.config();
        let tls = tls_connector();
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_WAIT))
            .create_timeout(Some(CONNECTION_WAIT))
            .recycle_timeout(Some(CONNECTION_WAIT))
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(SESSION_LIMITS)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|error| StorageError::Connection(error.to_string()))?;
        let mut client = pool.get().await?;
        schema::migrate(&mut client, SESSION_LIMITS).await?;
        Ok(Self {
            instance,
            writer: writer::SubmissionWriter::start(&pool),
            pool,
            config,
            tls,
        })
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        Ok(self.pool.get().await?)
    }
}

/// Bounds on the pool's sessions, set when each opens (with `SET`, which poolers in
/// session mode pass on, where a startup parameter may be refused). An instance that
/// stops answering in the middle of a claim (a paused machine, a half-open connection)
/// must not hold the claim lock, and with it every other instance's deliveries, for
/// longer than this. The session holding the credential lock is not one of them.
const SESSION_LIMITS: &str = "SET statement_timeout = 15000; SET lock_timeout = 10000; \
                              SET idle_in_transaction_session_timeout = 30000";

/// See [`crate::storage::inspection`]: one connection of its own, reading only, given up
/// after the pool's own wait rather than hanging on an address that never answers.
pub(super) async fn inspect(
    url: &PostgresUrl,
) -> Result<crate::storage::inspection::Found, StorageError> {
    let config = url.config();
    let connecting = config.connect(tls_connector());
    let (client, connection) = tokio::time::timeout(CONNECTION_WAIT, connecting)
        .await
        .map_err(|_| {
            StorageError::Connection(format!("no answer within {} s", CONNECTION_WAIT.as_secs()))
        })??;
    let connection = tokio::spawn(connection);
    let known = schema::latest_version();
    let found = schema::found_version(&client).await?;
    let result = if found < known {
        (found, known, None, None)
    } else {
        let api_token = credentials::load(&client, CredentialKind::ApiToken).await?;
        let oauth = credentials::load(&client, CredentialKind::OAuth).await?;
        (found, known, api_token, oauth)
    };
    drop(client);
    let _ = connection.await;
    Ok(result)
}

/// TLS when the URL's `sslmode` asks for it (`prefer`, the default, or `require`), with
/// the server's certificate checked against the public web roots.
fn tls_connector() -> MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    MakeRustlsConnect::new(config)
}
