//! The store in a PostgreSQL database that several instances of the service share.
//!
//! What changes with more than one instance: a queued submission is claimed by one
//! instance at a time (`FOR UPDATE SKIP LOCKED`, with a lease that runs out if its holder
//! dies), and the OAuth pair is refreshed by one instance at a time under a session
//! advisory lock. Times are the application's clock, as with SQLite; the machines of one
//! deployment keep theirs synchronised, and leases are long beside any drift.

mod credentials;
mod demo;
mod queue;
mod schema;
mod submissions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    CredentialKind, CredentialLock, DeliveryOutcome, DemoCustomer, Inserted, NewSubmission,
    PostgresUrl, QueueCounts, QueuedDelivery, SealedCredential, StorageError, Store, SubmissionId,
    SubmissionSummary,
};

/// Connections per instance. Form traffic needs few; PostgreSQL's own limit (often 100)
/// is shared by every instance.
const POOL_SIZE: usize = 10;
/// How long a query waits for a free connection, or for a new one to open.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);
/// How long the session holding the credential lock has to show it is still there.
const LOCK_CHECK_WAIT: Duration = Duration::from_secs(2);
/// Advisory lock keys, per database.
const CLAIM_LOCK: i64 = 0x636c_6f76_6572_0002;
const CREDENTIAL_LOCK: i64 = 0x636c_6f76_6572_0003;

pub(super) struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl PostgresStore {
    /// Connects, checks the database answers and brings the schema up to date.
    pub async fn open(url: &PostgresUrl) -> Result<Self, StorageError> {
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
        Ok(Self { pool, config, tls })
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

/// A connection of its own holding the credential lock: if this process dies, PostgreSQL
/// closes the session and the lock goes with it, so no instance waits on a dead one.
/// Dropping it ends the session, which releases the lock.
struct CredentialSession {
    client: tokio_postgres::Client,
}

#[async_trait]
impl crate::storage::credentials::HeldLock for CredentialSession {
    async fn still_held(&self) -> bool {
        // A session that ended (a network failure, a database restart) took the lock with
        // it, and one that does not answer may have: another instance may be refreshing.
        !self.client.is_closed()
            && tokio::time::timeout(LOCK_CHECK_WAIT, self.client.simple_query("SELECT 1"))
                .await
                .is_ok_and(|answer| answer.is_ok())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StorageError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn insert_submission(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        let mut client = self.client().await?;
        submissions::insert(&mut client, &submission).await
    }

    async fn queue_counts(&self) -> Result<QueueCounts, StorageError> {
        submissions::queue_counts(&*self.client().await?).await
    }

    async fn recent_submissions(&self, limit: u32) -> Result<Vec<SubmissionSummary>, StorageError> {
        submissions::recent(&*self.client().await?, limit).await
    }

    async fn erase_delivered_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        let client = self.client().await?;
        let demo_customers = demo::erase_before(&client, cutoff_ms).await?;
        let submissions = submissions::erase_delivered_before(&client, cutoff_ms).await?;
        Ok(demo_customers + submissions)
    }

    async fn retry_failed(&self) -> Result<usize, StorageError> {
        submissions::retry_failed(&*self.client().await?).await
    }

    async fn claim_due(
        &self,
        instance: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedDelivery>, StorageError> {
        queue::claim_due(&mut self.client().await?, instance, limit, lease).await
    }

    async fn heartbeat(
        &self,
        instance: &str,
        lease: Duration,
        running: &[SubmissionId],
    ) -> Result<usize, StorageError> {
        queue::heartbeat(&mut self.client().await?, instance, lease, running).await
    }

    async fn claim_left(
        &self,
        instance: &str,
        id: &SubmissionId,
    ) -> Result<Option<Duration>, StorageError> {
        queue::claim_left(&*self.client().await?, instance, id).await
    }

    async fn leave(&self, instance: &str, running: &[SubmissionId]) -> Result<(), StorageError> {
        queue::leave(&mut self.client().await?, instance, running).await
    }

    async fn mark_delivered(
        &self,
        id: &SubmissionId,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) -> Result<(), StorageError> {
        queue::mark_delivered(&mut self.client().await?, id, customer_id, outcome).await
    }

    async fn mark_failed(
        &self,
        instance: &str,
        id: &SubmissionId,
        reason: &str,
    ) -> Result<(), StorageError> {
        queue::mark_failed(&mut self.client().await?, instance, id, reason).await
    }

    async fn reschedule(
        &self,
        instance: &str,
        id: &SubmissionId,
        next_attempt_at_ms: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        queue::reschedule(&mut client, instance, id, next_attempt_at_ms, reason).await
    }

    async fn next_due_at_ms(&self) -> Result<Option<i64>, StorageError> {
        queue::next_due_at_ms(&*self.client().await?).await
    }

    async fn make_all_due(&self) -> Result<usize, StorageError> {
        queue::make_all_due(&*self.client().await?).await
    }

    async fn load_credential(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError> {
        credentials::load(&*self.client().await?, kind).await
    }

    async fn save_credential(&self, credential: SealedCredential) -> Result<(), StorageError> {
        credentials::save(&*self.client().await?, &credential).await
    }

    async fn lock_credential(&self, wait: Duration) -> Result<CredentialLock, StorageError> {
        let (client, connection) =
            tokio::time::timeout(CONNECTION_WAIT, self.config.connect(self.tls.clone()))
                .await
                .map_err(|_| StorageError::Connection("timed out connecting".to_owned()))??;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the session holding the credential lock ended");
            }
        });
        let session = CredentialSession { client };
        tokio::time::timeout(
            wait,
            session
                .client
                .execute("SELECT pg_advisory_lock($1)", &[&CREDENTIAL_LOCK]),
        )
        .await
        .map_err(|_| {
            StorageError::Connection(
                "another instance has been refreshing the Clover connection for too long"
                    .to_owned(),
            )
        })??;
        Ok(CredentialLock::holding(Box::new(session)))
    }

    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.client()
            .await?
            .execute(
                "INSERT INTO bot_counts (reason, count) VALUES ($1, $2)
                 ON CONFLICT (reason) DO UPDATE SET count = bot_counts.count + excluded.count",
                &[&reason, &count],
            )
            .await?;
        Ok(())
    }

    async fn admin_session_generation(&self) -> Result<u64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one("SELECT generation FROM admin_sessions WHERE id = 1", &[])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn end_admin_sessions(&self) -> Result<u64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one(
                "UPDATE admin_sessions SET generation = generation + 1 WHERE id = 1
                 RETURNING generation",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn bot_counts(&self) -> Result<BTreeMap<String, u64>, StorageError> {
        let rows = self
            .client()
            .await?
            .query("SELECT reason, count FROM bot_counts", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let count: i64 = row.get(1);
                (row.get(0), u64::try_from(count).unwrap_or(0))
            })
            .collect())
    }

    async fn demo_customers_with_email(
        &self,
        email: &str,
    ) -> Result<Vec<DemoCustomer>, StorageError> {
        demo::with_email(&*self.client().await?, email).await
    }

    async fn add_demo_customer(&self, customer: DemoCustomer) -> Result<(), StorageError> {
        demo::add(&*self.client().await?, &customer).await
    }

    async fn add_demo_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError> {
        demo::add_phone(&*self.client().await?, id, phone).await
    }

    async fn set_empty_demo_note(&self, id: &str, note: &str) -> Result<bool, StorageError> {
        demo::set_empty_note(&*self.client().await?, id, note).await
    }

    async fn set_demo_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError> {
        demo::set_names(&*self.client().await?, id, first_name, last_name).await
    }
}
