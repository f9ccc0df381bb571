//! `/confirm/{token}`: the link in a confirmation email (double opt-in). `GET` shows one
//! button, and only its `POST` confirms: mail filters open links to scan them, and must
//! not confirm an address for its owner. What confirming does is the intake's
//! (`Intake::confirm`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, html, intake, page_context};
use crate::consent::Confirmation;
use crate::form_token::unix_now;
use crate::intake::store::HeldSignup;
use crate::intake::{Confirmed, ConfirmedFrom};
use crate::templates::{ConfirmView, PageContext, Whose, confirm_page};

pub async fn page(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/confirm/");
    context.path_tail = Some(&token);
    match checked(&state, &token) {
        Ok(link) => {
            // Without the database the page still asks; it only cannot say whose.
            let held = intake(&state).held_for(&link).await.ok().flatten();
            let whose = held.as_ref().map(whose);
            answer(&context, ConfirmView::Ask { whose })
        }
        Err(view) => answer(&context, view),
    }
}

/// The held signup's first name, the initial of its last name, and the end of its phone
/// number, no more: enough for the owner of the address to know their own, little for
/// anyone else the address reaches (a mistyped one).
fn whose(held: &HeldSignup) -> Whose {
    let content = &held.content;
    let initial = content
        .last_name
        .as_deref()
        .and_then(|last| last.chars().next())
        .map(|initial| format!("{initial}."));
    let name = [content.first_name.clone(), initial]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let phone_ending = content.phone.as_deref().and_then(|phone| {
        let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
        (digits.len() >= 4).then(|| digits[digits.len() - 2..].iter().collect())
    });
    Whose {
        name: (!name.is_empty()).then_some(name),
        phone_ending,
    }
}

pub async fn confirm(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/confirm/");
    context.path_tail = Some(&token);
    let link = match checked(&state, &token) {
        Ok(link) => link,
        Err(view) => return answer(&context, view),
    };
    let from = ConfirmedFrom {
        ip_address: state.limiter.client_ip(&request),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok()),
        language: context.language,
    };
    match intake(&state).confirm(&link, from).await {
        Ok(Confirmed::Done) => answer(&context, ConfirmView::Done),
        Ok(Confirmed::Withdrew) => answer(&context, ConfirmView::Withdrawn),
        Err(error) => {
            tracing::warn!(%error, "a confirmation could not reach the database");
            let mut response = answer(&context, ConfirmView::Ask { whose: None });
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(header::RETRY_AFTER, 5.into());
            response
        }
    }
}

/// What the token names, if it is this service's and still good.
fn checked(state: &AppState, token: &str) -> Result<Confirmation, ConfirmView> {
    let link = state
        .links
        .verify_confirm(token)
        .ok_or(ConfirmView::Invalid)?;
    let window = state.consent_settings.confirmation_window.as_secs();
    let age = unix_now() - link.issued_secs;
    if age > i64::try_from(window).unwrap_or(i64::MAX) {
        return Err(ConfirmView::Expired {
            days: window / 86_400,
        });
    }
    Ok(link)
}

fn answer(context: &PageContext<'_>, view: ConfirmView) -> HttpResponse {
    let status = match view {
        ConfirmView::Invalid => StatusCode::BAD_REQUEST,
        ConfirmView::Expired { .. } => StatusCode::GONE,
        _ => StatusCode::OK,
    };
    html(status, confirm_page(context, view))
}
