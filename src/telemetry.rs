//! Structured logs: human-readable lines or JSON (`LOG_FORMAT`), filtered by `RUST_LOG`,
//! and one span per HTTP request carrying a request id that is also sent back in the
//! `x-request-id` header. Logs carry ids, never a visitor's personal data or a secret.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;

/// The request id of the request being served, for error pages and support.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(never_statement_parameters())
            .with(ClientStreamErrorsAsWarnings)
            .init(),
        LogFormat::Pretty => builder
            .finish()
            .with(never_statement_parameters())
            .with(ClientStreamErrorsAsWarnings)
            .init(),
    }
}

/// actix-http logs at ERROR every connection it drops for the client's sake: a request
/// head it cannot parse, a chunked body that lies about its sizes, a client that hangs
/// up mid-request ("stream error: ..."). Anyone can send those, so they are not errors of
/// this service, and an alert on errors must not fire for them: each is written again at
/// WARN, with its message (which names the parse problem, never the request's content),
/// and the ERROR is dropped.
struct ClientStreamErrorsAsWarnings;

impl ClientStreamErrorsAsWarnings {
    fn is_client_stream_error(event: &tracing::Event<'_>) -> Option<String> {
        let metadata = event.metadata();
        if *metadata.level() != tracing::Level::ERROR
            || !metadata.target().starts_with("actix_http::h1")
        {
            return None;
        }
        let mut message = Message(None);
        event.record(&mut message);
        message.0.filter(|text| text.starts_with("stream error"))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientStreamErrorsAsWarnings {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        match Self::is_client_stream_error(event) {
            Some(message) => {
                // Dispatched to the global subscriber this layer belongs to (`init` sets no
                // scoped one, which would drop an event sent from inside another).
                tracing::warn!(target: "actix_http::h1", "{message}");
                false
            }
            None => true,
        }
    }
}

/// The `message` field of an event, as text.
struct Message(Option<String>);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The PostgreSQL client logs every statement with its parameters (visitors' emails
/// among them) at debug level: those events are dropped whatever `RUST_LOG` asks for.
fn never_statement_parameters<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber,
{
    tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.target().starts_with("tokio_postgres")
            && *metadata.level() > tracing::Level::INFO)
    })
}

/// A request id: 64 random bits from the thread's generator, as hex. Random rather than
/// a counter, so that ids tell nobody how busy the service is; from the thread's
/// generator rather than a system call, so that they cost next to nothing.
fn next_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// `path`, with the token of a link in an email (`/preferences/{token}`,
/// `/unsubscribe/{token}`, `/confirm/{token}`) left out.
fn logged_path(path: &str) -> &str {
    for prefix in [
        "/preferences/",
        "/unsubscribe/",
        "/confirm/",
        "/kiosk/pair/",
    ] {
        if path.starts_with(prefix) {
            return prefix;
        }
    }
    path
}

/// Logs each request once, when it is answered, with its method, path (without the query
/// string, which may carry an email or an OAuth code, and without the token of a consent
/// link, with which anyone reading the log could withdraw that person), status and
/// duration.
pub async fn request_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = next_request_id();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method = %request.method(),
        path = %logged_path(request.path()),
    );
    let started = Instant::now();
    let result = next.call(request).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
            if status >= 500 {
                tracing::error!(status, elapsed_ms, "request failed");
            } else {
                tracing::info!(status, elapsed_ms, "request served");
            }
            Ok(response)
        }
        Err(error) => {
            // Outside the handlers only the request deadline ends a request so (408), and a
            // slow client is the client's doing: an error only when the service failed.
            let status = error.as_response_error().status_code().as_u16();
            if status >= 500 {
                tracing::error!(
                    status,
                    elapsed_ms,
                    "request failed before a response was built"
                );
            } else {
                tracing::warn!(
                    status,
                    elapsed_ms,
                    "request refused before a response was built"
                );
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn the_secret_of_a_link_is_never_logged() {
        for (path, logged) in [
            ("/preferences/abc.def", "/preferences/"),
            ("/unsubscribe/abc.def", "/unsubscribe/"),
            ("/confirm/abc.def", "/confirm/"),
            ("/kiosk/pair/0b6f.secret", "/kiosk/pair/"),
            ("/kiosk", "/kiosk"),
            ("/admin/kiosks", "/admin/kiosks"),
        ] {
            assert_eq!(logged_path(path), logged);
        }
    }
}
