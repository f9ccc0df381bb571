use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, html, html_text, page_context, request_id, see_other};
use crate::captcha::CaptchaVerdict;
use crate::domain::{Birthday, FormErrors, IdempotencyKey, SignupForm};
use crate::form_token::TokenVerdict;
use crate::i18n::Arg;
use crate::intake::store::{Inserted, NewSubmission, Source};
use crate::rate_limit::{FLOOD_DELAY, TooManyRequests};
use crate::storage::StorageError;
use crate::templates::{
    FormView, PageContext, signup_page, success_url, thanks_page, visitor_error_page,
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
    let key = (
        context.language.index(),
        presentation == Presentation::Embed,
        context.language_chosen,
    );
    // The page carries the birthday's latest year: a new year renders it again.
    let year = Birthday::latest_year();
    let cached = state.form_pages.get(key, year, |token, form_id| {
        let values = SignupForm {
            form_id: Some(form_id.to_owned()),
            ..SignupForm::default()
        };
        let page = FormPage {
            context,
            values: &values,
            errors: &FormErrors::default(),
            notice: None,
            token,
        };
        page.markup(state).into_string()
    });
    let form_id = IdempotencyKey::random();
    let token = state.form_tokens.issue(now_secs(), form_id.as_ref());
    html_text(StatusCode::OK, cached.fill(&token, form_id.as_ref()))
}

pub async fn thanks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let context = Presentation::Page.context(&state, &request, "/thanks");
    html(StatusCode::OK, thanks_page(&context))
}

pub async fn embedded_thanks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let context = Presentation::Embed.context(&state, &request, "/embed/thanks");
    html(StatusCode::OK, thanks_page(&context))
}

pub async fn submit_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    submit(&request, &body, &state, Presentation::Page)
        .await
        .unwrap_or_else(|failure| failure.render(&request, &state, Presentation::Page))
}

pub async fn submit_embedded_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    submit(&request, &body, &state, Presentation::Embed)
        .await
        .unwrap_or_else(|failure| failure.render(&request, &state, Presentation::Embed))
}

/// `POST /` (and `/embed`): limit, screen out bots, parse, then store durably, then
/// redirect. Clover is never called here: the visitor waits only for the local commit.
async fn submit(
    request: &HttpRequest,
    body: &[u8],
    state: &AppState,
    presentation: Presentation,
) -> Result<HttpResponse, FormFailure> {
    let context = presentation.context(state, request, presentation.form_path());
    let form: SignupForm =
        serde_urlencoded::from_bytes(body).map_err(|_| FormFailure::Malformed)?;
    let key = match screen(state, &form) {
        Screening::Person(key) => key,
        Screening::Bot(reason) => {
            // Limited like any signup before it is counted, so a flood of bots is
            // answered as cheaply as any other; then the same answer as a person gets,
            // so a bot learns nothing, and nothing is kept but a count, in memory until
            // the next flush.
            if let Err(refused) = state.limiter.check(request) {
                return Ok(refusal(refused, body, context, state).await);
            }
            tracing::info!(reason, "a bot submission was turned away");
            state.bots.count(reason);
            return Ok(see_other(&success_url(&context)));
        }
        Screening::Expired => {
            // Still the same form: its id stays, so a signup already stored from it is
            // not stored twice.
            let id = form.form_id.as_deref().and_then(IdempotencyKey::parse);
            let id = id.unwrap_or_else(IdempotencyKey::random);
            return Ok(offer_again(state, context, &form, &id, "notice-expired"));
        }
    };
    let token = form.form_token.as_deref().unwrap_or_default();
    let signup = match form.parse(&state.form.rules) {
        Ok(signup) => signup,
        Err(errors) => {
            // The same token again: its issue time still tells when the form was served.
            let page = FormPage {
                context,
                values: &form,
                errors: &errors,
                notice: None,
                token,
            };
            return Ok(page.respond(StatusCode::UNPROCESSABLE_ENTITY, state));
        }
    };
    // A person's mistakes, answered above, write nothing and cost nothing of the limit:
    // someone correcting a form three times is not a flood. What would be stored is
    // limited before anything else is done with it.
    if let Err(refused) = state.limiter.check(request) {
        return Ok(refusal(refused, body, context, state).await);
    }
    if let Some(captcha) = &state.captcha {
        let ip = state.limiter.client_ip(request).map(|ip| ip.to_string());
        let (status, notice) = match captcha
            .verify(form.captcha_response.as_deref(), ip.as_deref())
            .await
        {
            CaptchaVerdict::Passed => (StatusCode::OK, None),
            CaptchaVerdict::Failed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(context.t("notice-captcha-failed")),
            ),
            CaptchaVerdict::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(context.t("notice-captcha-unavailable")),
            ),
        };
        if let Some(notice) = notice {
            let page = FormPage {
                context,
                values: &form,
                errors: &FormErrors::default(),
                notice: Some(&notice),
                token,
            };
            return Ok(page.respond(status, state));
        }
    }
    // The wording the visitor saw is what they agreed to: record it in their language.
    let consent_text = state
        .form
        .consent_text
        .clone()
        .unwrap_or_else(|| context.t("consent-default"));
    let inserted = state
        .db
        .submissions()
        .insert(NewSubmission {
            signup,
            source: Source::Form,
            consent_text,
            key: Some(key),
        })
        .await
        .map_err(FormFailure::Storage)?;
    match inserted {
        Inserted::New(id) => {
            tracing::info!(submission = %id, source = "form", "signup stored and queued");
            state.delivery.wake();
        }
        Inserted::AlreadyStored(id) => {
            tracing::info!(submission = %id, source = "form", "the same form was sent again");
        }
        Inserted::KeyTaken(id) => {
            // One served form, one signup: a second one (a friend's, say) needs a form of
            // its own. The visitor's input comes back in a fresh form, ready to send.
            tracing::info!(
                submission = %id,
                source = "form",
                "a used form was sent with another signup; a fresh form was offered"
            );
            let fresh = IdempotencyKey::random();
            return Ok(offer_again(
                state,
                context,
                &form,
                &fresh,
                "notice-form-used",
            ));
        }
    }
    Ok(see_other(&success_url(&context)))
}

/// The answer to a post over the per-address limit: the form again with the visitor's
/// input and when to come back, or, for a flood, a line of text.
async fn refusal(
    refused: TooManyRequests,
    body: &[u8],
    context: PageContext<'_>,
    state: &AppState,
) -> HttpResponse {
    let retry_after_secs = refused.retry_after_secs;
    let notice = context.language.text_with(
        "notice-rate-limited",
        &[("seconds", Arg::count(retry_after_secs))],
    );
    if refused.flooding {
        tokio::time::sleep(FLOOD_DELAY).await;
        return flood_refusal(notice, retry_after_secs);
    }
    // Unread or unreadable, the form comes back empty rather than not at all.
    let form: SignupForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let page = FormPage {
        context,
        values: &form,
        errors: &FormErrors::default(),
        notice: Some(&notice),
        token: form.form_token.as_deref().unwrap_or_default(),
    };
    let mut response = page.respond(StatusCode::TOO_MANY_REQUESTS, state);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after_secs.into());
    response
}

/// The visitor's input in the form again, served anew as the form `form_id` with a
/// notice. Its token is backdated by the minimum fill time: the visitor has filled the
/// form in already, and sending it straight back must not read as a bot.
fn offer_again(
    state: &AppState,
    context: PageContext<'_>,
    form: &SignupForm,
    form_id: &IdempotencyKey,
    notice: &str,
) -> HttpResponse {
    let token = state.form_tokens.issue_filled(now_secs(), form_id.as_ref());
    let values = SignupForm {
        form_id: Some(form_id.as_ref().to_owned()),
        ..form.clone()
    };
    let notice = context.t(notice);
    let page = FormPage {
        context,
        values: &values,
        errors: &FormErrors::default(),
        notice: Some(&notice),
        token: &token,
    };
    page.respond(StatusCode::OK, state)
}

/// What the hidden fields say about who sent the form.
enum Screening {
    /// A person, sending the form served with this id.
    Person(IdempotencyKey),
    Bot(&'static str),
    /// A person who left the page open for hours: ask again, keep their input.
    Expired,
}

fn screen(state: &AppState, form: &SignupForm) -> Screening {
    if form
        .website
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty())
    {
        return Screening::Bot("honeypot");
    }
    let form_id = form.form_id.as_deref();
    match state
        .form_tokens
        .verify(form.form_token.as_deref(), form_id, now_secs())
    {
        // Every id a token is issued for is a valid key.
        TokenVerdict::Valid => match form_id.and_then(IdempotencyKey::parse) {
            Some(key) => Screening::Person(key),
            None => Screening::Bot("bad_token"),
        },
        TokenVerdict::Expired => Screening::Expired,
        TokenVerdict::TooFast => Screening::Bot("too_fast"),
        TokenVerdict::Forged => Screening::Bot("bad_token"),
    }
}

/// The answer to a visitor still sending after several refusals: a line of text and a
/// closed connection, after [`FLOOD_DELAY`], which costs next to nothing, so a flood
/// takes little from others.
fn flood_refusal(message: String, retry_after_secs: u64) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, retry_after_secs))
        .content_type("text/plain; charset=utf-8")
        .force_close()
        .body(message)
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The form page in one of its states.
struct FormPage<'a> {
    context: PageContext<'a>,
    values: &'a SignupForm,
    errors: &'a FormErrors,
    notice: Option<&'a str>,
    token: &'a str,
}

impl FormPage<'_> {
    fn respond(&self, status: StatusCode, state: &AppState) -> HttpResponse {
        html(status, self.markup(state))
    }

    fn markup(&self, state: &AppState) -> maud::Markup {
        let view = FormView {
            context: self.context,
            values: self.values,
            errors: self.errors,
            rules: &state.form.rules,
            consent_text: state.form.consent_text.as_deref(),
            notice: self.notice,
            form_token: self.token,
            captcha_site_key: state.captcha.as_ref().map(|c| c.site_key()),
        };
        signup_page(&view)
    }
}

/// What can go wrong with a form post beyond the visitor's own mistakes.
#[derive(Debug, thiserror::Error)]
pub enum FormFailure {
    /// The body is not a form at all (a broken client or a bot).
    #[error("the form could not be read")]
    Malformed,
    /// The submission could not be saved: the visitor must be told, not thanked.
    #[error("the submission could not be stored: {0}")]
    Storage(StorageError),
}

impl FormFailure {
    fn status(&self) -> StatusCode {
        match self {
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer page, in the visitor's language and the merchant's look.
    fn render(
        &self,
        request: &HttpRequest,
        state: &AppState,
        presentation: Presentation,
    ) -> HttpResponse {
        let context = presentation.context(state, request, presentation.form_path());
        let (title, message) = match self {
            Self::Malformed => ("error-malformed-title", "error-malformed-message"),
            Self::Storage(error) => {
                tracing::error!(%error, "a submission could not be stored");
                ("error-storage-title", "error-storage-message")
            }
        };
        let id = request_id(request);
        let page = visitor_error_page(&context, title, message, id.as_deref());
        html(self.status(), page)
    }
}
