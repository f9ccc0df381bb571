//! The way to Clover the configuration chose: the demo stand-in, or a Clover client with
//! its credential (a static token, or an OAuth pair), and what the admin pages need to
//! change it. The credential is built here once, at start.

use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use url::Url;

use crate::clover::oauth::{OAuthApi, OAuthApp, OAuthCredential, PendingConnects};
use crate::clover::vault::{EnteredToken, env_token_digest};
use crate::clover::{
    Access, CloverClient, Credential, CustomerDirectory, DemoClover, EnteredTokens, MerchantId,
    StaticToken,
};
use crate::configuration::{CloverAuthSettings, OAuthSettings, Settings};
use crate::metrics::CloverMetrics;
use crate::routes::{ClientAuth, OAuthConnector, TokenAdmin};
use crate::storage::{SecretCipher, Storage};

/// The first log line says how the service reaches Clover.
pub(super) fn announce_mode(settings: &Settings) {
    let clover = &settings.clover;
    match &clover.auth {
        CloverAuthSettings::Demo => tracing::info!(
            "clover-signup starting in DEMO mode: nothing is sent to Clover; customers are \
             kept by a stand-in in the local database (set CLOVER_AUTH=token to deliver)"
        ),
        CloverAuthSettings::Token { merchant_id, .. } => tracing::info!(
            "clover-signup starting in token mode for merchant {} on {} ({}, {})",
            merchant_id.as_ref().map_or(
                "(to be entered on the admin page)".to_owned(),
                ToString::to_string
            ),
            clover.api_base_url,
            clover.environment.as_str(),
            clover.region.as_str()
        ),
        CloverAuthSettings::OAuth(oauth) => tracing::info!(
            "clover-signup starting in OAuth mode for app {} on {} ({}, {}){}",
            oauth.app_id,
            clover.api_base_url,
            clover.environment.as_str(),
            clover.region.as_str(),
            if oauth.app_secret.is_some() {
                ""
            } else {
                ", low-trust app using PKCE"
            }
        ),
    }
}

/// The way to Clover the configuration chose, and what the admin needs to change it.
pub(super) async fn clover_connection(
    settings: &Settings,
    db: &Storage,
    metrics: &CloverMetrics,
) -> anyhow::Result<(CustomerDirectory, ClientAuth)> {
    let clover = &settings.clover;
    let client = |credential: Arc<dyn Credential>| {
        CloverClient::new(
            clover.api_base_url.clone(),
            credential,
            clover.request_timeout,
        )
        .map(|client| Arc::new(client.with_metrics(metrics.clone())))
        .context("cannot build the HTTP client for Clover")
    };
    match &clover.auth {
        CloverAuthSettings::Demo => Ok((
            CustomerDirectory::Demo(DemoClover::new(db.demo_customers())),
            ClientAuth::Demo,
        )),
        CloverAuthSettings::Token {
            merchant_id,
            api_token,
        } => {
            let (credential, cipher, env_digest) =
                token_credential(settings, merchant_id, api_token, db).await?;
            let client = client(credential.clone())?;
            let admin = TokenAdmin {
                credential,
                cipher,
                env_digest,
                client: client.clone(),
            };
            Ok((CustomerDirectory::Clover(client), ClientAuth::Token(admin)))
        }
        CloverAuthSettings::OAuth(oauth) => {
            let credential = oauth_credential(settings, oauth, db).await?;
            let client = client(credential.clone())?;
            let connector = OAuthConnector {
                credential,
                // OAuth mode cannot start without SECRET_KEY (checked by the credential).
                pending: PendingConnects::new(SecretCipher::from_secret_key(
                    settings
                        .secret_key
                        .as_ref()
                        .expect("OAuth mode has a SECRET_KEY"),
                )),
                expected_merchant: oauth.expected_merchant.clone(),
                client: client.clone(),
                secure_cookie: settings.server.public_url.scheme() == "https",
            };
            Ok((
                CustomerDirectory::Clover(client),
                ClientAuth::OAuth(connector),
            ))
        }
    }
}

/// Token mode: the token in force is the one set most recently, in the environment or on
/// the admin page. A token entered on the admin page remembers the environment's token it
/// replaced; when the operator has changed that since, the environment wins again.
async fn token_credential(
    settings: &Settings,
    merchant_id: &Option<MerchantId>,
    api_token: &Option<SecretString>,
    db: &Storage,
) -> anyhow::Result<(Arc<StaticToken>, SecretCipher, String)> {
    let secret_key = settings
        .secret_key
        .as_ref()
        .context("SECRET_KEY is required in token mode")?;
    let cipher = SecretCipher::from_secret_key(secret_key);
    let env_digest = env_token_digest(secret_key, api_token.as_ref());
    let vault = db.credentials();
    vault
        .upgrade_env_digest(&cipher, api_token.as_ref(), &env_digest)
        .await
        .context("cannot upgrade the stored API token's record")?;
    let stored = vault
        .load_token(&cipher)
        .await
        .context("cannot read the stored API token")?;
    let from_admin = stored
        .filter(|entered| entered.applies_over(&env_digest))
        .and_then(EnteredToken::access);
    let from_env = merchant_id
        .clone()
        .zip(api_token.clone())
        .map(|(merchant_id, token)| Access { merchant_id, token });
    let credential = Arc::new(
        StaticToken::new(from_admin.or(from_env)).with_entered_tokens(EnteredTokens {
            vault,
            cipher: cipher.clone(),
            env_digest: env_digest.clone(),
        }),
    );
    Ok((credential, cipher, env_digest))
}

async fn oauth_credential(
    settings: &Settings,
    oauth: &OAuthSettings,
    db: &Storage,
) -> anyhow::Result<Arc<OAuthCredential>> {
    let clover = &settings.clover;
    let secret_key = settings
        .secret_key
        .as_ref()
        .context("SECRET_KEY is required to store OAuth tokens")?;
    let app = OAuthApp {
        app_id: oauth.app_id.clone(),
        app_secret: oauth.app_secret.clone(),
        api_base: clover.api_base_url.clone(),
        web_base: clover.web_base_url.clone(),
        // PUBLIC_URL + /oauth/callback, keeping any path PUBLIC_URL has.
        redirect_uri: Url::parse(&format!(
            "{}/oauth/callback",
            settings.server.public_url.as_str().trim_end_matches('/')
        ))
        .context("PUBLIC_URL cannot carry the callback path")?,
    };
    let api = OAuthApi::new(app, clover.request_timeout)
        .context("cannot build the HTTP client for Clover's OAuth")?;
    let credential = OAuthCredential::load(
        api,
        db.credentials(),
        SecretCipher::from_secret_key(secret_key),
        oauth.refresh_margin,
    )
    .await
    .context("cannot read the stored Clover connection")?;
    let credential = Arc::new(credential);
    if let (Some(legacy), Some(merchant)) = (&oauth.legacy_token, &oauth.expected_merchant)
        && !credential.is_connected().await
    {
        match credential.migrate_legacy(merchant, legacy).await {
            Ok(()) => {
                tracing::info!("the legacy Clover token was migrated to an expiring pair")
            }
            Err(error) => tracing::error!(%error, "could not migrate CLOVER_LEGACY_TOKEN"),
        }
    }
    Ok(credential)
}
