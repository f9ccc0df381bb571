//! The answers an admin request gets when it may not proceed, each mapped to its status.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

/// Why an admin request may not proceed, and the answer it gets.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not signed in: the browser is sent to the login form.
    #[error("sign in first")]
    SignIn,
    /// Too many wrong tokens from this address: wait this many seconds.
    #[error("Too many wrong admin tokens. Try again in {0} seconds.")]
    Limited(u64),
    /// `ADMIN_TOKEN` is not set.
    #[error("The admin page is disabled: set ADMIN_TOKEN to enable it.")]
    Disabled,
    /// A browser-sent action without the admin page's CSRF token.
    #[error("This action needs the admin page's form: reload it and try again.")]
    NoFormToken,
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::NoFormToken => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::SignIn => {
                return response
                    .insert_header((header::LOCATION, "/admin/login"))
                    .finish();
            }
            Self::Limited(wait) => {
                response.insert_header((header::RETRY_AFTER, *wait));
            }
            Self::Disabled | Self::NoFormToken => {}
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}
