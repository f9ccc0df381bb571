use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::{AppState, html, request_id, see_other};
use crate::captcha::CaptchaVerdict;
use crate::domain::{FormErrors, IdempotencyKey, SignupForm};
use crate::form_token::TokenVerdict;
use crate::rate_limit::TooManyRequests;
use crate::storage::{Inserted, Source, StorageError};
use crate::templates::{FormView, error_page, signup_page, thanks_page};

pub async fn show_form(state: web::Data<AppState>) -> HttpResponse {
    let token = state.form_tokens.issue(now_secs());
    let page = FormPage {
        values: &SignupForm::default(),
        errors: &FormErrors::default(),
        notice: None,
        token: &token,
    };
    page.respond(StatusCode::OK, &state)
}

pub async fn thanks() -> HttpResponse {
    html(StatusCode::OK, thanks_page())
}

/// `POST /`: screen out bots, parse, then store durably, then redirect. Clover is never
/// called here: the visitor waits only for the local commit.
pub async fn submit_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FormPageError> {
    let form: SignupForm =
        serde_urlencoded::from_bytes(&body).map_err(|_| FormPageError::Malformed)?;
    let token = match screen(&state, &form) {
        Screening::Person => form.form_token.clone().unwrap_or_default(),
        Screening::Bot(reason) => {
            // The same answer as a person gets, so a bot learns nothing; nothing is kept.
            tracing::info!(reason, "a bot submission was turned away");
            if let Err(error) = state.db.count_bot(reason).await {
                tracing::error!(%error, "could not count a bot submission");
            }
            return Ok(see_other("/thanks"));
        }
        Screening::Expired => {
            // Backdated by the minimum fill time: the visitor has filled the form already,
            // and sending it straight back must not read as a bot.
            let token = state.form_tokens.issue_filled(now_secs());
            let page = FormPage {
                values: &form,
                errors: &FormErrors::default(),
                notice: Some(
                    "This form was open for a long time, so please check your details and \
                     send it again.",
                ),
                token: &token,
            };
            return Ok(page.respond(StatusCode::OK, &state));
        }
    };
    let signup = match form.parse(&state.form.rules) {
        Ok(signup) => signup,
        Err(errors) => {
            // The same token again: its issue time still tells when the form was served.
            let page = FormPage {
                values: &form,
                errors: &errors,
                notice: None,
                token: &token,
            };
            return Ok(page.respond(StatusCode::UNPROCESSABLE_ENTITY, &state));
        }
    };
    if let Err(TooManyRequests { retry_after_secs }) = state.limiter.check(&request) {
        let notice = format!(
            "We received several signups from your connection in a short time. Please wait \
             {retry_after_secs} seconds and send the form again; your details are still here."
        );
        let page = FormPage {
            values: &form,
            errors: &FormErrors::default(),
            notice: Some(&notice),
            token: &token,
        };
        let mut response = page.respond(StatusCode::TOO_MANY_REQUESTS, &state);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_secs.into());
        return Ok(response);
    }
    if let Some(captcha) = &state.captcha {
        let ip = state.limiter.client_ip(&request).map(|ip| ip.to_string());
        let (status, notice) = match captcha
            .verify(form.captcha_response.as_deref(), ip.as_deref())
            .await
        {
            CaptchaVerdict::Passed => (StatusCode::OK, None),
            CaptchaVerdict::Failed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Please complete the check above the button, then send the form again."),
            ),
            CaptchaVerdict::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "We could not complete the security check just now. Your details were not \
                     sent yet: please try again in a moment; they are still here.",
                ),
            ),
        };
        if let Some(notice) = notice {
            let page = FormPage {
                values: &form,
                errors: &FormErrors::default(),
                notice: Some(notice),
                token: &token,
            };
            return Ok(page.respond(status, &state));
        }
    }
    let key = form.form_id.as_deref().and_then(IdempotencyKey::parse);
    let inserted = state
        .db
        .insert_submission(signup, Source::Form, state.form.consent_text.clone(), key)
        .await
        .map_err(|error| FormPageError::Storage {
            error,
            request_id: request_id(&request),
        })?;
    match inserted {
        Inserted::New(id) => {
            tracing::info!(submission = %id, source = "form", "signup stored and queued");
            state.delivery.wake();
        }
        Inserted::AlreadyStored(id) => {
            tracing::info!(submission = %id, source = "form", "the same form was sent again");
        }
    }
    Ok(see_other("/thanks"))
}

/// What the hidden fields say about who sent the form.
enum Screening {
    Person,
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
    match state
        .form_tokens
        .verify(form.form_token.as_deref(), now_secs())
    {
        TokenVerdict::Valid => Screening::Person,
        TokenVerdict::Expired => Screening::Expired,
        TokenVerdict::TooFast => Screening::Bot("too_fast"),
        TokenVerdict::Forged => Screening::Bot("bad_token"),
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The form page in one of its states.
struct FormPage<'a> {
    values: &'a SignupForm,
    errors: &'a FormErrors,
    notice: Option<&'a str>,
    token: &'a str,
}

impl FormPage<'_> {
    fn respond(&self, status: StatusCode, state: &AppState) -> HttpResponse {
        let view = FormView {
            values: self.values,
            errors: self.errors,
            rules: &state.form.rules,
            consent_text: &state.form.consent_text,
            notice: self.notice,
            form_token: self.token,
            captcha_site_key: state.captcha.as_ref().map(|c| c.site_key()),
        };
        html(status, signup_page(&view))
    }
}

/// What can go wrong with a form post beyond the visitor's own mistakes.
#[derive(Debug, thiserror::Error)]
pub enum FormPageError {
    /// The body is not a form at all (a broken client or a bot).
    #[error("the form could not be read")]
    Malformed,
    /// The submission could not be saved: the visitor must be told, not thanked.
    #[error("the submission could not be stored: {error}")]
    Storage {
        error: StorageError,
        request_id: Option<String>,
    },
}

impl ResponseError for FormPageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Storage { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Malformed => html(
                self.status_code(),
                error_page(
                    "The form could not be read",
                    "Please go back to the form and send it again.",
                    None,
                ),
            ),
            Self::Storage { error, request_id } => {
                tracing::error!(%error, "a submission could not be stored");
                html(
                    self.status_code(),
                    error_page(
                        "Your signup was not saved",
                        "Something went wrong on our side and your details were not saved. \
                         Please go back and send the form again in a moment.",
                        request_id.as_deref(),
                    ),
                )
            }
        }
    }
}
