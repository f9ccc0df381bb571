//! Headers on every response that tell browsers to refuse what this service never does:
//! run inline or foreign scripts, be framed by strangers, sniff content types, leak full
//! URLs to other sites, or use the camera. Values follow OWASP's HTTP headers cheat sheet.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::captcha::TURNSTILE_ORIGIN;

/// The headers, computed once from the configuration.
#[derive(Clone)]
pub struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// `frame_ancestors`: who may embed the pages (`FRAME_ANCESTORS`), `'none'` by default.
    /// `https`: whether visitors use https (`PUBLIC_URL`), which turns on HSTS.
    /// `captcha`: the Turnstile widget is on, so its script and frame are allowed.
    pub fn new(frame_ancestors: &str, https: bool, captcha: bool) -> Self {
        let (scripts, frames) = if captcha {
            (
                format!("'self' {TURNSTILE_ORIGIN}"),
                format!("frame-src {TURNSTILE_ORIGIN}; "),
            )
        } else {
            ("'self'".to_owned(), String::new())
        };
        let csp = format!(
            "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
             {frames}object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors {frame_ancestors}"
        );
        let mut headers = vec![
            ("content-security-policy", csp),
            ("x-content-type-options", "nosniff".to_owned()),
            (
                "referrer-policy",
                "strict-origin-when-cross-origin".to_owned(),
            ),
            (
                "permissions-policy",
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
                 interest-cohort=()"
                    .to_owned(),
            ),
            ("cross-origin-opener-policy", "same-origin".to_owned()),
        ];
        if frame_ancestors == "'none'" {
            // For browsers that predate frame-ancestors.
            headers.push(("x-frame-options", "DENY".to_owned()));
        }
        if https {
            headers.push(("strict-transport-security", "max-age=63072000".to_owned()));
        }
        Self {
            headers: headers
                .into_iter()
                .map(|(name, value)| {
                    (
                        HeaderName::from_static(name),
                        HeaderValue::from_str(&value).expect("header values are plain ASCII"),
                    )
                })
                .collect(),
        }
    }
}

pub async fn add_security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let headers = request
        .app_data::<web::Data<SecurityHeaders>>()
        .map(|h| h.headers.clone())
        .unwrap_or_default();
    let mut response = next.call(request).await?;
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}
