//! Keeping the pair alive: refreshes under the lock every instance respects, recovery
//! when a refresh token may have been spent unseen, and storing each new pair before it
//! is used for anything else. The decisions are `refresh_plan`'s; this carries them out.

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::super::api::{TokenError, TokenPair};
use super::super::refresh_plan::{
    AfterRefresh, RefreshMove, after_refresh, due_for_refresh, plan_refresh,
};
use super::{OAuthCredential, REFRESH_LOCK_WAIT, SAVE_RETRIES, snapshot_of, stored_from};
use crate::clover::CloverError;
use crate::clover::vault::{CredentialLock, OAuthPair};
use crate::tasks::retry;

impl OAuthCredential {
    /// Refreshes now unless the pair is fresh. Call with the process's lock held; this
    /// takes the database's too, so that one instance of the service refreshes at a time.
    pub(super) async fn refresh_locked(
        &self,
        current: &mut Option<OAuthPair>,
        force: bool,
    ) -> Result<(), CloverError> {
        let refreshing = self.vault.lock(REFRESH_LOCK_WAIT).await.map_err(|error| {
            CloverError::unavailable(format!("cannot refresh the Clover connection: {error}"))
        })?;
        if self.catch_up(current, &refreshing).await? {
            return Ok(());
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
            Err(error) => self.refresh_failed(current, error).await,
        }
    }

    /// A refresh or recovery without a new pair: try again later when Clover could not
    /// be reached or its answer was lost; else only the merchant can help.
    pub(super) async fn refresh_failed(
        &self,
        current: &mut Option<OAuthPair>,
        error: TokenError,
    ) -> Result<(), CloverError> {
        match error {
            TokenError::Unreachable(reason) | TokenError::AnswerLost(reason) => {
                Err(CloverError::unavailable(reason))
            }
            error => {
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

    /// Under the lock the stored pair is the truth: another instance (or a reconnect) may
    /// have replaced ours, or begun a refresh and stopped. A pair replaced since ours is
    /// used rather than spending the refresh token we hold, now stale. True when the pair
    /// taken up this way is fresh: nothing is left to do.
    pub(super) async fn catch_up(
        &self,
        current: &mut Option<OAuthPair>,
        refreshing: &CredentialLock,
    ) -> Result<bool, CloverError> {
        let stored = self.vault.load_pair(&self.cipher).await.map_err(|error| {
            CloverError::unavailable(format!("cannot read the Clover connection: {error}"))
        })?;
        match (stored, current.as_ref()) {
            (Some(stored), Some(held)) if superseded(&stored, held) => {
                // Ours replaced the stored pair, but storing it failed: store it now.
                if refreshing.still_held().await {
                    self.save_with_retries(held).await;
                }
                Ok(false)
            }
            (Some(stored), _) => {
                let replaced = current.as_ref().is_none_or(|held| {
                    held.access_token.expose_secret() != stored.access_token.expose_secret()
                });
                *current = Some(stored);
                self.publish(current.as_ref());
                Ok(replaced && !self.needs_refresh(current.as_ref()))
            }
            (None, _) => Ok(false),
        }
    }

    /// Spends the refresh token, recording first that it may be spent: if this process
    /// dies before the new pair is stored, the next to try recovers instead of spending it
    /// again. The outer error: the record could not be written, and nothing was spent.
    pub(super) async fn spend(
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
    pub(super) async fn adopt(
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
    pub(super) async fn save_with_retries(&self, pair: &OAuthPair) {
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
    pub(super) async fn recover(&self, spent: &SecretString) -> Result<TokenPair, TokenError> {
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
    pub(super) async fn set_recovery_pending(
        &self,
        current: &mut Option<OAuthPair>,
        pending: bool,
    ) -> bool {
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

    pub(super) async fn require_authorization(
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

    pub(super) fn needs_refresh(&self, held: Option<&OAuthPair>) -> bool {
        due_for_refresh(
            held,
            OffsetDateTime::now_utc().unix_timestamp(),
            self.margin,
        )
    }

    pub(super) fn publish(&self, stored: Option<&OAuthPair>) {
        *self.snapshot.lock().expect("snapshot lock") = snapshot_of(stored);
    }
}

/// Whether `stored` is the pair `held` was refreshed from: `held` is newer, and storing it
/// failed.
pub(super) fn superseded(stored: &OAuthPair, held: &OAuthPair) -> bool {
    match (&stored.refresh_token, &held.previous_refresh_token) {
        (Some(stored), Some(spent)) => stored.expose_secret() == spent.expose_secret(),
        _ => false,
    }
}
