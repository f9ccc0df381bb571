//! `/confirm/{token}`: the link in a confirmation email (double opt-in). `GET` shows one
//! button, and only its `POST` confirms: mail filters open links to scan them, and must
//! not confirm an address for its owner. Confirming records a `confirmed` event with
//! where it came from, stores the signups that waited for it (`DOUBLE_OPT_IN=all`), and
//! queues the welcome email if there is one.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, html, page_context};
use crate::consent::{
    Actor, ConsentChannel, ConsentEvent, ConsentKind, ConsentState, PersonKey, standing,
};
use crate::form_token::unix_now;
use crate::mail::{MailKind, VisitorMail};
use crate::storage::StorageError;
use crate::templates::{ConfirmView, PageContext, confirm_page};

pub async fn page(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/confirm/");
    context.path_tail = Some(&token);
    match checked(&state, &token) {
        Ok(_) => answer(&context, ConfirmView::Ask),
        Err(view) => answer(&context, view),
    }
}

pub async fn confirm(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/confirm/");
    context.path_tail = Some(&token);
    let (person, issued_secs) = match checked(&state, &token) {
        Ok(named) => named,
        Err(view) => return answer(&context, view),
    };
    match confirmed(&state, &request, person, issued_secs, &context).await {
        Ok(view) => answer(&context, view),
        Err(error) => {
            tracing::warn!(%error, "a confirmation could not reach the database");
            let mut response = answer(&context, ConfirmView::Ask);
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(header::RETRY_AFTER, 5.into());
            response
        }
    }
}

/// Who the token names and when it was issued, if it is this service's and still good.
fn checked(state: &AppState, token: &str) -> Result<(PersonKey, i64), ConfirmView> {
    let (person, issued) = state
        .links
        .verify_confirm(token)
        .ok_or(ConfirmView::Invalid)?;
    let window = state.consent_settings.confirmation_window.as_secs();
    let age = unix_now() - issued;
    if age > i64::try_from(window).unwrap_or(i64::MAX) {
        return Err(ConfirmView::Expired {
            days: window / 86_400,
        });
    }
    Ok((person, issued))
}

fn answer(context: &PageContext<'_>, view: ConfirmView) -> HttpResponse {
    let status = match view {
        ConfirmView::Invalid => StatusCode::BAD_REQUEST,
        ConfirmView::Expired { .. } => StatusCode::GONE,
        _ => StatusCode::OK,
    };
    html(status, confirm_page(context, view))
}

/// Confirms `person`'s address, once: what waited for it goes ahead.
async fn confirmed(
    state: &AppState,
    request: &HttpRequest,
    person: PersonKey,
    issued_secs: i64,
    context: &PageContext<'_>,
) -> Result<ConfirmView, StorageError> {
    let ledger = state.db.consent();
    let submissions = state.db.submissions();
    let history = ledger.history(&person).await?;
    let email_consent = standing(&history).remove(&ConsentChannel::Email);
    if let Some(current) = &email_consent
        && current.state == ConsentState::Withdrawn
        && current.since_ms > issued_secs * 1000
    {
        return Ok(ConfirmView::Withdrawn);
    }
    let held = submissions.held(&person).await?;
    let unconfirmed = email_consent
        .as_ref()
        .filter(|s| s.state == ConsentState::Unconfirmed);
    let email = held.first().map(|h| h.content.email.clone()).or_else(|| {
        unconfirmed
            .and_then(|s| s.given.as_ref()?.evidence.as_ref())
            .map(|e| e.email.clone())
    });
    let Some(email) = email else {
        // Confirmed before, or erased since: nothing waits.
        return Ok(ConfirmView::Done);
    };
    let mut event = ConsentEvent::now(person.clone(), ConsentKind::Confirmed, Actor::Visitor)
        .from_source("confirm");
    if unconfirmed.is_some() {
        event = event.on(ConsentChannel::Email);
    }
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok());
    let ip = state.limiter.client_ip(request);
    event.evidence = Some(state.consent.evidence(&email, None, ip, agent));
    ledger.record(event).await?;
    // The newest signup waiting is the person's word; the others (a double click, a
    // form sent again, or a bot's) go with it.
    if let Some(newest) = held.last() {
        match newest.confirmed() {
            Some(submission) => {
                submissions.insert(submission).await?;
                state.delivery.wake();
            }
            None => {
                tracing::warn!(held = %newest.id, "a confirmed signup could not be read back; it is dropped")
            }
        }
        for signup in &held {
            submissions.release(&signup.id).await?;
        }
    }
    tracing::info!(signups = held.len(), "a visitor confirmed their address");
    if state.consent_settings.welcome.is_some() {
        let welcome = VisitorMail::new(MailKind::Welcome, person, &email, context.language.tag());
        state.mail.post(welcome).await;
    }
    Ok(ConfirmView::Done)
}
