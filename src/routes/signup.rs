use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::{AppState, html, request_id, see_other};
use crate::domain::{FormErrors, IdempotencyKey, SignupForm};
use crate::rate_limit::TooManyRequests;
use crate::storage::{Inserted, Source, StorageError};
use crate::templates::{FormView, error_page, signup_page, thanks_page};

pub async fn show_form(state: web::Data<AppState>) -> HttpResponse {
    form_response(
        StatusCode::OK,
        &state,
        &SignupForm::default(),
        &FormErrors::default(),
        None,
    )
}

pub async fn thanks() -> HttpResponse {
    html(StatusCode::OK, thanks_page())
}

/// `POST /`: parse, then store durably, then redirect. Clover is never called here: the
/// visitor waits only for the local commit.
pub async fn submit_form(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FormPageError> {
    let form: SignupForm =
        serde_urlencoded::from_bytes(&body).map_err(|_| FormPageError::Malformed)?;
    let signup = match form.parse(&state.form.rules) {
        Ok(signup) => signup,
        Err(errors) => {
            return Ok(form_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &state,
                &form,
                &errors,
                None,
            ));
        }
    };
    if let Err(TooManyRequests { retry_after_secs }) = state.limiter.check(&request) {
        let notice = format!(
            "We received several signups from your connection in a short time. Please wait \
             {retry_after_secs} seconds and send the form again; your details are still here."
        );
        let mut response = form_response(
            StatusCode::TOO_MANY_REQUESTS,
            &state,
            &form,
            &FormErrors::default(),
            Some(&notice),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_secs.into());
        return Ok(response);
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

fn form_response(
    status: StatusCode,
    state: &AppState,
    values: &SignupForm,
    errors: &FormErrors,
    notice: Option<&str>,
) -> HttpResponse {
    let view = FormView {
        values,
        errors,
        rules: &state.form.rules,
        consent_text: &state.form.consent_text,
        notice,
    };
    html(status, signup_page(&view))
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
