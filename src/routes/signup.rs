//! The HTML form, as the service's own page and inside the merchant's iframe: it serves
//! the form, hands what is posted to the intake, and words the outcome as a page.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::Markup;

use super::wire::SignupBody;
use super::{AppState, html, html_text, intake, page_context, request_id, see_other};
use crate::domain::{Birthday, FormErrors, IdempotencyKey, SignupForm, SourceTag};
use crate::form_token::unix_now;
use crate::intake::{Channel, FormDoor, Outcome};
use crate::rate_limit::TooManyRequests;
use crate::storage::StorageError;
use crate::templates::{
    FormView, Notice, PageContext, VisitorError, signup_page, success_url, thanks_page,
    visitor_error_page,
};

/// Where the form is shown: as the service's own page, or inside the merchant's iframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    Page,
    Embed,
}

impl Presentation {
    fn form_path(self) -> &'static str {
        match self {
            Presentation::Page => "/",
            Presentation::Embed => "/embed",
        }
    }

    fn context<'a>(
        self,
        state: &'a AppState,
        request: &HttpRequest,
        path: &'static str,
    ) -> PageContext<'a> {
        page_context(state, request, self == Presentation::Embed, path)
    }
}

pub async fn show_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    render_form(&request, &state, Presentation::Page)
}

pub async fn show_embedded_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    render_form(&request, &state, Presentation::Embed)
}

/// The empty form, from the cache of renderings with this request's token and id.
fn render_form(
    request: &HttpRequest,
    state: &AppState,
    presentation: Presentation,
) -> HttpResponse {
    let context = presentation.context(state, request, presentation.form_path());
    let source = query_source(request);
    let key = (
        context.language.index(),
        presentation == Presentation::Embed,
        context.language_chosen,
    );
    // The page carries the birthday's latest year: a new year renders it again.
    let year = Birthday::latest_year();
    let cached = state.form_pages.get(key, year, |token, form_id, source| {
        let empty = SignupForm::default();
        let context = PageContext {
            source: Some(source),
            ..context
        };
        signup_page(&form_view(state, context, &empty, form_id, token)).into_string()
    });
    let form_id = IdempotencyKey::random();
    let token = state.form_tokens.issue(unix_now(), form_id.as_ref());
    html_text(
        StatusCode::OK,
        cached.fill(&token, form_id.as_ref(), source.as_ref()),
    )
}

/// `?src=`, when it is a slug: anything else is as if there were none.
fn query_source(request: &HttpRequest) -> Option<SourceTag> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "src")
        .and_then(|(_, value)| SourceTag::slug(&value))
}

pub async fn thanks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let context = Presentation::Page.context(&state, &request, "/thanks");
    html(
        StatusCode::OK,
        thanks_page(&context, state.consent_settings.double_opt_in),
    )
}

pub async fn embedded_thanks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let context = Presentation::Embed.context(&state, &request, "/embed/thanks");
    html(
        StatusCode::OK,
        thanks_page(&context, state.consent_settings.double_opt_in),
    )
}

pub async fn submit_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    submit(&request, &body, &state, Presentation::Page).await
}

pub async fn submit_embedded_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    submit(&request, &body, &state, Presentation::Embed).await
}

/// `POST /` (and `/embed`): the intake stores the signup durably, then the visitor is
/// redirected (Post/Redirect/Get), or gets the form back with their input.
async fn submit(
    request: &HttpRequest,
    body: &[u8],
    state: &AppState,
    presentation: Presentation,
) -> HttpResponse {
    let mut context = presentation.context(state, request, presentation.form_path());
    let Ok(body) = serde_urlencoded::from_bytes::<SignupBody>(body) else {
        // Not a form at all: a broken client or a bot.
        return failure_page(request, context, VisitorError::Malformed);
    };
    let channel = Channel::Form {
        form_id: body.form_id.as_deref(),
        form_token: body.form_token.as_deref(),
        door: match presentation {
            Presentation::Page => FormDoor::Page,
            Presentation::Embed => FormDoor::Embed,
        },
    };
    let client_ip = state.limiter.client_ip(request);
    let submission = body.submission(channel, request, client_ip, context.language);
    // The form comes back with the source it was sent with, if it must come back.
    let source = submission.source_tag.clone();
    context.source = source.as_ref();
    let taken = intake(state).take(submission).await;
    let answer = Answer {
        page: &signup_page,
        success: success_url(&context),
        field_prefix: None,
    };
    respond(taken, &body, context, state, &answer)
}

/// How a door answers: the page its form is shown again on, where a stored signup goes,
/// and the prefix of its inputs' names (a tablet's).
pub(super) struct Answer<'a> {
    pub page: &'a dyn Fn(&FormView<'_>) -> Markup,
    pub success: String,
    pub field_prefix: Option<&'a str>,
}

/// The page for an outcome. A form shown again keeps the visitor's input, its id, and its
/// token, whose issue time still tells when the form was served.
pub(super) fn respond(
    taken: Result<Outcome, StorageError>,
    body: &SignupBody,
    context: PageContext<'_>,
    state: &AppState,
    answer: &Answer<'_>,
) -> HttpResponse {
    let form_id = body
        .form_id
        .as_deref()
        .and_then(IdempotencyKey::parse)
        .unwrap_or_else(IdempotencyKey::random);
    let token = body.form_token.as_deref().unwrap_or_default();
    let again = FormView {
        field_prefix: answer.field_prefix,
        ..form_view(state, context, &body.fields, form_id.as_ref(), token)
    };
    let page = answer.page;
    let with_notice = |notice| FormView {
        notice: Some(notice),
        ..again
    };
    let Ok(outcome) = taken else {
        return not_saved(&with_notice(Notice::NotSaved), page);
    };
    match outcome {
        // A bot gets the same answer as a person, so it learns nothing.
        Outcome::Stored(_) | Outcome::Bot(_) => see_other(&answer.success),
        Outcome::Invalid(errors) => {
            let view = FormView {
                errors: &errors,
                ..again
            };
            html(StatusCode::UNPROCESSABLE_ENTITY, page(&view))
        }
        Outcome::TooMany(refused) => refusal(refused, again, page),
        Outcome::CaptchaFailed => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&with_notice(Notice::CaptchaFailed)),
        ),
        Outcome::CaptchaUnavailable => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page(&with_notice(Notice::CaptchaUnavailable)),
        ),
        Outcome::Expired(form_id) => offer_again(again, &form_id, Notice::Expired, state, page),
        // A second signup (a friend's, say) needs a form of its own: the input comes back
        // in a fresh form, ready to send.
        Outcome::FormUsed => offer_again(
            again,
            &IdempotencyKey::random(),
            Notice::FormUsed,
            state,
            page,
        ),
    }
}

/// When a visitor whose signup could not be stored is told to try again.
pub(super) const NOT_SAVED_RETRY_SECONDS: u64 = 5;

/// The database could not store it (a failover, a full disk, a lock held too long): the
/// same form again, so that sending it once more stores it once, even if this attempt
/// did land after all.
fn not_saved(view: &FormView<'_>, page: &dyn Fn(&FormView<'_>) -> Markup) -> HttpResponse {
    let mut response = html(StatusCode::SERVICE_UNAVAILABLE, page(view));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, NOT_SAVED_RETRY_SECONDS.into());
    response
}

/// The answer to a post over the per-address limit: the form again with the visitor's
/// input and when to come back, or, for a flood, a line of text.
fn refusal(
    refused: TooManyRequests,
    view: FormView<'_>,
    page: &dyn Fn(&FormView<'_>) -> Markup,
) -> HttpResponse {
    let retry_after_secs = refused.retry_after_secs;
    let notice = Notice::RateLimited { retry_after_secs };
    if refused.flooding {
        return flood_refusal(notice.text(view.context.language), retry_after_secs);
    }
    let view = FormView {
        notice: Some(notice),
        ..view
    };
    let mut response = html(StatusCode::TOO_MANY_REQUESTS, page(&view));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_secs.into());
    response
}

/// The visitor's input in the form again, served anew as the form `form_id` with a
/// notice. Its token is backdated by the minimum fill time: the visitor has filled the
/// form in already, and sending it straight back must not read as a bot.
fn offer_again(
    view: FormView<'_>,
    form_id: &IdempotencyKey,
    notice: Notice,
    state: &AppState,
    page: &dyn Fn(&FormView<'_>) -> Markup,
) -> HttpResponse {
    let token = state.form_tokens.issue_filled(unix_now(), form_id.as_ref());
    let view = FormView {
        form_id: form_id.as_ref(),
        notice: Some(notice),
        form_token: &token,
        ..view
    };
    html(StatusCode::OK, page(&view))
}

/// The answer to a visitor still sending after several refusals: a line of text and a
/// closed connection, after [`crate::rate_limit::FLOOD_DELAY`] (the intake waited it),
/// which costs next to nothing, so a flood takes little from others.
fn flood_refusal(message: String, retry_after_secs: u64) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, retry_after_secs))
        .content_type("text/plain; charset=utf-8")
        .force_close()
        .body(message)
}

/// What went wrong beyond the visitor's own mistakes, in their language and the
/// merchant's look, with the request id for support.
fn failure_page(
    request: &HttpRequest,
    context: PageContext<'_>,
    error: VisitorError,
) -> HttpResponse {
    let status = match error {
        VisitorError::Malformed => StatusCode::BAD_REQUEST,
        VisitorError::Forbidden => StatusCode::FORBIDDEN,
        VisitorError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let id = request_id(request);
    html(status, visitor_error_page(&context, error, id.as_deref()))
}

/// The form as this deployment shows it, with these values, id and token, no errors and
/// no notice.
pub(super) fn form_view<'a>(
    state: &'a AppState,
    context: PageContext<'a>,
    values: &'a SignupForm,
    form_id: &'a str,
    form_token: &'a str,
) -> FormView<'a> {
    FormView {
        context,
        values,
        errors: FormErrors::none(),
        rules: &state.form.rules,
        consent_text: state.form.consent_text.as_deref(),
        sms_consent_text: state.form.sms_consent_text.as_deref(),
        notice: None,
        form_id,
        form_token,
        captcha_site_key: state.captcha.as_ref().map(|c| c.site_key()),
        field_prefix: None,
    }
}
