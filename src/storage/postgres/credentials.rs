//! The credential vault: see [`crate::clover::vault`].

use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Client;

use super::{CONNECTION_WAIT, CREDENTIAL_LOCK, PostgresStore};
use crate::clover::vault::{
    CredentialKind, CredentialLock, CredentialVault, HeldLock, SealedCredential,
};
use crate::storage::{StorageError, now_ms};

/// How long the session holding the credential lock has to show it is still there.
const LOCK_CHECK_WAIT: Duration = Duration::from_secs(2);

#[async_trait]
impl CredentialVault for PostgresStore {
    async fn load_sealed(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError> {
        load(&*self.client().await?, kind).await
    }

    async fn save_sealed(&self, credential: SealedCredential) -> Result<(), StorageError> {
        save(&*self.client().await?, &credential).await
    }

    async fn lock(&self, wait: Duration) -> Result<CredentialLock, StorageError> {
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
}

/// A connection of its own holding the credential lock: if this process dies, PostgreSQL
/// closes the session and the lock goes with it, so no instance waits on a dead one.
/// Dropping it ends the session, which releases the lock.
struct CredentialSession {
    client: tokio_postgres::Client,
}

#[async_trait]
impl HeldLock for CredentialSession {
    async fn still_held(&self) -> bool {
        // A session that ended (a network failure, a database restart) took the lock with
        // it, and one that does not answer may have: another instance may be refreshing.
        !self.client.is_closed()
            && tokio::time::timeout(LOCK_CHECK_WAIT, self.client.simple_query("SELECT 1"))
                .await
                .is_ok_and(|answer| answer.is_ok())
    }
}

pub(super) async fn load(
    client: &Client,
    kind: CredentialKind,
) -> Result<Option<SealedCredential>, StorageError> {
    let row = client
        .query_opt(
            "SELECT merchant_id, access_token, access_expires_at, refresh_token,
                    refresh_expires_at, previous_refresh_token, last_refresh_at,
                    needs_authorization, replaces_env_digest, recovery_pending
             FROM clover_credentials WHERE id = 1 AND kind = $1",
            &[&kind.as_str()],
        )
        .await?;
    Ok(row.map(|r| SealedCredential {
        kind,
        merchant_id: r.get(0),
        access_token: r.get(1),
        access_expires_at: r.get(2),
        refresh_token: r.get(3),
        refresh_expires_at: r.get(4),
        previous_refresh_token: r.get(5),
        last_refresh_at: r.get(6),
        needs_authorization: r.get(7),
        replaces_env_digest: r.get(8),
        recovery_pending: r.get(9),
    }))
}

async fn save(client: &Client, c: &SealedCredential) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO clover_credentials (id, kind, merchant_id, access_token,
                 access_expires_at, refresh_token, refresh_expires_at,
                 previous_refresh_token, last_refresh_at, needs_authorization,
                 replaces_env_digest, recovery_pending, updated_at)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET kind = $1, merchant_id = $2, access_token = $3,
                 access_expires_at = $4, refresh_token = $5, refresh_expires_at = $6,
                 previous_refresh_token = $7, last_refresh_at = $8,
                 needs_authorization = $9, replaces_env_digest = $10,
                 recovery_pending = $11, updated_at = $12",
            &[
                &c.kind.as_str(),
                &c.merchant_id,
                &c.access_token,
                &c.access_expires_at,
                &c.refresh_token,
                &c.refresh_expires_at,
                &c.previous_refresh_token,
                &c.last_refresh_at,
                &c.needs_authorization,
                &c.replaces_env_digest,
                &c.recovery_pending,
                &now_ms(),
            ],
        )
        .await?;
    Ok(())
}
