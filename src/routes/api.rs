//! The JSON API: the same signup for sites that post from their own page. It reads the
//! body, hands it to the intake, and words the outcome as JSON.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::wire::SignupBody;
use super::{AppState, intake, request_language};
use crate::domain::{FormErrors, IdempotencyKey};
use crate::i18n::Language;
use crate::intake::{Channel, Outcome};
use crate::rate_limit::TooManyRequests;
use crate::storage::StorageError;
use crate::templates::error_map;

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
    let intake = intake(&state);
    let client_ip = state.limiter.client_ip(&request);
    // The limit comes first, for every request, bots included: one over it is answered
    // before anything of it is read, screened, counted or written, so a flood costs
    // next to nothing.
    intake.admit(client_ip).await.map_err(ApiError::TooMany)?;
    if !is_json(&request) {
        return Err(ApiError::NotJson);
    }
    let body: SignupBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::Malformed(e.to_string()))?;
    // Messages in the language the page asks for (`?lang=` or `Accept-Language`).
    let language = request_language(&state, &request);
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .and_then(IdempotencyKey::parse);
    let submission = body.submission(Channel::Api { key }, &request, client_ip, language);
    let id = match intake.take(submission).await.map_err(ApiError::Storage)? {
        Outcome::Stored(id) => id.to_string(),
        // The same answer as for a person, with an id that names nothing.
        Outcome::Bot(_) => crate::domain::random_uuid().to_string(),
        Outcome::Invalid(errors) => return Err(ApiError::Invalid(errors, language)),
        Outcome::TooMany(refused) => return Err(ApiError::TooMany(refused)),
        Outcome::CaptchaFailed => return Err(ApiError::Captcha),
        Outcome::CaptchaUnavailable => return Err(ApiError::CaptchaUnavailable),
        // Only a served form expires or is used up, and the API has none: these do not
        // happen here, and would be a request that is not a signup of the API's.
        Outcome::Expired(_) | Outcome::FormUsed => {
            return Err(ApiError::Malformed("not a signup of this API".into()));
        }
    };
    Ok(HttpResponse::Accepted().json(json!({"id": id, "status": "queued"})))
}

/// Whether the body is declared as JSON, with or without parameters.
fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
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
            Self::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Invalid(errors, language) => {
                response.json(json!({"errors": error_map(errors, *language)}))
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
            Self::Storage(_) => response
                .insert_header((header::RETRY_AFTER, super::signup::NOT_SAVED_RETRY_SECONDS))
                .json(json!({
                    "error": "the submission could not be stored; send it again in a moment",
                    "reason": "database_unavailable",
                    "retry_after": super::signup::NOT_SAVED_RETRY_SECONDS,
                })),
            Self::Captcha => response.json(json!({"errors": {"captcha": [self.to_string()]}})),
            Self::NotJson | Self::Malformed(_) | Self::CaptchaUnavailable => {
                response.json(json!({"error": self.to_string()}))
            }
        }
    }
}
