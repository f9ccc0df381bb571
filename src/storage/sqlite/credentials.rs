//! The credential vault: see [`crate::clover::vault`].

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::clover::vault::{CredentialKind, CredentialLock, CredentialVault, SealedCredential};
use crate::storage::{StorageError, now_ms};

#[async_trait]
impl CredentialVault for SqliteStore {
    async fn load_sealed(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError> {
        self.run(move |c| load(c, kind)).await
    }

    async fn save_sealed(&self, credential: SealedCredential) -> Result<(), StorageError> {
        self.run(move |c| save(c, &credential)).await
    }

    async fn lock(&self, _wait: Duration) -> Result<CredentialLock, StorageError> {
        // One process owns the file; the credential's own mutex keeps its refreshes apart.
        Ok(CredentialLock::within_process())
    }
}

pub(super) fn load(
    connection: &mut Connection,
    kind: CredentialKind,
) -> rusqlite::Result<Option<SealedCredential>> {
    connection
        .query_row(
            "SELECT merchant_id, access_token, access_expires_at, refresh_token,
                    refresh_expires_at, previous_refresh_token, last_refresh_at,
                    needs_authorization, replaces_env_digest, recovery_pending
             FROM clover_credentials WHERE id = 1 AND kind = ?1",
            [kind.as_str()],
            |r| {
                Ok(SealedCredential {
                    kind,
                    merchant_id: r.get(0)?,
                    access_token: r.get(1)?,
                    access_expires_at: r.get(2)?,
                    refresh_token: r.get(3)?,
                    refresh_expires_at: r.get(4)?,
                    previous_refresh_token: r.get(5)?,
                    last_refresh_at: r.get(6)?,
                    needs_authorization: r.get(7)?,
                    replaces_env_digest: r.get(8)?,
                    recovery_pending: r.get(9)?,
                })
            },
        )
        .optional()
}

fn save(connection: &mut Connection, c: &SealedCredential) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO clover_credentials (id, kind, merchant_id, access_token,
             access_expires_at, refresh_token, refresh_expires_at,
             previous_refresh_token, last_refresh_at, needs_authorization,
             replaces_env_digest, recovery_pending, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET kind = ?1, merchant_id = ?2, access_token = ?3,
             access_expires_at = ?4, refresh_token = ?5, refresh_expires_at = ?6,
             previous_refresh_token = ?7, last_refresh_at = ?8,
             needs_authorization = ?9, replaces_env_digest = ?10,
             recovery_pending = ?11, updated_at = ?12",
        params![
            c.kind.as_str(),
            c.merchant_id,
            c.access_token,
            c.access_expires_at,
            c.refresh_token,
            c.refresh_expires_at,
            c.previous_refresh_token,
            c.last_refresh_at,
            c.needs_authorization,
            c.replaces_env_digest,
            c.recovery_pending,
            now_ms(),
        ],
    )?;
    Ok(())
}
