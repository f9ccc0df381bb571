//! The HTTP server: the listener, the request guards every request passes, and the
//! limits actix enforces itself (body size, connections, timeouts).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use url::Url;

use crate::configuration::Settings;
use crate::origin_check::{TrustedOrigins, check_host, check_origin};
use crate::rate_limit::{ConnectionLimit, InFlightLimit, SubmissionLimiter, limit_per_address};
use crate::request_deadline::{RequestDeadline, enforce_deadline};
use crate::routes::{self, AppState};
use crate::security_headers::{PagePolicy, SecurityHeaders, add_security_headers};
use crate::telemetry;

/// The largest request body accepted. A usual signup is a few hundred bytes; the longest
/// valid one (a 1,000-unit note and a 4 × 127-unit address in a script that takes three
/// UTF-8 bytes a character, each percent-encoded to nine, plus a 2 KiB CAPTCHA token) is
/// about 18 KiB.
const MAX_BODY_BYTES: usize = 32 * 1024;
/// Below the platform's kill timeout (30 s in fly.toml), so connections close cleanly.
const SHUTDOWN_TIMEOUT_SECS: u64 = 25;
/// A client must send its request head within this, or the connection is closed
/// (slow-header attacks).
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle keep-alive connections are closed after this.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Binds the listener and starts serving `state` through the request guards. Returns the
/// server, which runs once awaited, and the port it listens on.
pub(super) fn start(
    settings: &Settings,
    state: web::Data<AppState>,
    limiter: &Arc<SubmissionLimiter>,
) -> anyhow::Result<(Server, u16)> {
    let address = (settings.server.host, settings.server.port);
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {}:{}", address.0, address.1))?;
    let port = listener.local_addr()?.port();
    let security_headers = web::Data::new(security_headers(settings));
    let trusted = web::Data::new(trusted_origins(settings, port));
    let api_origins = settings.server.allowed_origins.clone();
    let deadline = web::Data::new(RequestDeadline(settings.server.request_timeout));
    let (in_flight, connections) = per_address_caps(settings, limiter);
    // MAX_CONNECTIONS is for the whole process; actix counts per worker.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let per_worker = settings.server.max_connections.div_ceil(workers).max(1);
    let server = HttpServer::new(move || {
        let app = App::new()
            .wrap(from_fn(enforce_deadline))
            .wrap(from_fn(limit_per_address))
            .wrap(from_fn(check_origin))
            .wrap(from_fn(check_host))
            .wrap(from_fn(add_security_headers))
            .wrap(from_fn(telemetry::request_log))
            .app_data(state.clone())
            .app_data(security_headers.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES))
            .app_data(trusted.clone())
            .app_data(deadline.clone());
        match &in_flight {
            Some(in_flight) => app.app_data(in_flight.clone()),
            None => app,
        }
        .configure(|cfg| routes::configure(cfg, &api_origins))
    })
    // Before `listen`: a listener takes the callback in force when it is added.
    .on_connect(move |connection, extensions| {
        if let Some(connections) = &connections {
            connections.on_connect(connection, extensions);
        }
    })
    .listen(listener)?
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .workers(workers)
    .max_connections(per_worker)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .run();
    tracing::info!(
        "listening on http://{}:{port} (visitors use {})",
        settings.server.host,
        settings.server.public_url
    );
    Ok((server, port))
}

/// The headers every page carries, its Content-Security-Policy naming the origins the
/// configuration adds (logo, redirect after a signup).
fn security_headers(settings: &Settings) -> SecurityHeaders {
    let branding = &settings.form.branding;
    let origin_of = |url: &Option<url::Url>| url.as_ref().map(|u| u.origin().ascii_serialization());
    SecurityHeaders::new(&PagePolicy {
        frame_ancestors: &settings.server.frame_ancestors,
        https: settings.server.public_url.scheme() == "https",
        captcha: settings.form.captcha.is_some(),
        logo_origin: origin_of(&branding.logo_url),
        redirect_origin: origin_of(&branding.success_redirect_url),
    })
}

/// The hosts and origins requests may name.
fn trusted_origins(settings: &Settings, port: u16) -> TrustedOrigins {
    // The loopback names are this machine's own: answered when listening there, or
    // when PUBLIC_URL itself is on loopback (a container reached as localhost).
    let public_on_loopback = public_url_on_loopback(&settings.server.public_url);
    if !settings.server.host.is_loopback() && public_on_loopback {
        tracing::warn!(
            "PUBLIC_URL is {}: requests for any other host name are refused (421); set \
             PUBLIC_URL to the address visitors use",
            settings.server.public_url
        );
    }
    TrustedOrigins::new(
        &settings.server.public_url,
        &settings.server.allowed_origins,
        (settings.server.host.is_loopback() || public_on_loopback).then_some(port),
    )
}

/// MAX_CONNECTIONS_PER_ADDRESS: behind a proxy every connection is the proxy's, so the
/// cap is on each visitor's requests in flight (the proxy bounds connections); without
/// one, on each peer address's open connections.
fn per_address_caps(
    settings: &Settings,
    limiter: &Arc<SubmissionLimiter>,
) -> (
    Option<web::Data<InFlightLimit>>,
    Option<Arc<ConnectionLimit>>,
) {
    let per_address = settings.server.max_connections_per_address;
    match settings.server.client_ip_header {
        Some(_) => (
            Some(web::Data::new(InFlightLimit::new(
                per_address,
                Arc::clone(limiter),
            ))),
            None,
        ),
        None => (None, Some(Arc::new(ConnectionLimit::new(per_address)))),
    }
}

/// Whether `url` names this machine by a loopback name or address.
fn public_url_on_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
