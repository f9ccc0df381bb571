//! The credential vault: where the merchant's Clover credential is kept, encrypted before
//! it reaches the database and opened after. [`CredentialVault`] is implemented for SQLite
//! and PostgreSQL in `storage`; the contract tests are `tests/storage/credentials.rs`.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{SecretSlice, SecretString};

use crate::clover::{Access, MerchantId};
use crate::storage::{SecretCipher, StorageError};

/// The stored credential rows, sealed, and the lock that keeps refreshes of the OAuth
/// pair to one instance at a time. The methods on `dyn CredentialVault` seal and open.
#[async_trait]
pub trait CredentialVault: Send + Sync {
    async fn load_sealed(
        &self,
        kind: CredentialKind,
    ) -> Result<Option<SealedCredential>, StorageError>;
    /// Replaces the stored credential of its kind; durable once this returns.
    async fn save_sealed(&self, credential: SealedCredential) -> Result<(), StorageError>;
    /// Waits (up to `wait`) until no other instance is refreshing the OAuth pair, and
    /// keeps them out until the lock is dropped. Read the stored pair again once it is
    /// held.
    async fn lock(&self, wait: Duration) -> Result<CredentialLock, StorageError>;
}

/// Which credential a stored row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An OAuth v2 access/refresh pair.
    OAuth,
    /// A merchant API token entered on the admin page.
    ApiToken,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OAuth => "oauth",
            Self::ApiToken => "api_token",
        }
    }
}

/// The merchant's Clover credential as kept in the database: one row, of one of two kinds.
/// Tokens are encrypted at rest; in memory they stay `SecretString`s.
#[derive(Debug, Clone)]
pub enum StoredCredential {
    ApiToken(EnteredToken),
    OAuth(OAuthPair),
}

/// A merchant API token entered on the admin page.
#[derive(Debug, Clone)]
pub struct EnteredToken {
    pub merchant_id: String,
    pub token: SecretString,
    /// A digest of the environment's token at that moment (see [`env_token_digest`]): a
    /// token set in the environment later wins again. Absent in rows stored before the
    /// digest was kept.
    pub replaces_env_digest: Option<String>,
}

/// An OAuth v2 access/refresh pair. Times are Unix seconds, as Clover sends them.
#[derive(Debug, Clone)]
pub struct OAuthPair {
    pub merchant_id: String,
    pub access_token: SecretString,
    pub access_expires_at: Option<i64>,
    pub refresh_token: Option<SecretString>,
    pub refresh_expires_at: Option<i64>,
    /// The refresh token spent to obtain this pair, kept for diagnosis.
    pub previous_refresh_token: Option<SecretString>,
    pub last_refresh_at: Option<i64>,
    /// Why the merchant must connect again, when Clover refused the pair for good.
    pub needs_authorization: Option<String>,
    /// The current refresh token may already have been spent (a refresh got no answer, or
    /// its holder stopped mid-way): it may only go to `/oauth/v2/recovery`, never to
    /// refresh again.
    pub recovery_pending: bool,
}

impl EnteredToken {
    /// Whether it still applies: it was entered over the token the environment has now
    /// (`env_digest`, see [`env_token_digest`]), and not replaced there since.
    pub fn applies_over(&self, env_digest: &str) -> bool {
        self.replaces_env_digest.as_deref() == Some(env_digest)
    }

    /// What to send Clover with it; `None` when the stored merchant id is unreadable.
    pub fn access(self) -> Option<Access> {
        Some(Access {
            merchant_id: MerchantId::parse(&self.merchant_id).ok()?,
            token: self.token,
        })
    }
}

/// A [`StoredCredential`] with its tokens sealed: the row the stores read and write.
/// Columns that the credential's kind does not have are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredential {
    pub kind: CredentialKind,
    pub merchant_id: String,
    pub access_token: Vec<u8>,
    pub access_expires_at: Option<i64>,
    pub refresh_token: Option<Vec<u8>>,
    pub refresh_expires_at: Option<i64>,
    pub previous_refresh_token: Option<Vec<u8>>,
    pub last_refresh_at: Option<i64>,
    pub needs_authorization: Option<String>,
    pub replaces_env_digest: Option<String>,
    pub recovery_pending: bool,
}

/// A digest of the environment's API token (or of its absence), to tell later whether the
/// operator has changed it since a token was entered on the admin page. An HMAC under a
/// key derived from `SECRET_KEY`, so that a copy of the database cannot confirm a
/// guessed token offline, as a bare hash would let it.
///
/// The absence of a token has nothing to guess, so its digest stays the plain one earlier
/// versions stored: a token entered on the admin page of a deployment whose environment
/// has none keeps applying after an upgrade. One entered over a token in the environment
/// was stored with the bare hash of that token, which no longer matches: after the
/// upgrade the environment's token applies again (as when the operator changes it), and
/// the merchant enters theirs again if it is still wanted.
pub fn env_token_digest(secret_key: &SecretSlice<u8>, token: Option<&SecretString>) -> String {
    use hmac::{Hmac, Mac};
    use secrecy::ExposeSecret;
    use sha2::Sha256;
    let Some(token) = token else {
        return env_token_digest_of_none();
    };
    // A key of its own, apart from SECRET_KEY's other uses (sessions, encryption).
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret_key.expose_secret())
        .expect("HMAC takes any key");
    derive.update(b"clover-signup env token digest v1");
    let key = derive.finalize().into_bytes();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(token.expose_secret().as_bytes());
    format!("hmac1:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The digest of "no token in the environment", as every version has stored it.
fn env_token_digest_of_none() -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b"clover-signup env token:"))
}

/// The bare hash earlier versions stored for an environment token: only to upgrade a
/// stored record to [`env_token_digest`] (see `upgrade_env_digest`).
fn legacy_env_token_digest(token: &SecretString) -> String {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        format!("clover-signup env token:{}", token.expose_secret()).as_bytes(),
    ))
}

/// Stands where a bare hash of a token no longer in the environment was: it matches no
/// digest, and confirms nothing to whoever copies the database.
const SUPERSEDED_DIGEST: &str = "superseded";

/// The columns' names double as the purpose each value is encrypted for.
const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";
const PREVIOUS: &str = "previous_refresh_token";

/// Held while this instance may refresh the OAuth pair; dropping it lets the next one in.
/// With SQLite one process owns the file and its own lock suffices, so this is empty;
/// with PostgreSQL it holds a session lock that every instance of the service respects.
pub struct CredentialLock {
    held: Option<Box<dyn HeldLock>>,
}

/// A lock shared with other instances, which can be lost with its connection.
#[async_trait::async_trait]
pub trait HeldLock: Send + Sync {
    async fn still_held(&self) -> bool;
}

impl CredentialLock {
    pub fn within_process() -> Self {
        Self { held: None }
    }

    pub fn holding(lock: Box<dyn HeldLock>) -> Self {
        Self { held: Some(lock) }
    }

    /// False once the lock was lost (its database session ended or stopped answering):
    /// another instance may hold it now, so spending or storing a token would race with
    /// it.
    pub async fn still_held(&self) -> bool {
        match &self.held {
            None => true,
            Some(lock) => lock.still_held().await,
        }
    }
}

impl dyn CredentialVault {
    /// Rewrites the bare hash an earlier version stored for the environment's token: as
    /// today's keyed digest when it is this token's (the token entered on the admin page
    /// over it keeps applying), else as a value that matches nothing (it was entered
    /// over a token the environment no longer has, so it could never apply again). Either
    /// way a copy of the database no longer confirms a guessed token.
    pub async fn upgrade_env_digest(
        &self,
        cipher: &SecretCipher,
        env_token: Option<&SecretString>,
        env_digest: &str,
    ) -> Result<(), StorageError> {
        let Some(mut stored) = self.load_token(cipher).await? else {
            return Ok(());
        };
        let Some(digest) = stored.replaces_env_digest.as_deref() else {
            return Ok(());
        };
        let bare_hash = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
        let no_token = env_token_digest_of_none();
        if !bare_hash || digest == no_token {
            return Ok(());
        }
        let upgraded = match env_token {
            Some(token) if digest == legacy_env_token_digest(token) => env_digest.to_owned(),
            _ => SUPERSEDED_DIGEST.to_owned(),
        };
        stored.replaces_env_digest = Some(upgraded);
        self.save_token(&stored, cipher).await
    }

    /// The API token entered on the admin page, if there is one.
    pub async fn load_token(
        &self,
        cipher: &SecretCipher,
    ) -> Result<Option<EnteredToken>, StorageError> {
        Ok(match self.load(CredentialKind::ApiToken, cipher).await? {
            Some(StoredCredential::ApiToken(token)) => Some(token),
            _ => None,
        })
    }

    /// The OAuth pair, if the merchant has connected.
    pub async fn load_pair(
        &self,
        cipher: &SecretCipher,
    ) -> Result<Option<OAuthPair>, StorageError> {
        Ok(match self.load(CredentialKind::OAuth, cipher).await? {
            Some(StoredCredential::OAuth(pair)) => Some(pair),
            _ => None,
        })
    }

    async fn load(
        &self,
        kind: CredentialKind,
        cipher: &SecretCipher,
    ) -> Result<Option<StoredCredential>, StorageError> {
        match self.load_sealed(kind).await? {
            Some(sealed) => unseal(sealed, cipher).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces the stored credential with this token. Committed (made durable) before
    /// this returns.
    pub async fn save_token(
        &self,
        entered: &EnteredToken,
        cipher: &SecretCipher,
    ) -> Result<(), StorageError> {
        self.save_sealed(SealedCredential {
            kind: CredentialKind::ApiToken,
            merchant_id: entered.merchant_id.clone(),
            access_token: cipher.seal(ACCESS, &entered.token),
            access_expires_at: None,
            refresh_token: None,
            refresh_expires_at: None,
            previous_refresh_token: None,
            last_refresh_at: None,
            needs_authorization: None,
            replaces_env_digest: entered.replaces_env_digest.clone(),
            recovery_pending: false,
        })
        .await
    }

    /// Replaces the stored credential with this pair. Committed (made durable) before this
    /// returns, so a pair Clover just rotated is never only in memory.
    pub async fn save_pair(
        &self,
        pair: &OAuthPair,
        cipher: &SecretCipher,
    ) -> Result<(), StorageError> {
        let seal = |purpose: &str, secret: &Option<SecretString>| {
            secret.as_ref().map(|s| cipher.seal(purpose, s))
        };
        self.save_sealed(SealedCredential {
            kind: CredentialKind::OAuth,
            merchant_id: pair.merchant_id.clone(),
            access_token: cipher.seal(ACCESS, &pair.access_token),
            access_expires_at: pair.access_expires_at,
            refresh_token: seal(REFRESH, &pair.refresh_token),
            refresh_expires_at: pair.refresh_expires_at,
            previous_refresh_token: seal(PREVIOUS, &pair.previous_refresh_token),
            last_refresh_at: pair.last_refresh_at,
            needs_authorization: pair.needs_authorization.clone(),
            replaces_env_digest: None,
            recovery_pending: pair.recovery_pending,
        })
        .await
    }
}

/// Opens a stored credential's secrets with the key they were sealed with.
pub fn unseal(
    sealed: SealedCredential,
    cipher: &SecretCipher,
) -> Result<StoredCredential, StorageError> {
    let kind = sealed.kind;
    let open = |purpose: &str, sealed: Option<Vec<u8>>| {
        sealed
            .map(|bytes| cipher.open(purpose, &bytes))
            .transpose()
            .map_err(StorageError::Decrypt)
    };
    let access_token = cipher
        .open(ACCESS, &sealed.access_token)
        .map_err(StorageError::Decrypt)?;
    Ok(match kind {
        CredentialKind::ApiToken => StoredCredential::ApiToken(EnteredToken {
            merchant_id: sealed.merchant_id,
            token: access_token,
            replaces_env_digest: sealed.replaces_env_digest,
        }),
        CredentialKind::OAuth => StoredCredential::OAuth(OAuthPair {
            merchant_id: sealed.merchant_id,
            access_token,
            access_expires_at: sealed.access_expires_at,
            refresh_token: open(REFRESH, sealed.refresh_token)?,
            refresh_expires_at: sealed.refresh_expires_at,
            previous_refresh_token: open(PREVIOUS, sealed.previous_refresh_token)?,
            last_refresh_at: sealed.last_refresh_at,
            needs_authorization: sealed.needs_authorization,
            recovery_pending: sealed.recovery_pending,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_token_digest_is_keyed_by_the_secret_key() {
        use sha2::{Digest, Sha256};
        let token = SecretString::from("the-environments-token");
        let key = SecretSlice::from(vec![1u8; 32]);
        let other_key = SecretSlice::from(vec![2u8; 32]);

        let digest = env_token_digest(&key, Some(&token));

        assert_eq!(digest, env_token_digest(&key, Some(&token)));
        assert_ne!(digest, env_token_digest(&other_key, Some(&token)));
        let other_token = SecretString::from("another-token");
        assert_ne!(digest, env_token_digest(&key, Some(&other_token)));
        // Not what a guess could be checked against without the key.
        let bare = hex::encode(Sha256::digest(
            b"clover-signup env token:the-environments-token",
        ));
        let plain = hex::encode(Sha256::digest(b"the-environments-token"));
        assert!(
            !digest.contains(&bare) && !digest.contains(&plain),
            "{digest}"
        );
    }

    #[test]
    fn the_digest_of_no_token_is_the_one_earlier_versions_stored() {
        use sha2::{Digest, Sha256};
        let earlier = hex::encode(Sha256::digest(b"clover-signup env token:"));
        for key in [vec![1u8; 32], vec![2u8; 32]] {
            assert_eq!(env_token_digest(&SecretSlice::from(key), None), earlier);
        }
    }
}
