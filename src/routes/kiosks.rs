//! `/admin/kiosks`: the merchant names a counter tablet and gets its pairing link, renames
//! it, gives it a new link, or revokes it (see [`crate::kiosk`]).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{AppState, html, over_https, see_other};
use crate::admin::refusal::Refusal;
use crate::kiosk::{DeviceName, PAIRING_LIFETIME};
use crate::qr::QrImage;
use crate::storage::{StorageError, now_ms};
use crate::templates::{KiosksView, NewLink, kiosks_page};

#[derive(Deserialize, Default)]
pub struct DeviceForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

/// The form posted, once its CSRF token is checked; else the refusal.
fn posted(request: &HttpRequest, state: &AppState, body: &[u8]) -> Result<DeviceForm, Refusal> {
    let form: DeviceForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    match state
        .admin
        .action_refusal(request, form.csrf_token.as_deref())
    {
        Some(refusal) => Err(refusal),
        None => Ok(form),
    }
}

/// A form naming a tablet, checked, with the name read; else the answer: the page again
/// saying what is wrong with the name.
async fn named(
    request: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(DeviceForm, DeviceName), HttpResponse> {
    let form = posted(request, state, body).map_err(|refused| refused.error_response())?;
    match DeviceName::parse(&form.name) {
        Some(name) => Ok((form, name)),
        None => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            Err(show(request, state, status, Some(NAME_PROBLEM)).await)
        }
    }
}

/// The page again, saying the tablet acted on is not there (any more).
async fn no_device(request: &HttpRequest, state: &AppState) -> HttpResponse {
    show(request, state, StatusCode::NOT_FOUND, Some(NO_DEVICE)).await
}

const NAME_PROBLEM: &str = "Name: 1 to 40 characters on one line, such as Front counter.";
const NO_DEVICE: &str =
    "That tablet is not on the list any more (or was revoked): reload the page.";

/// The cookie that carries a pairing link just made to the page that shows it, once: the
/// form that made it is answered with a redirect, so reloading the page makes nothing
/// again.
const NEW_LINK_COOKIE: &str = "kiosk_new_link";

/// The page, with a problem to show, and the pairing link just made if there is one
/// still open.
async fn show(
    request: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    problem: Option<&str>,
) -> HttpResponse {
    let devices = match state.kiosk.all().await {
        Ok(devices) => devices,
        Err(error) => return unavailable(&error),
    };
    let now = now_ms();
    let made = request.cookie(NEW_LINK_COOKIE);
    let new_link = made.as_ref().and_then(|cookie| {
        let token = cookie.value();
        let id = token.split_once('.')?.0;
        let device = devices.iter().find(|device| device.id == id)?;
        let expires = device.pairing_expires_ms.filter(|until| *until > now)?;
        Some(new_link(state, &device.name, token, expires))
    });
    let csrf = state.admin.csrf_token(request);
    let view = KiosksView {
        devices: &devices,
        now_ms: now,
        new_link,
        problem,
        csrf_token: &csrf,
    };
    let mut response = html(status, kiosks_page(&view));
    if made.is_some() {
        let mut shown = Cookie::build(NEW_LINK_COOKIE, "").path(PAGE).finish();
        shown.make_removal();
        let _ = response.add_cookie(&shown);
    }
    response
}

const PAGE: &str = "/admin/kiosks";

/// Back to the page, which shows the link `token` once.
fn to_page_showing(state: &AppState, request: &HttpRequest, token: String) -> HttpResponse {
    let cookie = Cookie::build(NEW_LINK_COOKIE, token)
        .path(PAGE)
        .http_only(true)
        .secure(over_https(state, request))
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(PAIRING_LIFETIME.as_secs() as i64))
        .finish();
    let mut response = see_other(PAGE);
    let _ = response.add_cookie(&cookie);
    response
}

fn unavailable(error: &StorageError) -> HttpResponse {
    tracing::error!(%error, "the tablets could not be read or changed");
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("The database does not answer; nothing was changed. Try again in a moment.")
}

/// The link as the tablet opens it, and its code for the tablet's camera.
fn new_link(state: &AppState, name: &str, token: &str, expires_at_ms: i64) -> NewLink {
    let url = state
        .info
        .public_url
        .join(&format!("kiosk/pair/{token}"))
        .map(String::from)
        .unwrap_or_default();
    let qr_svg = QrImage::of(&url)
        .ok()
        .map(|code| code.svg(&format!("QR code of the pairing link for {name}")));
    NewLink {
        name: name.to_owned(),
        url,
        qr_svg,
        expires_at_ms,
    }
}

pub async fn page(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    show(&request, &state, StatusCode::OK, None).await
}

pub async fn add(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, name) = match named(&request, &state, &body).await {
        Ok(named) => named,
        Err(answer) => return answer,
    };
    match state.kiosk.add(&name).await {
        Ok((device, token)) => {
            tracing::info!(device = %device.name, "a counter tablet was added");
            to_page_showing(&state, &request, token)
        }
        Err(error) => unavailable(&error),
    }
}

pub async fn new_link_for(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match posted(&request, &state, &body) {
        Ok(form) => form,
        Err(refused) => return refused.error_response(),
    };
    match state.kiosk.new_link(&form.id).await {
        Ok(Some(token)) => to_page_showing(&state, &request, token),
        Ok(None) => no_device(&request, &state).await,
        Err(error) => unavailable(&error),
    }
}

pub async fn rename(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (form, name) = match named(&request, &state, &body).await {
        Ok(named) => named,
        Err(answer) => return answer,
    };
    match state.kiosk.rename(&form.id, &name).await {
        Ok(true) => see_other(PAGE),
        Ok(false) => no_device(&request, &state).await,
        Err(error) => unavailable(&error),
    }
}

pub async fn revoke(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match posted(&request, &state, &body) {
        Ok(form) => form,
        Err(refused) => return refused.error_response(),
    };
    match state.kiosk.revoke(&form.id).await {
        Ok(true) => {
            tracing::info!(device = %form.id, "a counter tablet was revoked");
            see_other(PAGE)
        }
        Ok(false) => no_device(&request, &state).await,
        Err(error) => unavailable(&error),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_problem_states_the_same_bound_as_the_rule() {
        assert!(super::NAME_PROBLEM.contains(&format!("1 to {}", crate::kiosk::NAME_MAX_CHARS)));
    }
}
