//! Headers on every response that tell browsers to refuse what this service never does:
//! run inline or foreign scripts, be framed by strangers, sniff content types, leak full
//! URLs to other sites, or use the camera. Values follow OWASP's HTTP headers cheat sheet.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use crate::captcha::TURNSTILE_ORIGIN;

/// What the pages may load, post to and be framed by, from the configuration.
#[derive(Debug, Clone)]
pub struct PagePolicy<'a> {
    /// Who may embed the visitor pages (`FRAME_ANCESTORS`), `'none'` by default.
    pub frame_ancestors: &'a str,
    /// Whether visitors use https (`PUBLIC_URL`), which turns on HSTS.
    pub https: bool,
    /// The Turnstile widget is on, so its script and frame are allowed.
    pub captcha: bool,
    /// The origin of `LOGO_URL`, whose image the pages show.
    pub logo_origin: Option<String>,
    /// The origin of `SUCCESS_REDIRECT_URL`: a form post ends with a redirect there, which
    /// `form-action` must allow.
    pub redirect_origin: Option<String>,
}

/// The headers, computed once from the configuration: one set for the form's pages, which
/// the merchant may frame, and one for everything else, which nobody may.
#[derive(Clone)]
pub struct SecurityHeaders {
    visitor: Vec<(HeaderName, HeaderValue)>,
    merchant: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    pub fn new(policy: &PagePolicy<'_>) -> Self {
        Self {
            visitor: header_set(policy),
            merchant: header_set(&PagePolicy {
                frame_ancestors: "'none'",
                ..policy.clone()
            }),
        }
    }
}

/// The routes a merchant may show in a frame (`FRAME_ANCESTORS`): the form and its thanks
/// page. Everything else, the admin and OAuth pages above all, is never framed, so never
/// clickjacked. Decided by the route that answered, not the raw path, which may be
/// percent-encoded (`/%61dmin` is served by `/admin`).
const FRAMEABLE_ROUTES: [&str; 4] = ["/", "/thanks", "/embed", "/embed/thanks"];

fn header_set(policy: &PagePolicy<'_>) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        ("content-security-policy", content_security_policy(policy)),
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
    if policy.frame_ancestors == "'none'" {
        // For browsers that predate frame-ancestors.
        headers.push(("x-frame-options", "DENY".to_owned()));
    }
    if policy.https {
        headers.push(("strict-transport-security", "max-age=63072000".to_owned()));
    }
    headers
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).expect("header values are plain ASCII"),
            )
        })
        .collect()
}

/// Only this service's own scripts and styles; Cloudflare's for the CAPTCHA, the logo's
/// host for images and the redirect's for the form, when configured.
fn content_security_policy(policy: &PagePolicy<'_>) -> String {
    let (scripts, frames) = if policy.captcha {
        (
            format!("'self' {TURNSTILE_ORIGIN}"),
            format!("frame-src {TURNSTILE_ORIGIN}; "),
        )
    } else {
        ("'self'".to_owned(), String::new())
    };
    let images = match &policy.logo_origin {
        Some(origin) => format!("'self' data: {origin}"),
        None => "'self' data:".to_owned(),
    };
    let form_targets = match &policy.redirect_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let frame_ancestors = policy.frame_ancestors;
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src {images}; \
         {frames}object-src 'none'; base-uri 'none'; form-action {form_targets}; \
         frame-ancestors {frame_ancestors}"
    )
}

pub async fn add_security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let headers = request.app_data::<web::Data<SecurityHeaders>>().cloned();
    let mut response = next.call(request).await?;
    let frameable = response
        .request()
        .match_pattern()
        .is_some_and(|route| FRAMEABLE_ROUTES.contains(&route.as_str()));
    if let Some(headers) = headers {
        let set = if frameable {
            &headers.visitor
        } else {
            &headers.merchant
        };
        for (name, value) in set {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(response)
}
