use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{AppState, html, see_other};
use crate::admin::access::{AdminAccess, SignInRefused};
use crate::admin::refusal::Refusal;
use crate::admin::status::{StatusReport, status_report, without_database};
use crate::storage::StorageError;
use crate::templates::{admin_login_page, admin_page};

/// The status report of this service, as the admin pages show it.
pub(super) async fn report_of(state: &AppState) -> Result<StatusReport, StorageError> {
    let statistics = state.db.statistics();
    status_report(
        &state.info,
        &*statistics,
        &state.bots,
        state.directory.auth(),
        crate::alerts::alert_words,
    )
    .await
}

pub async fn status_page(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(refusal) = state.admin.refusal(&request) {
        return Ok(refusal.error_response());
    }
    let (status, report) = match report_of(&state).await {
        Ok(report) => (StatusCode::OK, report),
        Err(error) => {
            tracing::warn!(%error, "the admin page is shown without the database");
            let report = without_database(&state.info, state.directory.auth());
            (StatusCode::SERVICE_UNAVAILABLE, report)
        }
    };
    Ok(html(
        status,
        admin_page(&report, None, &state.admin.csrf_token(&request)),
    ))
}

pub async fn status_json(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    match state.admin.refusal(&request) {
        None => {}
        // A script, not a browser: no login form to send it to.
        Some(Refusal::SignIn) => {
            return Ok(HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(serde_json::json!({"error": "send Authorization: Bearer <ADMIN_TOKEN>"})));
        }
        Some(refusal) => return Ok(refusal.error_response()),
    }
    match report_of(&state).await {
        Ok(report) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(report)),
        Err(error) => {
            tracing::warn!(%error, "status.json could not read the database");
            Ok(HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::RETRY_AFTER, 5))
                .json(serde_json::json!({
                    "error": "the database does not answer",
                    "reason": "database_unavailable",
                })))
        }
    }
}

pub async fn login_form(state: web::Data<AppState>) -> HttpResponse {
    if !state.admin.takes_sign_ins() {
        return if state.admin.is_open() {
            see_other("/admin")
        } else {
            Refusal::Disabled.error_response()
        };
    }
    html(StatusCode::OK, admin_login_page(None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    // Every attempt counts, right or wrong: guessing the token is slow by design.
    if let Err(limit) = state.login_limiter.check(&request) {
        let mut response = html(
            StatusCode::TOO_MANY_REQUESTS,
            admin_login_page(Some(&format!(
                "Too many sign-in attempts. Try again in {} seconds.",
                limit.retry_after_secs
            ))),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, limit.retry_after_secs.into());
        return response;
    }
    // Behind a TLS-terminating proxy (Fly.io), the scheme comes from X-Forwarded-Proto.
    let https = request.connection_info().scheme() == "https";
    let cookie = match state.admin.sign_in(&form.token, https) {
        Ok(cookie) => cookie,
        Err(SignInRefused::Disabled) => return Refusal::Disabled.error_response(),
        Err(SignInRefused::WrongToken) => {
            return html(
                StatusCode::UNAUTHORIZED,
                admin_login_page(Some("That token is not the admin token.")),
            );
        }
    };
    let mut response = see_other("/admin");
    response
        .add_cookie(&cookie)
        .expect("a cookie built here is valid");
    response
}

/// The CSRF token every admin form sends back.
#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf_token: Option<String>,
}

pub async fn logout(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form: CsrfForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refusal) = state
        .admin
        .action_refusal(&request, form.csrf_token.as_deref())
    {
        return refusal.error_response();
    }
    // Every session ends, here and on every instance, not only this browser's: a cookie
    // copied before the sign-out must not outlive it.
    match state.db.admin_sessions().end_all().await {
        Ok(generation) => {
            state.admin.ended_sessions(generation);
            tracing::info!("the admin signed out; every admin session has ended");
        }
        Err(error) => {
            tracing::error!(%error, "could not end the admin sessions");
            return HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("Signing out failed: the database did not answer. Please try again.");
        }
    }
    let mut response = see_other("/admin/login");
    response
        .add_cookie(&AdminAccess::removal_cookie())
        .expect("a cookie built here is valid");
    response
}

/// Puts failed submissions back in the queue and wakes the worker, also testing a
/// credential Clover refused, so a merchant who fixed something sees the effect at once.
pub async fn retry(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, actix_web::Error> {
    let form: CsrfForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refusal) = state
        .admin
        .action_refusal(&request, form.csrf_token.as_deref())
    {
        return Ok(refusal.error_response());
    }
    let queue = state.db.queue();
    let requeued = queue
        .retry_failed()
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    queue
        .make_all_due()
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    state.delivery.retry_now();
    tracing::info!(requeued, "the merchant asked to retry deliveries");
    Ok(see_other("/admin"))
}
