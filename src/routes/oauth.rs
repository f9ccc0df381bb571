//! `/oauth/connect`, `/oauth/launch` and `/oauth/callback`: the merchant connects their
//! Clover account once, in a browser.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{AppState, html, request_id};
use crate::clover::oauth::{
    CONNECT_TTL, ConnectOrigin, ConnectRefusal, OAuthCredential, PendingConnects, TokenPair,
};
use crate::clover::{Access, CloverClient, CloverError, MerchantId, Verification};
use crate::templates::error_page;

/// Binds a connect attempt to the browser that started it. `SameSite=Lax`, since Clover's
/// redirect back is a cross-site top-level navigation that `Strict` would strip it from.
const STATE_COOKIE: &str = "clover_oauth_state";

/// What the OAuth routes share.
pub struct OAuthConnector {
    pub credential: Arc<OAuthCredential>,
    pub pending: PendingConnects,
    /// `CLOVER_MERCHANT_ID`, when set: no other merchant may connect.
    pub expected_merchant: Option<MerchantId>,
    /// Checks a new connection with what delivery does before it is kept.
    pub client: Arc<CloverClient>,
    pub secure_cookie: bool,
}

/// `GET /oauth/connect`: the signed-in admin starts (or renews) the connection.
pub async fn connect(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    match state.connection.oauth() {
        Some(oauth) => begin(oauth, ConnectOrigin::Admin, &request),
        None => not_oauth(),
    }
}

/// Clover's documents name the launch's merchant `merchant_id` in one place and
/// `merchantId` in another; both are taken. It may also add `employee_id`, not needed.
#[derive(Deserialize)]
pub struct LaunchQuery {
    merchant_id: Option<String>,
    #[serde(rename = "merchantId")]
    merchant_id_camel_case: Option<String>,
}

/// `GET /oauth/launch?merchant_id=…`: Clover's "Alternate Launch Path", for a merchant who
/// opens the app from the App Market.
pub async fn launch(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LaunchQuery>,
) -> HttpResponse {
    let Some(oauth) = state.connection.oauth() else {
        return not_oauth();
    };
    let merchant = query
        .merchant_id
        .as_deref()
        .or(query.merchant_id_camel_case.as_deref())
        .and_then(|m| MerchantId::parse(m).ok());
    begin(oauth, ConnectOrigin::Launch(merchant), &request)
}

fn begin(oauth: &OAuthConnector, origin: ConnectOrigin, request: &HttpRequest) -> HttpResponse {
    // The merchant this deployment is for, else the one the App Market launched for.
    let merchant = match &origin {
        ConnectOrigin::Launch(hint) => oauth.expected_merchant.as_ref().or(hint.as_ref()),
        ConnectOrigin::Admin => oauth.expected_merchant.as_ref(),
    }
    .cloned();
    let started = oauth
        .pending
        .begin(oauth.credential.api(), origin, merchant.as_ref());
    let cookie = Cookie::build(STATE_COOKIE, started.cookie)
        .path("/oauth/callback")
        .http_only(true)
        .secure(oauth.secure_cookie || request.connection_info().scheme() == "https")
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(CONNECT_TTL.as_secs() as i64))
        .finish();
    let mut response = HttpResponse::Found()
        .insert_header((header::LOCATION, started.authorize_url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    response
        .add_cookie(&cookie)
        .expect("a cookie built here is valid");
    response
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    merchant_id: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// `GET /oauth/callback`: Clover sends the browser back with a code. Nothing is exchanged
/// unless the browser holds the cookie of a connect it started here, within ten minutes,
/// not completed before, and the `state` Clover echoes matches it.
pub async fn callback(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let Some(oauth) = state.connection.oauth() else {
        return not_oauth();
    };
    match complete(oauth, &request, &query).await {
        Ok((merchant, name)) => {
            tracing::info!(merchant = %merchant, "Clover connected");
            state.delivery.retry_now();
            // A page rather than a redirect: the admin session cookie is SameSite=Strict and
            // is not sent on a redirect chain that began on Clover's site; a click is.
            let mut response = html(StatusCode::OK, connected_page(&merchant, name.as_deref()));
            response
                .add_cookie(&expired_cookie())
                .expect("valid cookie");
            response
        }
        Err(refusal) => {
            tracing::warn!(
                reason = refusal.log_reason(),
                "a Clover callback was refused"
            );
            let mut response = html(
                refusal.status(),
                error_page(
                    "Clover was not connected",
                    &refusal.to_string(),
                    request_id(&request).as_deref(),
                ),
            );
            response
                .add_cookie(&expired_cookie())
                .expect("valid cookie");
            response
        }
    }
}

async fn complete(
    oauth: &OAuthConnector,
    request: &HttpRequest,
    query: &CallbackQuery,
) -> Result<(MerchantId, Option<String>), Refusal> {
    let cookie = request
        .cookie(STATE_COOKIE)
        .ok_or(Refusal::NoPendingConnect)?;
    // The state is required on every callback, App Market launches included (they start
    // our own authorize, with a state): without it, a code an attacker obtained for
    // their own merchant could be slipped to an admin whose connect is under way. The
    // cookie is removed by every answer, so an attempt completes once.
    let pending = oauth
        .pending
        .take(cookie.value(), query.state.as_deref())
        .map_err(|refusal| match refusal {
            ConnectRefusal::NoAttempt => Refusal::NoPendingConnect,
            ConnectRefusal::StateMismatch => Refusal::StateMismatch,
        })?;
    let (merchant, code) = callback_answer(oauth, query)?;
    if let ConnectOrigin::Launch(hint) = &pending.origin {
        launch_may_connect(oauth, hint.as_ref(), &merchant)?;
    }
    let api = oauth.credential.api();
    let pair = api
        .exchange(code, pending.verifier.as_ref())
        .await
        .map_err(|error| {
            tracing::error!(%error, "Clover refused the authorization code");
            Refusal::ExchangeFailed
        })?;
    let verified = verify(oauth, &merchant, &pair).await?;
    oauth
        .credential
        .connect(&merchant, pair)
        .await
        .map_err(|_| Refusal::NotStored)?;
    Ok((merchant, verified.merchant_name))
}

/// The merchant and code Clover's redirect carries, for this app and the merchant this
/// deployment expects, if it names one.
fn callback_answer<'q>(
    oauth: &OAuthConnector,
    query: &'q CallbackQuery,
) -> Result<(MerchantId, &'q str), Refusal> {
    let app_id = &oauth.credential.api().app().app_id;
    if query.client_id.as_deref().is_some_and(|id| id != app_id) {
        return Err(Refusal::WrongApp);
    }
    let merchant = query
        .merchant_id
        .as_deref()
        .and_then(|m| MerchantId::parse(m).ok())
        .ok_or(Refusal::Incomplete)?;
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::Incomplete)?;
    if oauth
        .expected_merchant
        .as_ref()
        .is_some_and(|expected| *expected != merchant)
    {
        return Err(Refusal::WrongMerchant);
    }
    Ok((merchant, code))
}

/// The merchant id came as a plain query parameter: make sure the new token opens it,
/// with the permissions delivery needs, before it replaces anything.
async fn verify(
    oauth: &OAuthConnector,
    merchant: &MerchantId,
    pair: &TokenPair,
) -> Result<Verification, Refusal> {
    let candidate = Access {
        merchant_id: merchant.clone(),
        token: pair.access_token.clone(),
    };
    oauth
        .client
        .verify(&candidate)
        .await
        .map_err(|error| match error {
            CloverError::Unauthorized => Refusal::CannotReadCustomers,
            CloverError::MissingPermission(_) => Refusal::EmailAddressesHidden,
            error => {
                tracing::error!(%error, "the new connection could not be checked");
                Refusal::NotChecked
            }
        })
}

/// Anyone can open the launch path, so it may connect only a merchant this deployment is
/// set up for (`CLOVER_MERCHANT_ID`), or reconnect the merchant already connected whose
/// connection needs it. It never replaces a working connection; the admin page can.
fn launch_may_connect(
    oauth: &OAuthConnector,
    hint: Option<&MerchantId>,
    merchant: &MerchantId,
) -> Result<(), Refusal> {
    if hint.is_some_and(|h| h != merchant) {
        return Err(Refusal::WrongMerchant);
    }
    if oauth.expected_merchant.is_some() {
        // Checked against CLOVER_MERCHANT_ID by the caller already.
        return Ok(());
    }
    let snapshot = oauth.credential.snapshot_for_launch();
    match snapshot {
        Some((connected, needs_authorization))
            if connected == merchant.as_ref() && needs_authorization =>
        {
            Ok(())
        }
        _ => Err(Refusal::LaunchNotAllowed),
    }
}

fn connected_page(merchant: &MerchantId, name: Option<&str>) -> maud::Markup {
    let whom = match name {
        Some(name) => format!("{name} ({merchant})"),
        None => merchant.to_string(),
    };
    crate::templates::notice_page(
        "Clover is connected",
        &format!(
            "Signups are now delivered to Clover merchant {whom}. Anything that was \
             waiting is on its way."
        ),
        ("/admin", "Open the admin page"),
    )
}

/// Why a callback connected nothing; the message is for the merchant.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(
        "No connection was started from this browser, it was already completed, or it took \
         longer than ten minutes. Start again from the admin page."
    )]
    NoPendingConnect,
    #[error(
        "The answer from Clover does not belong to the connection started here. Start again from the admin page."
    )]
    StateMismatch,
    #[error("The answer from Clover is for another app.")]
    WrongApp,
    #[error("The answer from Clover is incomplete (no code or merchant).")]
    Incomplete,
    #[error("This service is set up for another Clover merchant.")]
    WrongMerchant,
    #[error("Clover did not accept the authorization. Start again from the admin page.")]
    ExchangeFailed,
    #[error(
        "Clover's new token cannot read the customers of the merchant named: it was \
         approved for another merchant, or the app lacks the Customers read and write \
         permissions. Nothing was changed."
    )]
    CannotReadCustomers,
    #[error(
        "Clover's new token cannot read customers' email addresses, so existing customers \
         could not be recognised: grant the app read access to customers' email addresses \
         (a field-level permission in Europe), then connect again. Nothing was changed."
    )]
    EmailAddressesHidden,
    #[error(
        "The new connection could not be checked with Clover. Start again from the admin page."
    )]
    NotChecked,
    #[error(
        "Connecting from the App Market needs CLOVER_MERCHANT_ID set on this service, or \
         connect from its admin page."
    )]
    LaunchNotAllowed,
    #[error("The connection could not be saved. Please try again.")]
    NotStored,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::ExchangeFailed | Self::NotChecked => StatusCode::BAD_GATEWAY,
            Self::NotStored => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// For the logs: the kind only, never the code or state.
    fn log_reason(&self) -> &'static str {
        match self {
            Self::NoPendingConnect => "no pending connect",
            Self::StateMismatch => "state mismatch",
            Self::WrongApp => "wrong client_id",
            Self::Incomplete => "incomplete",
            Self::WrongMerchant => "wrong merchant",
            Self::ExchangeFailed => "exchange failed",
            Self::CannotReadCustomers => "cannot read customers",
            Self::EmailAddressesHidden => "email addresses hidden",
            Self::NotChecked => "not checked",
            Self::LaunchNotAllowed => "launch not allowed",
            Self::NotStored => "not stored",
        }
    }
}

fn expired_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(STATE_COOKIE, "")
        .path("/oauth/callback")
        .finish();
    cookie.make_removal();
    cookie
}

fn not_oauth() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("OAuth is not in use: set CLOVER_AUTH=oauth with CLOVER_APP_ID to connect this way.")
}
