//! Connect attempts in progress: each `state` is bound to the browser that started it by a
//! cookie, expires after ten minutes, and can be completed once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use url::Url;

use super::api::{OAuthApi, pkce_pair, random_state};
use crate::clover::MerchantId;

/// How long a merchant has to approve the app in Clover's page.
pub const CONNECT_TTL: Duration = Duration::from_secs(600);

/// Who started the connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOrigin {
    /// The signed-in admin, from `/admin`.
    Admin,
    /// Clover's App Market, through the alternate launch path, for this merchant.
    Launch(Option<MerchantId>),
}

/// What the callback needs from the attempt it completes.
pub struct PendingConnect {
    pub origin: ConnectOrigin,
    /// The PKCE verifier, for an app without its secret.
    pub verifier: Option<SecretString>,
}

struct Entry {
    pending: PendingConnect,
    started: Instant,
}

/// Attempts by a hash of their state, so the table never holds a usable state itself.
#[derive(Default)]
pub struct PendingConnects {
    entries: Mutex<HashMap<String, Entry>>,
}

/// A connect that has begun: the state for the cookie and where to send the browser.
pub struct ConnectStart {
    pub state: String,
    pub authorize_url: Url,
}

impl PendingConnects {
    /// `merchant`: the merchant to authorize, when known, named on the authorize URL.
    pub fn begin(
        &self,
        api: &OAuthApi,
        origin: ConnectOrigin,
        merchant: Option<&MerchantId>,
    ) -> ConnectStart {
        let state = random_state();
        // Without the app secret, the app is low-trust and proves itself with PKCE.
        let (verifier, challenge) = match api.app().app_secret {
            Some(_) => (None, None),
            None => {
                let (verifier, challenge) = pkce_pair();
                (Some(verifier), Some(challenge))
            }
        };
        let authorize_url = api.authorize_url(&state, challenge.as_deref(), merchant);
        let mut entries = self.entries.lock().expect("connect table lock");
        entries.retain(|_, entry| entry.started.elapsed() < CONNECT_TTL);
        entries.insert(
            digest(&state),
            Entry {
                pending: PendingConnect { origin, verifier },
                started: Instant::now(),
            },
        );
        ConnectStart {
            state,
            authorize_url,
        }
    }

    /// Completes the attempt `state` belongs to: once, and within its time.
    pub fn take(&self, state: &str) -> Option<PendingConnect> {
        let mut entries = self.entries.lock().expect("connect table lock");
        let entry = entries.remove(&digest(state))?;
        (entry.started.elapsed() < CONNECT_TTL).then_some(entry.pending)
    }
}

fn digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}
