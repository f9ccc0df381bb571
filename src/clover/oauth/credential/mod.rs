//! The OAuth pair as a [`Credential`]: kept in the database (encrypted), refreshed before
//! it expires, one refresh at a time, and never spending a refresh token twice.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Mutex;

mod refresh;

use refresh::superseded;

use super::api::{OAuthApi, TokenError, TokenPair, pkce_pair};
use crate::clover::vault::{CredentialVault, OAuthPair};
use crate::clover::{
    Access, AuthSnapshot, AuthState, CloverError, Credential, MerchantId, UnauthorizedAction,
};
use crate::storage::SecretCipher;

/// How long a refresh waits for another instance's to finish: a refresh is one or two
/// requests to Clover, each with its own timeout, and a few seconds to store the result.
const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(60);
/// A new connection waits less: the merchant's browser is waiting for the page.
const CONNECT_LOCK_WAIT: Duration = Duration::from_secs(10);
/// Waits between tries at storing a pair, while the caller holds the lock.
const SAVE_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];
/// A reload storing an unsaved pair does not hold up anything waiting on it.
const RELOAD_LOCK_WAIT: Duration = Duration::from_secs(5);

/// Why a legacy token could not be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Clover(#[from] TokenError),
    #[error("the new pair could not be stored: {0}")]
    Storage(#[from] crate::storage::StorageError),
}

pub struct OAuthCredential {
    api: OAuthApi,
    vault: Arc<dyn CredentialVault>,
    cipher: SecretCipher,
    /// Refresh when the access token has less than this left.
    margin: Duration,
    /// The pair in use. Holding this lock *is* the single flight: whoever refreshes holds
    /// it across the call, and everyone after sees the new pair.
    current: Mutex<Option<OAuthPair>>,
    /// A copy of the state for the status page, readable without waiting on a refresh.
    snapshot: StdMutex<AuthSnapshot>,
}

impl OAuthCredential {
    /// Loads the stored pair, if the merchant has connected before.
    pub async fn load(
        api: OAuthApi,
        vault: Arc<dyn CredentialVault>,
        cipher: SecretCipher,
        margin: Duration,
    ) -> Result<Self, crate::storage::StorageError> {
        let stored = vault.load_pair(&cipher).await?;
        let credential = Self {
            api,
            vault,
            cipher,
            margin,
            snapshot: StdMutex::new(snapshot_of(stored.as_ref())),
            current: Mutex::new(stored),
        };
        Ok(credential)
    }

    pub fn api(&self) -> &OAuthApi {
        &self.api
    }

    /// The merchant currently connected and whether its connection needs the merchant.
    pub fn snapshot_for_launch(&self) -> Option<(String, bool)> {
        let snapshot = self.snapshot.lock().expect("snapshot lock");
        let merchant = snapshot.merchant_id.clone()?;
        Some((merchant, snapshot.state == AuthState::NeedsAuthorization))
    }

    /// Whether a connection exists (it may still need reauthorization).
    pub async fn is_connected(&self) -> bool {
        self.current.lock().await.is_some()
    }

    /// Stores a pair from a completed authorization (connect, launch or migration) and
    /// starts using it. Committed before it is used.
    pub async fn connect(
        &self,
        merchant_id: &MerchantId,
        pair: TokenPair,
    ) -> Result<(), crate::storage::StorageError> {
        let mut current = self.current.lock().await;
        // Not while another instance refreshes the old pair: its result would replace this.
        // A new authorization outranks the lock, though: were it dropped, the merchant
        // would have to connect again.
        let _refreshing = match self.vault.lock(CONNECT_LOCK_WAIT).await {
            Ok(lock) => Some(lock),
            Err(error) => {
                tracing::warn!(%error, "storing the new Clover connection without the lock");
                None
            }
        };
        let stored = stored_from(merchant_id.to_string(), pair, None);
        self.vault.save_pair(&stored, &self.cipher).await?;
        self.publish(Some(&stored));
        *current = Some(stored);
        Ok(())
    }

    /// Trades a legacy (v1, non-expiring) token for an expiring pair: migrate_v2 gives an
    /// authorization code, which is exchanged like the callback's.
    pub async fn migrate_legacy(
        &self,
        merchant_id: &MerchantId,
        legacy_token: &SecretString,
    ) -> Result<(), MigrateError> {
        let (verifier, challenge) = match self.api.app().app_secret {
            Some(_) => (None, None),
            None => {
                let (verifier, challenge) = pkce_pair();
                (Some(verifier), Some(challenge))
            }
        };
        let code = self
            .api
            .migrate(merchant_id, legacy_token, challenge.as_deref())
            .await?;
        let pair = self.api.exchange(&code, verifier.as_ref()).await?;
        self.connect(merchant_id, pair).await?;
        Ok(())
    }
}

fn stored_from(merchant_id: String, pair: TokenPair, previous: Option<SecretString>) -> OAuthPair {
    OAuthPair {
        merchant_id,
        access_token: pair.access_token,
        access_expires_at: Some(pair.access_expires_at),
        refresh_token: Some(pair.refresh_token),
        refresh_expires_at: Some(pair.refresh_expires_at),
        previous_refresh_token: previous,
        last_refresh_at: Some(OffsetDateTime::now_utc().unix_timestamp()),
        needs_authorization: None,
        recovery_pending: false,
    }
}

fn snapshot_of(stored: Option<&OAuthPair>) -> AuthSnapshot {
    let time =
        |seconds: Option<i64>| seconds.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    match stored {
        None => AuthSnapshot {
            state: AuthState::NeedsAuthorization,
            reason: Some("Clover is not connected yet: connect it from the admin page.".to_owned()),
            merchant_id: None,
            ..AuthSnapshot::ok()
        },
        Some(stored) => AuthSnapshot {
            state: if stored.needs_authorization.is_some() {
                AuthState::NeedsAuthorization
            } else {
                AuthState::Ok
            },
            reason: stored.needs_authorization.clone(),
            since: None,
            merchant_id: Some(stored.merchant_id.clone()),
            access_expires_at: time(stored.access_expires_at),
            refresh_expires_at: time(stored.refresh_expires_at),
            last_refresh_at: time(stored.last_refresh_at),
            missing_permission: None,
        },
    }
}

#[async_trait]
impl Credential for OAuthCredential {
    async fn access(&self) -> Result<Access, CloverError> {
        let mut current = self.current.lock().await;
        if self.needs_refresh(current.as_ref()) {
            self.refresh_locked(&mut current, false).await?;
        }
        let held = current.as_ref().ok_or(CloverError::Unauthorized)?;
        if held.needs_authorization.is_some() {
            return Err(CloverError::Unauthorized);
        }
        let merchant_id = MerchantId::parse(&held.merchant_id)
            .map_err(|_| CloverError::Storage("the stored merchant id is malformed".to_owned()))?;
        Ok(Access {
            merchant_id,
            token: held.access_token.clone(),
        })
    }

    async fn unauthorized(
        &self,
        rejected: &SecretString,
        after_renewal: bool,
    ) -> UnauthorizedAction {
        let mut current = self.current.lock().await;
        let still_current = current
            .as_ref()
            .is_some_and(|held| held.access_token.expose_secret() == rejected.expose_secret());
        if !still_current {
            // Someone refreshed while this request was out: try again with the new token.
            return UnauthorizedAction::RetryOnce;
        }
        if after_renewal {
            // A token minted a moment ago is refused: the app lacks a permission.
            let reason = "Clover refuses even a fresh token: the app lacks the Customers read \
                          or write permission. Update the app's permissions, then reconnect.";
            let _ = self.require_authorization(&mut current, reason).await;
            return UnauthorizedAction::GiveUp;
        }
        match self.refresh_locked(&mut current, true).await {
            Ok(()) => UnauthorizedAction::RetryOnce,
            Err(CloverError::Unavailable { .. }) => UnauthorizedAction::TryLater,
            Err(_) => UnauthorizedAction::GiveUp,
        }
    }

    fn accepted(&self) {}

    /// A merchant who connects through one instance connects them all; a pair another
    /// instance refreshed is used at once. Skipped while this process itself refreshes.
    async fn reload(&self) {
        let Ok(mut current) = self.current.try_lock() else {
            return;
        };
        match self.vault.load_pair(&self.cipher).await {
            Ok(Some(stored))
                if current
                    .as_ref()
                    .is_some_and(|held| superseded(&stored, held)) =>
            {
                // Ours is newer but was never stored: store it, under the lock, unless
                // another instance replaced the stored pair meanwhile.
                let Ok(lock) = self.vault.lock(RELOAD_LOCK_WAIT).await else {
                    return;
                };
                let held = current.as_ref().expect("matched above");
                let still = self
                    .vault
                    .load_pair(&self.cipher)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|stored| superseded(&stored, held));
                if still && lock.still_held().await {
                    self.save_with_retries(held).await;
                }
            }
            Ok(Some(stored)) => {
                let differs = current.as_ref().is_none_or(|held| {
                    held.access_token.expose_secret() != stored.access_token.expose_secret()
                        || held.needs_authorization != stored.needs_authorization
                });
                if differs {
                    self.publish(Some(&stored));
                    *current = Some(stored);
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not read the stored Clover connection"),
        }
    }

    fn snapshot(&self) -> AuthSnapshot {
        self.snapshot.lock().expect("snapshot lock").clone()
    }
}
