//! The OAuth pair as a [`Credential`]: kept in the database (encrypted), refreshed before
//! it expires, one refresh at a time, and never spending a refresh token twice.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::api::{OAuthApi, TokenError, TokenPair, pkce_pair};
use super::refresh_plan::{
    AfterRefresh, RefreshMove, after_refresh, due_for_refresh, plan_refresh,
};
use crate::clover::vault::{CredentialLock, CredentialVault, OAuthPair};
use crate::clover::{
    Access, AuthSnapshot, AuthState, CloverError, Credential, MerchantId, UnauthorizedAction,
};
use crate::storage::SecretCipher;
use crate::tasks::retry;

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

    /// Refreshes now unless the pair is fresh. Call with the process's lock held; this
    /// takes the database's too, so that one instance of the service refreshes at a time.
    async fn refresh_locked(
        &self,
        current: &mut Option<OAuthPair>,
        force: bool,
    ) -> Result<(), CloverError> {
        let refreshing = self.vault.lock(REFRESH_LOCK_WAIT).await.map_err(|error| {
            CloverError::unavailable(format!("cannot refresh the Clover connection: {error}"))
        })?;
        // Under the lock the stored pair is the truth: another instance (or a reconnect)
        // may have replaced ours, or begun a refresh and stopped. A pair replaced since
        // ours is used rather than spending the refresh token we hold, now stale.
        let stored = self.vault.load_pair(&self.cipher).await.map_err(|error| {
            CloverError::unavailable(format!("cannot read the Clover connection: {error}"))
        })?;
        match (stored, current.as_ref()) {
            (Some(stored), Some(held)) if superseded(&stored, held) => {
                // Ours replaced the stored pair, but storing it failed: store it now.
                if refreshing.still_held().await {
                    self.save_with_retries(held).await;
                }
            }
            (Some(stored), _) => {
                let replaced = current.as_ref().is_none_or(|held| {
                    held.access_token.expose_secret() != stored.access_token.expose_secret()
                });
                *current = Some(stored);
                self.publish(current.as_ref());
                if replaced && !self.needs_refresh(current.as_ref()) {
                    return Ok(());
                }
            }
            (None, _) => {}
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let recovering = match plan_refresh(current.as_ref(), force, now, self.margin) {
            RefreshMove::Keep => return Ok(()),
            RefreshMove::AskMerchant(None) => return Err(CloverError::Unauthorized),
            RefreshMove::AskMerchant(Some(reason)) => {
                return self.require_authorization(current, reason).await;
            }
            RefreshMove::Recover => true,
            RefreshMove::Refresh => false,
        };
        let Some((merchant_id, spent)) = current
            .as_ref()
            .and_then(|held| Some((held.merchant_id.clone(), held.refresh_token.clone()?)))
        else {
            return Err(CloverError::Unauthorized);
        };
        if !refreshing.still_held().await {
            // The database session holding the lock ended: another instance may be
            // refreshing with this very token.
            return Err(CloverError::unavailable(
                "lost the lock on the Clover connection before refreshing it",
            ));
        }
        let result = if recovering {
            // An earlier refresh with this token may have rotated the pair, and its answer
            // never arrived: recovery is the only move that cannot spend a token twice.
            self.recover(&spent).await
        } else {
            self.spend(current, &spent).await?
        };
        match result {
            Ok(pair) => {
                let pair = stored_from(merchant_id, pair, Some(spent));
                self.adopt(current, pair, &refreshing).await;
                tracing::info!("Clover access token refreshed");
                Ok(())
            }
            Err(TokenError::Unreachable(reason) | TokenError::AnswerLost(reason)) => {
                Err(CloverError::unavailable(reason))
            }
            Err(error) => {
                tracing::error!(%error, "Clover refused to refresh the connection");
                self.require_authorization(
                    current,
                    "Clover no longer accepts this connection. Reconnect from the admin page; \
                     submissions are kept and will be delivered.",
                )
                .await
            }
        }
    }

    /// Spends the refresh token, recording first that it may be spent: if this process
    /// dies before the new pair is stored, the next to try recovers instead of spending it
    /// again. The outer error: the record could not be written, and nothing was spent.
    async fn spend(
        &self,
        current: &mut Option<OAuthPair>,
        spent: &SecretString,
    ) -> Result<Result<TokenPair, TokenError>, CloverError> {
        if !self.set_recovery_pending(current, true).await {
            return Err(CloverError::unavailable(
                "the Clover connection could not be updated in the database",
            ));
        }
        Ok(match after_refresh(self.api.refresh(spent).await) {
            AfterRefresh::Adopt(pair) => Ok(pair),
            AfterRefresh::Recover => {
                // The answer was lost, or Clover says this token was spent already by a
                // refresh whose answer was lost somewhere this process could not see: the
                // pair it made can still be recovered with it.
                tracing::warn!("a token refresh may have been carried out unseen; recovering");
                self.recover(spent).await
            }
            AfterRefresh::NotSpent(error) | AfterRefresh::Refused(error) => {
                // Never carried out: the token is as unspent as before.
                self.set_recovery_pending(current, false).await;
                Err(error)
            }
        })
    }

    /// Uses a new pair at once and commits it; a pair Clover rotated is never dropped
    /// because the database failed (the spent one would be useless anyway). If the lock
    /// was lost meanwhile, another instance may already have recovered a pair that
    /// replaced this one: it is then used but not stored, and the stored pair (marked
    /// for recovery) stays the truth.
    async fn adopt(
        &self,
        current: &mut Option<OAuthPair>,
        stored: OAuthPair,
        lock: &CredentialLock,
    ) {
        self.publish(Some(&stored));
        *current = Some(stored);
        if lock.still_held().await {
            self.save_with_retries(current.as_ref().expect("just set"))
                .await;
        } else {
            tracing::warn!("lost the lock on the Clover connection; the new pair is not stored");
        }
    }

    /// Stores a pair, trying for a few seconds while the caller holds the lock. If the
    /// database stays away, the pair lives on in memory, and the next refresh or reload
    /// stores it (see [`superseded`]).
    async fn save_with_retries(&self, pair: &OAuthPair) {
        let _ = retry(
            &SAVE_RETRIES,
            || self.vault.save_pair(pair, &self.cipher),
            |error| tracing::error!(%error, "could not store the refreshed Clover pair"),
        )
        .await;
    }

    /// Recovery, when the app has its secret; without it a lost answer cannot be repaired
    /// without risking the reuse of a refresh token, so the merchant must reconnect. A
    /// refused recovery is final too: the refresh token may have been spent, and a
    /// refresh token is never sent twice.
    async fn recover(&self, spent: &SecretString) -> Result<TokenPair, TokenError> {
        if self.api.app().app_secret.is_none() {
            return Err(TokenError::Refused {
                status: 0,
                message: "the answer to a refresh was lost and a low-trust app cannot recover"
                    .to_owned(),
            });
        }
        self.api.recover(spent).await
    }

    /// Records whether the current refresh token may have been spent. Returns whether
    /// that is stored.
    async fn set_recovery_pending(&self, current: &mut Option<OAuthPair>, pending: bool) -> bool {
        let Some(held) = current.as_mut() else {
            return false;
        };
        held.recovery_pending = pending;
        match self.vault.save_pair(held, &self.cipher).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "could not record whether a refresh is under way");
                false
            }
        }
    }

    async fn require_authorization(
        &self,
        current: &mut Option<OAuthPair>,
        reason: &str,
    ) -> Result<(), CloverError> {
        tracing::error!("Clover connection needs the merchant: {reason}");
        if let Some(held) = current.as_mut() {
            held.needs_authorization = Some(reason.to_owned());
            if let Err(error) = self.vault.save_pair(held, &self.cipher).await {
                tracing::error!(%error, "could not record that the connection needs authorization");
            }
        }
        self.publish(current.as_ref());
        Err(CloverError::Unauthorized)
    }

    fn needs_refresh(&self, held: Option<&OAuthPair>) -> bool {
        due_for_refresh(
            held,
            OffsetDateTime::now_utc().unix_timestamp(),
            self.margin,
        )
    }

    fn publish(&self, stored: Option<&OAuthPair>) {
        *self.snapshot.lock().expect("snapshot lock") = snapshot_of(stored);
    }
}

/// Whether `stored` is the pair `held` was refreshed from: `held` is newer, and storing it
/// failed.
fn superseded(stored: &OAuthPair, held: &OAuthPair) -> bool {
    match (&stored.refresh_token, &held.previous_refresh_token) {
        (Some(stored), Some(spent)) => stored.expose_secret() == spent.expose_secret(),
        _ => false,
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
