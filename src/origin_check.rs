//! Where requests may come from. Every request must name, in `Host`, a host this service
//! is for: `PUBLIC_URL`'s, and the loopback names when it listens on loopback. A page on
//! a name an attacker controls, which resolves to this machine (DNS rebinding), is
//! answered `421` and learns nothing. A POST must also come from one of this service's
//! own pages or a site in `ALLOWED_ORIGINS`: a browser names the page a form came from in
//! `Origin`, compared with `PUBLIC_URL`'s origin, never with the request's own `Host`,
//! which the page that sent it chose. This stops other sites from submitting signups (or
//! admin actions) through a visitor's browser. Requests without `Origin` (scripts, old
//! browsers) are left to the other checks, and so is the one-click unsubscribe a mail
//! client posts (RFC 8058), whose signed token is its proof.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};

/// How a refused post to a visitor page is answered: a page in the visitor's language,
/// which the routes render (they know the merchant's look), so that this layer, which
/// runs before them, needs nothing of theirs. Without it, a short text.
#[derive(Clone, Copy)]
pub struct ForbiddenPage(pub fn(&HttpRequest) -> HttpResponse);

/// The hosts and origins requests may name.
#[derive(Clone, Default)]
pub struct TrustedOrigins {
    /// `PUBLIC_URL`'s origin and `ALLOWED_ORIGINS`, plus this service's loopback origins
    /// when it listens on loopback.
    pub origins: Vec<String>,
    /// Host names (without port, lower-case) the service answers for.
    pub hosts: Vec<String>,
}

impl TrustedOrigins {
    /// `public_url`'s origin and host, the other `allowed` sites' origins, and, when
    /// listening on loopback at `port`, `localhost`, `127.0.0.1` and `[::1]` there.
    pub fn new(public_url: &url::Url, allowed: &[String], loopback_port: Option<u16>) -> Self {
        let mut origins = vec![public_url.origin().ascii_serialization()];
        origins.extend(allowed.iter().cloned());
        let mut hosts: Vec<String> = public_url
            .host_str()
            .map(|host| host.to_ascii_lowercase())
            .into_iter()
            .collect();
        if let Some(port) = loopback_port {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                origins.push(format!("http://{host}:{port}"));
                origins.push(format!("https://{host}:{port}"));
                hosts.push(host.to_owned());
            }
        }
        Self { origins, hosts }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        self.hosts.contains(&name)
    }
}

/// `Host` without its port: `example.com:8080` is `example.com`, `[::1]:80` is `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// The host the client asked for: `Host`, or the authority of an HTTP/2 request. Never
/// `X-Forwarded-Host` or `Forwarded` (which actix's connection info prefers): a page can
/// set those on its own requests, as a browser forbids it to set `Host`.
fn requested_host(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// Answers `421` to a request for a host this service is not for. Health checks are
/// exempt: a platform may probe by address, and they reveal nothing.
pub async fn check_host(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let probe = matches!(request.path(), "/healthz" | "/readyz");
    let allowed = probe
        || request
            .app_data::<web::Data<TrustedOrigins>>()
            .is_none_or(|trusted| trusted.host_allowed(&requested_host(&request)));
    if !allowed {
        tracing::warn!("a request for another host was refused");
        let response = HttpResponse::build(StatusCode::MISDIRECTED_REQUEST)
            .content_type("text/plain; charset=utf-8")
            .body("This service does not answer for that host name.");
        return Ok(request.into_response(response).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

pub async fn check_origin(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method && !one_click_unsubscribe(&request) && !origin_allowed(&request) {
        tracing::warn!("a cross-site POST was refused");
        // A visitor may meet this after a bad link: answer in their language. Scripts get
        // JSON; the merchant's pages keep a short text.
        let path = request.path();
        let visitor_page = !["/api/", "/admin", "/oauth"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let response = match request.app_data::<web::Data<ForbiddenPage>>() {
            _ if path.starts_with("/api/") => HttpResponse::Forbidden().json(serde_json::json!({
                "error": "this origin may not post here; add it to ALLOWED_ORIGINS"
            })),
            Some(page) if visitor_page => (page.0)(request.request()),
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

/// RFC 8058's one-click unsubscribe is posted by the person's mail client, from
/// whatever origin it runs at (a webmail's, or `null`): its signed token, naming one
/// person and doing nothing but withdraw, is what makes it safe, not where it came from.
fn one_click_unsubscribe(request: &ServiceRequest) -> bool {
    request.path().starts_with("/unsubscribe/")
}

fn origin_allowed(request: &ServiceRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    request
        .app_data::<web::Data<TrustedOrigins>>()
        .is_some_and(|trusted| trusted.origins.iter().any(|o| o == origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_host_and_loopback_names_are_answered() {
        let public = url::Url::parse("https://signup.example.com").unwrap();
        let trusted = TrustedOrigins::new(&public, &[], Some(8080));
        for host in [
            "signup.example.com",
            "SIGNUP.example.com:443",
            "localhost:8080",
            "127.0.0.1",
            "[::1]:8080",
        ] {
            assert!(trusted.host_allowed(host), "{host}");
        }
        for host in [
            "rebind.attacker.example",
            "rebind.attacker.example:8080",
            "signup.example.com.evil",
            "[::2]",
        ] {
            assert!(!trusted.host_allowed(host), "{host}");
        }
        let deployed = TrustedOrigins::new(&public, &[], None);
        assert!(!deployed.host_allowed("localhost"));
        assert!(!deployed.origins.iter().any(|o| o.contains("localhost")));
    }
}
