use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use time::OffsetDateTime;

use super::{CloverError, MerchantId, MissingPermission};
use crate::clover::vault::{CredentialVault, EnteredToken};
use crate::storage::SecretCipher;

/// Whether Clover currently accepts the service's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    Ok,
    /// The merchant must connect (or reconnect) in a browser before delivery can resume.
    NeedsAuthorization,
    /// Clover refused the credential: wrong, revoked, or missing the Customers permission.
    Failing,
}

impl AuthState {
    pub const ALL: [AuthState; 3] = [Self::Ok, Self::NeedsAuthorization, Self::Failing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NeedsAuthorization => "needs_authorization",
            Self::Failing => "failing",
        }
    }
}

/// What the status page shows of the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSnapshot {
    pub state: AuthState,
    /// Why the state is not `Ok`, in words for the merchant.
    pub reason: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// The merchant the credential is for, once known.
    pub merchant_id: Option<String>,
    pub access_expires_at: Option<OffsetDateTime>,
    pub refresh_expires_at: Option<OffsetDateTime>,
    pub last_refresh_at: Option<OffsetDateTime>,
    /// Set while delivery is parked on a permission the credential lacks.
    pub missing_permission: Option<MissingPermission>,
}

impl AuthSnapshot {
    pub fn ok() -> Self {
        Self {
            state: AuthState::Ok,
            reason: None,
            missing_permission: None,
            since: None,
            merchant_id: None,
            access_expires_at: None,
            refresh_expires_at: None,
            last_refresh_at: None,
        }
    }
}

/// After Clover answered `401` to a request made with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedAction {
    /// A fresh token was obtained: repeat the request once.
    RetryOnce,
    /// Nothing more can be done without the merchant.
    GiveUp,
    /// The token could not be renewed now (Clover or the database did not answer): the
    /// request waits like any other that met an outage, rather than being refused.
    TryLater,
}

/// What a request to Clover is made with: the merchant and a bearer token for it.
#[derive(Debug, Clone)]
pub struct Access {
    pub merchant_id: MerchantId,
    pub token: SecretString,
}

/// The bearer credential behind every Clover request. A merchant API token and an OAuth
/// token pair both implement it, so the client and worker never know which one is in use.
#[async_trait]
pub trait Credential: Send + Sync + 'static {
    /// The merchant and a token to send now.
    async fn access(&self) -> Result<Access, CloverError>;
    /// Clover refused `rejected`; decide whether a retry can help. `after_renewal`: the
    /// request was already repeated once with a renewed token.
    async fn unauthorized(
        &self,
        rejected: &SecretString,
        after_renewal: bool,
    ) -> UnauthorizedAction;
    /// Clover accepted a request: the credential works (again).
    fn accepted(&self);
    fn snapshot(&self) -> AuthSnapshot;
    /// Another instance of the service may have changed the stored credential: take it
    /// up. Nothing to do for a credential only this process knows.
    async fn reload(&self) {}
}

/// A merchant-generated API token (`CLOVER_AUTH=token`), from the environment or entered
/// on the admin page. The service cannot renew it: after a `401` it stays failing until a
/// delivery succeeds with it again (the merchant restored its permission) or it is
/// replaced.
pub struct StaticToken {
    access: RwLock<Option<Access>>,
    snapshot: Mutex<AuthSnapshot>,
    /// Where a token entered on the admin page is kept, when it may be.
    entered: Option<EnteredTokens>,
}

/// Tokens entered on the admin page, in the database every instance shares: one entered
/// on any instance is taken up by all (see [`Credential::reload`]).
pub struct EnteredTokens {
    pub vault: Arc<dyn CredentialVault>,
    pub cipher: SecretCipher,
    /// The environment's token this instance started with (see [`env_token_digest`]):
    /// a token entered over another environment's token does not apply here.
    ///
    /// [`env_token_digest`]: crate::clover::vault::env_token_digest
    pub env_digest: String,
}

impl StaticToken {
    pub fn new(access: Option<Access>) -> Self {
        let token = Self {
            access: RwLock::new(None),
            snapshot: Mutex::new(AuthSnapshot::ok()),
            entered: None,
        };
        match access {
            Some(access) => token.replace(access),
            None => token.set(AuthSnapshot {
                state: AuthState::NeedsAuthorization,
                reason: Some(
                    "No API token yet: enter the merchant's id and API token on the admin page."
                        .to_owned(),
                ),
                ..AuthSnapshot::ok()
            }),
        }
        token
    }

    /// Also takes up tokens entered on the admin page of another instance.
    pub fn with_entered_tokens(mut self, entered: EnteredTokens) -> Self {
        self.entered = Some(entered);
        self
    }

    /// Starts using another token (entered on the admin page and checked with Clover).
    pub fn replace(&self, access: Access) {
        let merchant_id = Some(access.merchant_id.to_string());
        *self.access.write().expect("token lock") = Some(access);
        self.set(AuthSnapshot {
            merchant_id,
            ..AuthSnapshot::ok()
        });
    }

    fn set(&self, snapshot: AuthSnapshot) {
        *self.snapshot.lock().expect("auth state lock") = snapshot;
    }
}

#[async_trait]
impl Credential for StaticToken {
    async fn access(&self) -> Result<Access, CloverError> {
        let access = self.access.read().expect("token lock").clone();
        access.ok_or(CloverError::Unauthorized)
    }

    async fn unauthorized(
        &self,
        _rejected: &SecretString,
        _after_renewal: bool,
    ) -> UnauthorizedAction {
        let already_failing = self.snapshot().state == AuthState::Failing;
        if !already_failing {
            tracing::error!(
                "Clover refused the API token (401): it is wrong, revoked, or lacks the \
                 Customers read/write permission; delivery is paused"
            );
            self.set(AuthSnapshot {
                state: AuthState::Failing,
                reason: Some(
                    "Clover refused the API token (401): it is wrong, was deleted, or lacks the \
                     Customers read and write permission. Submissions are kept and will be \
                     delivered once it works."
                        .to_owned(),
                ),
                since: Some(OffsetDateTime::now_utc()),
                ..self.snapshot()
            });
        }
        UnauthorizedAction::GiveUp
    }

    fn accepted(&self) {
        if self.snapshot().state == AuthState::Failing {
            tracing::info!("Clover accepts the API token again; delivery resumes");
            self.set(AuthSnapshot {
                state: AuthState::Ok,
                reason: None,
                since: None,
                ..self.snapshot()
            });
        }
    }

    fn snapshot(&self) -> AuthSnapshot {
        self.snapshot.lock().expect("auth state lock").clone()
    }

    async fn reload(&self) {
        let Some(entered) = &self.entered else {
            return;
        };
        let stored = match entered.vault.load_token(&entered.cipher).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "could not read the API token entered on the admin page");
                return;
            }
        };
        let Some(stored) = stored
            .filter(|stored| stored.applies_over(&entered.env_digest))
            .and_then(EnteredToken::access)
        else {
            return;
        };
        let differs = self
            .access
            .read()
            .expect("token lock")
            .as_ref()
            .is_none_or(|held| {
                held.merchant_id != stored.merchant_id
                    || held.token.expose_secret() != stored.token.expose_secret()
            });
        if differs {
            tracing::info!("using the API token entered on the admin page of another instance");
            self.replace(stored);
        }
    }
}
