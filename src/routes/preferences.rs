//! A person's consent page and the one-click withdrawal, reached from the links in an
//! email. `GET /preferences/{token}` shows what they agreed to and when, with one button
//! to withdraw (`POST /preferences/{token}`). `POST /unsubscribe/{token}` is the address
//! of the email's `List-Unsubscribe` header, which a mail client posts to when the person
//! clicks its own unsubscribe button (RFC 8058): it withdraws at once, with no page and
//! no CSRF token, since the signed token is the proof and names one person. A `GET` there
//! (a link scanner, an older mail client) only leads to the page: it withdraws nothing.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, html, page_context, request_id, see_other};
use crate::consent::{
    Actor, ConsentChannel, ConsentEvent, ConsentKind, ConsentState, PersonKey, standing,
};
use crate::storage::StorageError;
use crate::templates::{
    PageContext, UnsubscribeView, VisitorError, unsubscribe_page, visitor_error_page,
};

pub async fn page(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/preferences/");
    let Some((person, channel)) = state.links.verify(&token) else {
        return invalid(&context);
    };
    context.path_tail = Some(&token);
    match state.db.consent().history(&person).await {
        Ok(history) => {
            let standings = standing(&history);
            let view = UnsubscribeView::Standing {
                channel,
                standing: standings.get(&channel),
            };
            html(StatusCode::OK, unsubscribe_page(&context, view))
        }
        Err(error) => unavailable(&request, &context, &error),
    }
}

/// The page's button: withdraws, and says so.
pub async fn withdraw(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let mut context = page_context(&state, &request, false, "/preferences/");
    let Some((person, channel)) = state.links.verify(&token) else {
        return invalid(&context);
    };
    context.path_tail = Some(&token);
    match withdrawn(&state, &request, person, channel, "preferences").await {
        Ok(()) => html(
            StatusCode::OK,
            unsubscribe_page(&context, UnsubscribeView::Done { channel }),
        ),
        Err(error) => unavailable(&request, &context, &error),
    }
}

/// A mail client's one-click post: withdraws, and answers in a word.
pub async fn one_click(
    request: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let Some((person, channel)) = state.links.verify(&token) else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("This unsubscribe link is not valid.");
    };
    match withdrawn(&state, &request, person, channel, "one-click").await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("Unsubscribed."),
        Err(error) => {
            tracing::warn!(%error, "a one-click unsubscribe could not reach the database");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, 5))
                .content_type("text/plain; charset=utf-8")
                .body("Not done: please try again in a moment.")
        }
    }
}

/// `GET /unsubscribe/{token}`: never withdraws (a scanner following links would
/// unsubscribe everyone), but leads a person to the page that does.
pub async fn to_page(token: web::Path<String>) -> HttpResponse {
    see_other(&format!("/preferences/{token}"))
}

/// Records the withdrawal, with where it came from as evidence, and tells the merchant's
/// event webhook. Recorded even without a consent standing (a welcome, a confirmation
/// not asked for): it is the person's word that they want no email, and no email goes to
/// them again. A consent already withdrawn is left as it is.
async fn withdrawn(
    state: &AppState,
    request: &HttpRequest,
    person: PersonKey,
    channel: ConsentChannel,
    source: &str,
) -> Result<(), StorageError> {
    let ledger = state.db.consent();
    let history = ledger.history(&person).await?;
    let current = standing(&history).remove(&channel);
    if current
        .as_ref()
        .is_some_and(|c| c.state == ConsentState::Withdrawn)
    {
        return Ok(());
    }
    // The address, as evidence, from any event that still has it.
    let email = history
        .iter()
        .rev()
        .find_map(|event| event.evidence.as_ref())
        .map(|evidence| evidence.email.clone());
    let mut event = ConsentEvent::now(person.clone(), ConsentKind::Withdrawn, Actor::Visitor)
        .on(channel)
        .from_source(source);
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok());
    let ip = state.limiter.client_ip(request);
    event.evidence = (email.as_deref()).map(|email| state.consent.evidence(email, None, ip, agent));
    ledger.record(event).await?;
    if channel == ConsentChannel::Email {
        state.withdrawn.add(person.clone());
    }
    tracing::info!(
        channel = channel.as_str(),
        source,
        "a person withdrew their consent"
    );
    state
        .events
        .consent_withdrawn(&person, channel, Actor::Visitor, email.as_deref())
        .await;
    Ok(())
}

fn invalid(context: &PageContext<'_>) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        unsubscribe_page(context, UnsubscribeView::Invalid),
    )
}

fn unavailable(
    request: &HttpRequest,
    context: &PageContext<'_>,
    error: &StorageError,
) -> HttpResponse {
    tracing::warn!(%error, "the consent page could not reach the database");
    let id = request_id(request);
    let page = visitor_error_page(context, VisitorError::Unavailable, id.as_deref());
    let mut response = html(StatusCode::SERVICE_UNAVAILABLE, page);
    response.headers_mut().insert(header::RETRY_AFTER, 5.into());
    response
}
