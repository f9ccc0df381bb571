//! `/kiosk`: the form on a paired counter tablet, its thank-you screen, and the pairing
//! link that makes a tablet one (see [`crate::kiosk`]).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::signup::{Answer, form_view, respond};
use super::wire::SignupBody;
use super::{AppState, html, intake, over_https, page_context, see_other};
use crate::domain::{IdempotencyKey, SignupForm};
use crate::form_token::unix_now;
use crate::intake::{Channel, FormDoor, Outcome};
use crate::kiosk::{KioskDevice, Recognised};
use crate::templates::{
    FormView, KIOSK_HOME, PageContext, kiosk_form_page, kiosk_refused_page, kiosk_thanks_page,
    pairing_page,
};

/// The tablet's cookie: sent to `/kiosk` only, never readable by scripts.
const DEVICE_COOKIE: &str = "kiosk_device";
/// As long as Chromium keeps any cookie: a paired tablet stays paired until revoked.
const COOKIE_DAYS: i64 = 400;

fn context<'a>(state: &'a AppState, request: &HttpRequest) -> PageContext<'a> {
    page_context(state, request, false, KIOSK_HOME)
}

/// The paired device the request comes from, or the page the tablet gets instead.
async fn device(request: &HttpRequest, state: &AppState) -> Result<KioskDevice, HttpResponse> {
    let cookie = request.cookie(DEVICE_COOKIE);
    let recognised = state
        .kiosk
        .recognise(cookie.as_ref().map(Cookie::value))
        .await;
    let was_paired = match recognised {
        Ok(Recognised::Paired(device)) => return Ok(device),
        Ok(Recognised::Unpaired) => true,
        Ok(Recognised::Unknown) => false,
        Err(error) => {
            tracing::error!(%error, "a tablet could not be recognised");
            return Err(HttpResponse::ServiceUnavailable().finish());
        }
    };
    let mut response = html(
        StatusCode::FORBIDDEN,
        kiosk_refused_page(&context(state, request), was_paired),
    );
    if cookie.is_some() {
        // A cookie that pairs nothing any more is of no use to keep.
        let mut gone = Cookie::build(DEVICE_COOKIE, "").path(KIOSK_HOME).finish();
        gone.make_removal();
        let _ = response.add_cookie(&gone);
    }
    Err(response)
}

/// What every input's name starts with in one rendering: random, so a browser's memory
/// of what was typed under a name is never offered to the next customer.
fn field_prefix() -> String {
    format!("k{}", hex::encode(rand::random::<[u8; 4]>()))
}

pub async fn form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = device(&request, &state).await {
        return refused;
    }
    let kept = request
        .cookie(DEVICE_COOKIE)
        .map(|cookie| cookie.value().to_owned());
    let context = context(&state, &request);
    let form_id = IdempotencyKey::random();
    let token = state.form_tokens.issue(unix_now(), form_id.as_ref());
    let prefix = field_prefix();
    let empty = SignupForm::default();
    let view = FormView {
        field_prefix: Some(&prefix),
        ..form_view(&state, context, &empty, form_id.as_ref(), &token)
    };
    let mut response = html(
        StatusCode::OK,
        kiosk_form_page(&view, state.kiosk.settings.idle),
    );
    // Each form the tablet shows keeps its cookie for another 400 days: a tablet in use
    // stays paired until it is revoked.
    if let Some(value) = kept {
        let _ = response.add_cookie(&device_cookie(&state, &request, value));
    }
    response
}

/// The tablet's cookie holding `value`.
fn device_cookie(state: &AppState, request: &HttpRequest, value: String) -> Cookie<'static> {
    Cookie::build(DEVICE_COOKIE, value)
        .path(KIOSK_HOME)
        .http_only(true)
        .secure(over_https(state, request))
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::days(COOKIE_DAYS))
        .finish()
}

/// `POST /kiosk`: a signup typed on the tablet, through the intake like any other, limited
/// per device, kept under the source `kiosk:<name>`.
pub async fn submit(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let device = match device(&request, &state).await {
        Ok(device) => device,
        Err(refused) => return refused,
    };
    let context = context(&state, &request);
    let Some(body) = unprefixed(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if served_before(body.form_token.as_deref(), device.last_signup_at_ms) {
        // A form from before the last signup: sent twice by a double tap, or again from
        // the browser's history, where answering it could show that customer's input.
        // The thanks, which show nothing of anyone, then a fresh form.
        return see_other(&thanks_path(&context));
    }
    let channel = Channel::Form {
        form_id: body.form_id.as_deref(),
        form_token: body.form_token.as_deref(),
        door: FormDoor::Kiosk(&device.id),
    };
    let client_ip = state.limiter.client_ip(&request);
    let mut submission = body.submission(channel, &request, client_ip, context.language);
    submission.source_tag = Some(device.source());
    let taken = intake(&state).take(submission).await;
    if let Ok(Outcome::Stored(_)) = taken
        && let Err(error) = state.kiosk.signed_up(&device.id).await
    {
        tracing::warn!(%error, "a tablet's signup could not be noted on the tablet");
    }
    let prefix = field_prefix();
    let idle = state.kiosk.settings.idle;
    let page = move |view: &FormView<'_>| kiosk_form_page(view, idle);
    let answer = Answer {
        page: &page,
        success: thanks_path(&context),
        field_prefix: Some(&prefix),
    };
    respond(taken, &body, context, &state, &answer)
}

/// Whether the form `token` was served before `last_signup_ms`, by the issue time it
/// carries (`issued.form_id.mac`, in seconds; a forged one fails the intake's check).
fn served_before(token: Option<&str>, last_signup_ms: Option<i64>) -> bool {
    let issued_secs = token
        .and_then(|token| token.split('.').next())
        .and_then(|issued| issued.parse::<i64>().ok());
    match (issued_secs, last_signup_ms) {
        (Some(issued), Some(last)) => issued.saturating_mul(1000) < last - 1000,
        _ => false,
    }
}

/// The thank-you screen, in the language the customer chose.
fn thanks_path(context: &PageContext<'_>) -> String {
    context.localized(&format!("{KIOSK_HOME}/thanks"))
}

/// The body with its inputs' names as the form knows them: the tablet's prefix (sent in
/// `field_prefix`) taken off.
fn unprefixed(body: &[u8]) -> Option<SignupBody> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let prefix = pairs
        .iter()
        .find(|(name, _)| name == "field_prefix")
        .map(|(_, value)| format!("{value}-"));
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(name, _)| name != "field_prefix")
        .map(|(name, value)| match prefix.as_deref() {
            Some(prefix) => match name.strip_prefix(prefix) {
                Some(bare) => (bare.to_owned(), value),
                None => (name, value),
            },
            None => (name, value),
        })
        .collect();
    let encoded = serde_urlencoded::to_string(&pairs).ok()?;
    serde_urlencoded::from_str(&encoded).ok()
}

pub async fn thanks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = device(&request, &state).await {
        return refused;
    }
    let context = context(&state, &request);
    html(
        StatusCode::OK,
        kiosk_thanks_page(&context, state.kiosk.settings.thanks),
    )
}

/// The pairing link, opened on the tablet: a button to pair.
pub async fn pairing(request: HttpRequest) -> HttpResponse {
    html(StatusCode::OK, pairing_page(Some(request.path())))
}

/// The button pressed: the tablet gets its cookie and the form.
pub async fn pair(
    request: HttpRequest,
    token: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Each try writes to the database, and guesses are for the admin's limit to stop.
    if let Err(refused) = state.login_limiter.check(&request) {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, refused.retry_after_secs))
            .finish();
    }
    match state.kiosk.pair(&token).await {
        Ok(Ok((cookie, name))) => {
            tracing::info!(device = %name, "a counter tablet was paired");
            let mut response = see_other(KIOSK_HOME);
            let _ = response.add_cookie(&device_cookie(&state, &request, cookie));
            response
        }
        Ok(Err(_)) => html(StatusCode::GONE, pairing_page(None)),
        Err(error) => {
            tracing::error!(%error, "a tablet could not be paired");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_served_before_the_last_signup_is_spent() {
        let last = Some(1_800_000_000_000);
        assert!(served_before(Some("1799999990.id.mac"), last));
        assert!(!served_before(Some("1800000005.id.mac"), last));
        // Issued in the second of the signup: the same customer's form.
        assert!(!served_before(Some("1800000000.id.mac"), last));
        assert!(!served_before(Some("1799999990.id.mac"), None));
        assert!(!served_before(None, last));
        assert!(!served_before(Some("garbage"), last));
    }

    #[test]
    fn a_tablets_inputs_are_read_under_their_own_names() {
        let body = "field_prefix=k1a2b3c4d&k1a2b3c4d-email=ada%40example.com\
                    &k1a2b3c4d-first_name=Ada&form_id=abcdefgh&website=";
        let body = unprefixed(body.as_bytes()).unwrap();
        assert_eq!(body.fields.email.as_deref(), Some("ada@example.com"));
        assert_eq!(body.fields.first_name.as_deref(), Some("Ada"));
        assert_eq!(body.form_id.as_deref(), Some("abcdefgh"));
        assert_eq!(body.website.as_deref(), Some(""));
    }
}
