use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::{AppState, request_language};
use crate::captcha::CaptchaVerdict;
use crate::domain::{FormErrors, IdempotencyKey, SignupForm};
use crate::i18n::Language;
use crate::intake::store::{Inserted, NewSubmission, Source};
use crate::rate_limit::TooManyRequests;
use crate::storage::StorageError;

/// CORS for the sites allowed to post from their own pages: a preflight from one of them
/// is answered; from anywhere else it is refused, and the browser sends nothing.
pub fn cors(allowed: &[String]) -> actix_cors::Cors {
    let allowed = allowed.to_vec();
    actix_cors::Cors::default()
        .allowed_origin_fn(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|origin| allowed.iter().any(|a| a == origin))
        })
        .allowed_methods(["POST"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .max_age(3600)
}

/// `POST /api/signups`: the same signup as JSON, for sites that post from their own page.
pub async fn create_signup(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // The limit comes first, for every request, bots included: one over it is answered
    // before anything of it is read, screened, counted or written, so a flood costs
    // next to nothing.
    if let Err(refused) = state.limiter.check(&request) {
        if refused.flooding {
            tokio::time::sleep(crate::rate_limit::FLOOD_DELAY).await;
        }
        return Err(ApiError::TooMany(refused));
    }
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return Err(ApiError::NotJson);
    }
    let form: SignupForm =
        serde_json::from_slice(&body).map_err(|e| ApiError::Malformed(e.to_string()))?;
    if form
        .website
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty())
    {
        // The honeypot, for pages that copy it into their own form: answer as for a
        // person, keep nothing but a count, in memory until the next flush.
        state.bots.count("honeypot");
        let id = crate::domain::random_uuid().to_string();
        return Ok(HttpResponse::Accepted().json(json!({"id": id, "status": "queued"})));
    }
    // Messages in the language the page asks for (`?lang=` or `Accept-Language`).
    let language = request_language(&state, &request);
    let signup = form
        .parse(&state.form.rules)
        .map_err(|errors| ApiError::Invalid(errors, language))?;
    if let Some(captcha) = &state.captcha {
        let ip = state.limiter.client_ip(&request).map(|ip| ip.to_string());
        match captcha
            .verify(form.captcha_response.as_deref(), ip.as_deref())
            .await
        {
            CaptchaVerdict::Passed => {}
            CaptchaVerdict::Failed => return Err(ApiError::Captcha),
            CaptchaVerdict::Unavailable => return Err(ApiError::CaptchaUnavailable),
        }
    }
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .and_then(IdempotencyKey::parse);
    let consent_text = state
        .form
        .consent_text
        .clone()
        .unwrap_or_else(|| language.text("consent-default"));
    // A reused key with other content is stored on its own, as the API has always done
    // (a corrected resend, or another client's key): only a served form is one signup.
    let retry = key
        .is_some()
        .then(|| (signup.clone(), consent_text.clone()));
    let submissions = state.db.submissions();
    let mut inserted = submissions
        .insert(NewSubmission {
            signup,
            source: Source::Api,
            consent_text,
            key,
        })
        .await
        .map_err(ApiError::Storage)?;
    if let (Inserted::KeyTaken(_), Some((signup, consent_text))) = (&inserted, retry) {
        inserted = submissions
            .insert(NewSubmission {
                signup,
                source: Source::Api,
                consent_text,
                key: None,
            })
            .await
            .map_err(ApiError::Storage)?;
    }
    if let Inserted::New(id) = &inserted {
        tracing::info!(submission = %id, source = "api", "signup stored and queued");
        state.delivery.wake();
    }
    Ok(HttpResponse::Accepted().json(json!({"id": inserted.id(), "status": "queued"})))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("expected Content-Type: application/json")]
    NotJson,
    #[error("the body is not valid JSON for a signup: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(FormErrors, Language),
    #[error("the CAPTCHA answer (cf-turnstile-response) is missing or wrong")]
    Captcha,
    #[error("the CAPTCHA could not be verified just now; try again")]
    CaptchaUnavailable,
    #[error("too many signups from this address")]
    TooMany(TooManyRequests),
    #[error("the submission could not be stored")]
    Storage(StorageError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Invalid(..) | Self::Captcha => StatusCode::UNPROCESSABLE_ENTITY,
            Self::CaptchaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Invalid(errors, language) => {
                response.json(json!({"errors": errors.to_map(*language)}))
            }
            Self::TooMany(limit) if limit.flooding => response
                .insert_header((header::RETRY_AFTER, limit.retry_after_secs))
                // Still sending after several refusals: close, so a flood costs little.
                .force_close()
                .json(json!({
                    "error": self.to_string(),
                    "retry_after": limit.retry_after_secs,
                })),
            Self::TooMany(limit) => response
                .insert_header((header::RETRY_AFTER, limit.retry_after_secs))
                .json(json!({
                    "error": self.to_string(),
                    "retry_after": limit.retry_after_secs,
                })),
            Self::Storage(error) => {
                tracing::error!(%error, "a submission could not be stored");
                response.json(json!({"error": "the submission could not be stored; try again"}))
            }
            Self::Captcha => response.json(json!({"errors": {"captcha": [self.to_string()]}})),
            Self::NotJson | Self::Malformed(_) | Self::CaptchaUnavailable => {
                response.json(json!({"error": self.to_string()}))
            }
        }
    }
}
