use rusqlite::{OptionalExtension, params};
use secrecy::SecretString;

use super::{Database, SecretCipher, StorageError, now_ms};

/// Which credential a stored row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An OAuth v2 access/refresh pair.
    OAuth,
    /// A merchant API token entered on the admin page.
    ApiToken,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ApiToken => "api_token",
        }
    }
}

/// The merchant's Clover credential as kept in the database. Tokens are encrypted at rest;
/// in memory they stay `SecretString`s. Times are Unix seconds, as Clover sends them.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub kind: CredentialKind,
    pub merchant_id: String,
    pub access_token: SecretString,
    pub access_expires_at: Option<i64>,
    pub refresh_token: Option<SecretString>,
    pub refresh_expires_at: Option<i64>,
    /// The refresh token spent to obtain the current pair, kept for diagnosis.
    pub previous_refresh_token: Option<SecretString>,
    pub last_refresh_at: Option<i64>,
    /// Why the merchant must connect again, when Clover refused the pair for good.
    pub needs_authorization: Option<String>,
    /// For an API token entered on the admin page: a digest of the environment's token
    /// at that moment (see [`env_token_digest`]).
    pub replaces_env_digest: Option<String>,
    /// A refresh with the current refresh token got no answer: it may have been carried
    /// out, so the token may only go to `/oauth/v2/recovery`, never to refresh again.
    pub recovery_pending: bool,
}

/// A digest of the environment's API token (or of its absence), to tell later whether the
/// operator has changed it since a token was entered on the admin page.
pub fn env_token_digest(token: Option<&SecretString>) -> String {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let token: &str = token.map(|t| t.expose_secret()).unwrap_or("");
    hex::encode(Sha256::digest(
        format!("clover-signup env token:{token}").as_bytes(),
    ))
}

/// The columns' names double as the purpose each value is encrypted for.
const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";
const PREVIOUS: &str = "previous_refresh_token";

impl Database {
    /// The stored credential of `kind`, if there is one.
    pub async fn load_credential(
        &self,
        kind: CredentialKind,
        cipher: &SecretCipher,
    ) -> Result<Option<StoredCredential>, StorageError> {
        type Row = (
            String,
            Vec<u8>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<String>,
            Option<String>,
            bool,
        );
        let row: Option<Row> = self
            .run(move |connection| {
                connection
                    .query_row(
                        "SELECT merchant_id, access_token, access_expires_at, refresh_token,
                                refresh_expires_at, previous_refresh_token, last_refresh_at,
                                needs_authorization, replaces_env_digest, recovery_pending
                         FROM clover_credentials WHERE id = 1 AND kind = ?1",
                        [kind.as_str()],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                                r.get(7)?,
                                r.get(8)?,
                                r.get(9)?,
                            ))
                        },
                    )
                    .optional()
            })
            .await?;
        let Some((
            merchant_id,
            access,
            access_exp,
            refresh,
            refresh_exp,
            previous,
            last,
            needs,
            replaces_env_digest,
            recovery_pending,
        )) = row
        else {
            return Ok(None);
        };
        let open = |purpose: &str, sealed: Option<Vec<u8>>| {
            sealed
                .map(|bytes| cipher.open(purpose, &bytes))
                .transpose()
                .map_err(StorageError::Decrypt)
        };
        Ok(Some(StoredCredential {
            kind,
            merchant_id,
            access_token: cipher
                .open(ACCESS, &access)
                .map_err(StorageError::Decrypt)?,
            access_expires_at: access_exp,
            refresh_token: open(REFRESH, refresh)?,
            refresh_expires_at: refresh_exp,
            previous_refresh_token: open(PREVIOUS, previous)?,
            last_refresh_at: last,
            needs_authorization: needs,
            replaces_env_digest,
            recovery_pending,
        }))
    }

    /// Replaces the stored credential. Committed (fsynced) before this returns, so a pair
    /// Clover just rotated is never only in memory.
    pub async fn save_credential(
        &self,
        credential: &StoredCredential,
        cipher: &SecretCipher,
    ) -> Result<(), StorageError> {
        let seal = |purpose: &str, secret: &Option<SecretString>| {
            secret.as_ref().map(|s| cipher.seal(purpose, s))
        };
        let values = (
            credential.kind.as_str(),
            credential.merchant_id.clone(),
            cipher.seal(ACCESS, &credential.access_token),
            credential.access_expires_at,
            seal(REFRESH, &credential.refresh_token),
            credential.refresh_expires_at,
            seal(PREVIOUS, &credential.previous_refresh_token),
            credential.last_refresh_at,
            credential.needs_authorization.clone(),
            credential.replaces_env_digest.clone(),
            credential.recovery_pending,
        );
        self.run(move |connection| {
            connection.execute(
                "INSERT INTO clover_credentials (id, kind, merchant_id, access_token,
                     access_expires_at, refresh_token, refresh_expires_at,
                     previous_refresh_token, last_refresh_at, needs_authorization,
                     replaces_env_digest, recovery_pending, updated_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?12, ?10)
                 ON CONFLICT (id) DO UPDATE SET kind = ?1, merchant_id = ?2, access_token = ?3,
                     access_expires_at = ?4, refresh_token = ?5, refresh_expires_at = ?6,
                     previous_refresh_token = ?7, last_refresh_at = ?8,
                     needs_authorization = ?9, replaces_env_digest = ?11,
                     recovery_pending = ?12, updated_at = ?10",
                params![
                    values.0,
                    values.1,
                    values.2,
                    values.3,
                    values.4,
                    values.5,
                    values.6,
                    values.7,
                    values.8,
                    now_ms(),
                    values.9,
                    values.10,
                ],
            )?;
            Ok(())
        })
        .await
    }
}
