//! Refuses a cross-site POST: a browser names the page a form came from in `Origin`, and
//! only this service's own pages and the sites in `ALLOWED_ORIGINS` may post here. This
//! stops other sites from submitting signups (or admin actions) through a visitor's
//! browser. Requests without `Origin` (scripts, old browsers) are left to the other checks.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::routes::{AppState, html, page_context};
use crate::templates::visitor_error_page;

/// The origins allowed besides the request's own.
#[derive(Clone, Default)]
pub struct TrustedOrigins {
    /// `PUBLIC_URL`'s origin and `ALLOWED_ORIGINS`.
    pub origins: Vec<String>,
}

pub async fn check_origin(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method && !origin_allowed(&request) {
        tracing::warn!("a cross-site POST was refused");
        // A visitor may meet this after a bad link: answer in their language. Scripts get
        // JSON; the merchant's pages keep a short text.
        let path = request.path();
        let visitor_page = !["/api/", "/admin", "/oauth"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let response = match request.app_data::<web::Data<AppState>>() {
            _ if path.starts_with("/api/") => HttpResponse::Forbidden().json(serde_json::json!({
                "error": "this origin may not post here; add it to ALLOWED_ORIGINS"
            })),
            Some(state) if visitor_page => {
                let context = page_context(state, request.request(), false, "/");
                let page = visitor_error_page(
                    &context,
                    "error-forbidden-title",
                    "error-forbidden-message",
                    None,
                );
                html(StatusCode::FORBIDDEN, page)
            }
            _ => HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("This form can only be sent from its own site."),
        };
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn origin_allowed(request: &ServiceRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    // Same origin: the page was served by this very host.
    let info = request.connection_info();
    if origin == format!("{}://{}", info.scheme(), info.host()) {
        return true;
    }
    request
        .app_data::<web::Data<TrustedOrigins>>()
        .is_some_and(|trusted| trusted.origins.iter().any(|o| o == origin))
}
