//! Changing the Clover credential from the admin page: replacing the API token (token
//! mode, checked with Clover before it is saved) or migrating a legacy token (OAuth mode).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::admin::report_of;
use super::{AppState, OAuthConnector, html, see_other};
use crate::clover::vault::EnteredToken;
use crate::clover::{Access, CloverClient, CloverError, MerchantId, StaticToken};
use crate::storage::SecretCipher;
use crate::templates::admin_page;

/// How this deployment reaches Clover, with what the admin needs to change it.
pub enum ClientAuth {
    Demo,
    Token(TokenAdmin),
    OAuth(OAuthConnector),
}

impl ClientAuth {
    pub fn oauth(&self) -> Option<&OAuthConnector> {
        match self {
            Self::OAuth(connector) => Some(connector),
            _ => None,
        }
    }
}

/// Token mode's credential, and how to check and keep a replacement.
pub struct TokenAdmin {
    pub credential: Arc<StaticToken>,
    pub cipher: SecretCipher,
    /// Digest of the environment's token, stored with a replacement (see startup).
    pub env_digest: String,
    pub client: Arc<CloverClient>,
}

#[derive(Deserialize)]
pub struct TokenForm {
    merchant_id: String,
    api_token: String,
    csrf_token: Option<String>,
}

/// `POST /admin/token`: the merchant's id and a new API token, checked with Clover (a
/// customers search like delivery's) before anything is saved.
pub async fn replace_token(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if let Some(refusal) = state
        .admin
        .action_refusal(&request, form.csrf_token.as_deref())
    {
        return refusal.error_response();
    }
    let ClientAuth::Token(admin) = &state.connection else {
        return HttpResponse::NotFound().body("Only token mode takes an API token here.");
    };
    let Ok(merchant_id) = MerchantId::parse(&form.merchant_id) else {
        let message = "The merchant id is 13 upper-case letters and digits, such as \
                       TC4DGCJW1K4EW (Account & Setup → About Your Business).";
        return page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, message).await;
    };
    let candidate = Access {
        merchant_id: merchant_id.clone(),
        token: SecretString::from(form.api_token.trim().to_owned()),
    };
    match admin.client.verify(&candidate).await {
        Ok(_) => {}
        Err(CloverError::Unauthorized) => {
            let message = format!(
                "Clover refused this token for merchant {merchant_id} (401): it is the wrong \
                 token or merchant id, or the token is missing the Customers permission \
                 (read and write). Nothing was changed."
            );
            return page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, &message).await;
        }
        Err(CloverError::MissingPermission(missing)) => {
            let message = format!("{} Nothing was changed.", missing.explanation());
            return page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, &message).await;
        }
        Err(error) => {
            let message = format!(
                "The token could not be checked with Clover: {error}. Nothing was changed."
            );
            return page_with(&state, &request, StatusCode::BAD_GATEWAY, &message).await;
        }
    }
    let entered = EnteredToken {
        merchant_id: merchant_id.to_string(),
        token: candidate.token.clone(),
        replaces_env_digest: Some(admin.env_digest.clone()),
    };
    let vault = state.db.credentials();
    if let Err(error) = vault.save_token(&entered, &admin.cipher).await {
        tracing::error!(%error, "could not store the new API token");
        let message = "The token works but could not be saved. Please try again.";
        return page_with(&state, &request, StatusCode::INTERNAL_SERVER_ERROR, message).await;
    }
    admin.credential.replace(candidate);
    tracing::info!(merchant = %merchant_id, "the API token was replaced from the admin page");
    state.delivery.retry_now();
    see_other("/admin")
}

#[derive(Deserialize)]
pub struct MigrateForm {
    merchant_id: String,
    legacy_token: String,
    csrf_token: Option<String>,
}

/// `POST /admin/migrate`: trades a legacy (v1) token for an expiring pair.
pub async fn migrate_legacy(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<MigrateForm>,
) -> HttpResponse {
    if let Some(refusal) = state
        .admin
        .action_refusal(&request, form.csrf_token.as_deref())
    {
        return refusal.error_response();
    }
    let Some(oauth) = state.connection.oauth() else {
        return HttpResponse::NotFound().body("Only OAuth mode migrates legacy tokens.");
    };
    let Ok(merchant_id) = MerchantId::parse(&form.merchant_id) else {
        let message = "The merchant id is 13 upper-case letters and digits.";
        return page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, message).await;
    };
    if oauth
        .expected_merchant
        .as_ref()
        .is_some_and(|m| *m != merchant_id)
    {
        let message = "This service is set up for another Clover merchant.";
        return page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, message).await;
    }
    let legacy = SecretString::from(form.legacy_token.trim().to_owned());
    match oauth.credential.migrate_legacy(&merchant_id, &legacy).await {
        Ok(()) => {
            tracing::info!(merchant = %merchant_id, "a legacy token was migrated from the admin page");
            state.delivery.retry_now();
            see_other("/admin")
        }
        Err(error) => {
            let message = format!("Clover did not migrate the token: {error}");
            page_with(&state, &request, StatusCode::UNPROCESSABLE_ENTITY, &message).await
        }
    }
}

/// The admin page with a message at the top.
async fn page_with(
    state: &AppState,
    request: &HttpRequest,
    status: StatusCode,
    message: &str,
) -> HttpResponse {
    match report_of(state).await {
        Ok(report) => {
            let csrf = state.admin.csrf_token(request);
            html(status, admin_page(&report, Some(message), &csrf))
        }
        Err(_) => HttpResponse::build(status).body(message.to_owned()),
    }
}
